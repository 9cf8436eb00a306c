//! Outcome events as stored bytes, built on the webhook actor's hot path.
//!
//! `DeliveryAttempted` (one per attempt) and every outcome's metadata are serialised here
//! straight from borrowed parts, with ids written as text without `Display` formatting or
//! owned copies. The bytes are exactly those of `DomainEvent::to_json` and of the
//! `EventMetadata` serialisation (the stored JSON is a contract, DESIGN.md; the tests below
//! hold them equal). Rarer events go through `DomainEvent` as before.

use chrono::{DateTime, Utc};
use packhooks_domain::delivery::{AttemptOutcome, DeliverySource};
use packhooks_domain::{DeliveryId, DomainEvent, EventMetadata, WebhookId};
use packhooks_store::EventData;
use serde::Serialize;
use uuid::Uuid;

/// A minted id's text (`dlv_` + 32 hex digits, …) on the stack, as its `Display` writes it.
pub struct IdText {
    buf: [u8; 40],
    len: usize,
}

impl IdText {
    pub fn new(prefix: &str, uuid: Uuid) -> Self {
        let mut buf = [0u8; 40];
        let len = prefix.len() + uuid::fmt::Simple::LENGTH;
        assert!(len <= buf.len(), "id prefixes are short");
        buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
        uuid.simple().encode_lower(&mut buf[prefix.len()..len]);
        IdText { buf, len }
    }

    pub fn webhook(id: WebhookId) -> Self {
        Self::new(WebhookId::PREFIX, id.uuid())
    }

    pub fn delivery(id: DeliveryId) -> Self {
        Self::new(DeliveryId::PREFIX, id.uuid())
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).expect("a prefix and hex digits are ASCII")
    }
}

/// `DeliveryAttempted`, field for field (same names, same order, same types on the wire).
#[derive(Serialize)]
pub struct Attempted<'a> {
    pub webhook_id: &'a str,
    pub delivery_id: &'a str,
    pub source: &'a DeliverySource,
    pub attempt: u32,
    pub outcome: &'a AttemptOutcome,
    pub latency_ms: u64,
    pub response_body: Option<&'a str>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub recorded_at: DateTime<Utc>,
}

/// `EventMetadata` of an outcome: correlated with the message, caused by the delivery.
#[derive(Serialize)]
struct Metadata<'a> {
    correlation_id: Option<&'a str>,
    causation_id: Option<&'a str>,
}

/// The metadata bytes of an outcome of `delivery` for `source`.
fn metadata(source: &DeliverySource, delivery: &IdText) -> Vec<u8> {
    let metadata = Metadata { correlation_id: Some(&source.message_id), causation_id: Some(delivery.as_str()) };
    let mut out = Vec::with_capacity(96);
    serde_json::to_writer(&mut out, &metadata).expect("metadata serialises");
    out
}

/// A random event id from the thread's generator (no system call per event).
fn event_id() -> Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// The stored form of one attempt's `DeliveryAttempted`.
pub fn attempted(event: &Attempted<'_>, delivery: &IdText) -> EventData {
    let mut data = Vec::with_capacity(512 + event.response_body.map_or(0, str::len));
    serde_json::to_writer(&mut data, event).expect("an attempt serialises");
    EventData::json(event_id(), "DeliveryAttempted", data, metadata(event.source, delivery))
}

/// The stored form of any other outcome event of `delivery` for `source`.
pub fn other(event: &DomainEvent, source: &DeliverySource, delivery: &IdText) -> EventData {
    EventData::json(event_id(), event.event_type(), event.to_json(), metadata(source, delivery))
}

/// The stored form of an event with the given metadata (checkpoints, auto-disable).
pub fn with_metadata(event: &DomainEvent, metadata: &EventMetadata) -> EventData {
    EventData::json(
        event_id(),
        event.event_type(),
        event.to_json(),
        serde_json::to_vec(metadata).expect("metadata serialises"),
    )
}

#[cfg(test)]
mod tests {
    use packhooks_domain::delivery::{DeliveryAttempted, FailureCode};

    use super::*;

    fn source() -> DeliverySource {
        DeliverySource {
            stream: "pack-pk_\"42\"".into(),
            revision: 7,
            position: "12/11".parse().expect("a position"),
            message_id: "msg_0190f2a46b1c7d3e8f0000000000000b".into(),
            test: false,
        }
    }

    fn check(outcome: AttemptOutcome, response_body: Option<&str>, next_attempt_at: Option<DateTime<Utc>>) {
        let webhook = WebhookId::from_uuid(Uuid::from_u128(0x0190_f2a4_6b1c_7d3e_8f00_0000_0000_000b));
        let delivery = DeliveryId::for_message(webhook, Uuid::from_u128(42));
        let source = source();
        let recorded_at = Utc::now();
        let expected = DomainEvent::DeliveryAttempted(DeliveryAttempted {
            webhook_id: webhook,
            delivery_id: delivery,
            source: source.clone(),
            attempt: 2,
            outcome: outcome.clone(),
            latency_ms: 13,
            response_body: response_body.map(str::to_owned),
            next_attempt_at,
            recorded_at,
        });
        let (webhook_text, delivery_text) = (IdText::webhook(webhook), IdText::delivery(delivery));
        let got = attempted(
            &Attempted {
                webhook_id: webhook_text.as_str(),
                delivery_id: delivery_text.as_str(),
                source: &source,
                attempt: 2,
                outcome: &outcome,
                latency_ms: 13,
                response_body,
                next_attempt_at,
                recorded_at,
            },
            &delivery_text,
        );
        assert_eq!(got.event_type, expected.event_type());
        assert_eq!(std::str::from_utf8(&got.data), std::str::from_utf8(&expected.to_json()));
        let metadata =
            EventMetadata { correlation_id: Some(source.message_id.clone()), causation_id: Some(delivery.to_string()) };
        assert_eq!(got.metadata, serde_json::to_vec(&metadata).expect("metadata"));
        assert_eq!(DomainEvent::decode(&got.event_type, &got.data).expect("decodes"), expected);
    }

    #[test]
    fn an_attempt_is_stored_byte_for_byte_as_the_domain_event_serialises() {
        check(AttemptOutcome::Success { status: 200 }, None, None);
        check(AttemptOutcome::Success { status: 204 }, Some("ok \"quoted\" ünïcode\n"), None);
        check(
            AttemptOutcome::Failure {
                code: FailureCode::Status,
                status: Some(503),
                detail: "endpoint answered 503".into(),
            },
            Some("busy"),
            Some(Utc::now() + chrono::Duration::milliseconds(1500)),
        );
        check(
            AttemptOutcome::Failure {
                code: FailureCode::Connect,
                status: None,
                detail: "refused: os error 111".into(),
            },
            None,
            Some(Utc::now()),
        );
    }

    #[test]
    fn ids_are_written_as_their_display() {
        let webhook = WebhookId::from_uuid(Uuid::new_v4());
        let delivery = DeliveryId::for_message(webhook, Uuid::new_v4());
        assert_eq!(IdText::webhook(webhook).as_str(), webhook.to_string());
        assert_eq!(IdText::delivery(delivery).as_str(), delivery.to_string());
    }
}
