//! What a routed event becomes on the wire: its message id and the body, built once per
//! delivery and shared by every webhook it goes to (and rebuilt, byte for byte the same,
//! from the stored event after a restart). The standard bytes are built once; a chat
//! webhook's message is rendered from the same payload when it is sent ([`Body::for_format`]).

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use packhooks_domain::chat;
use packhooks_domain::delivery::DeliverySource;
use packhooks_domain::payload::{message_id, WebhookMessage};
use packhooks_domain::webhook::WebhookFormat;
use packhooks_domain::DomainEvent;
use packhooks_store::{Direction, EventStore, Position, RecordedEvent, StreamPosition};
use uuid::Uuid;

use crate::DeliveryError;

/// A deliverable event, ready to send.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// The submission's or test event's UUID; the delivery id and `webhook-id` derive from it.
    pub message: Uuid,
    /// Shared by every webhook the event goes to, and by each one's outcome events.
    pub source: Arc<DeliverySource>,
    pub body: Body,
    /// When the store committed the event (for the first-attempt delay metric).
    pub committed_at: DateTime<Utc>,
}

/// A message's body in every format.
#[derive(Clone, Debug)]
pub struct Body {
    message: Arc<WebhookMessage>,
    /// The standard body, serialised once: most webhooks are sent these bytes.
    standard: Bytes,
}

impl Body {
    pub fn new(message: WebhookMessage) -> Self {
        let standard = Bytes::from(message.to_bytes());
        Body { message: Arc::new(message), standard }
    }

    /// The bytes a webhook of `format` is sent: the same on every attempt.
    pub fn for_format(&self, format: WebhookFormat) -> Bytes {
        match format {
            WebhookFormat::Standard => self.standard.clone(),
            chat_format => Bytes::from(chat::render(chat_format, &self.message)),
        }
    }
}

impl Outgoing {
    /// The message for a submission or test event; `None` for anything else.
    pub fn of(recorded: &RecordedEvent, event: &DomainEvent) -> Option<Self> {
        let (message, body, test) = match event {
            DomainEvent::CandidateInterested(e) => (e.submission_id.uuid(), WebhookMessage::interested(e), false),
            DomainEvent::CandidateDeclined(e) => (e.submission_id.uuid(), WebhookMessage::declined(e), false),
            DomainEvent::TestEventRequested(e) => (e.test_id.uuid(), WebhookMessage::test(e), true),
            _ => return None,
        };
        Some(Outgoing {
            message,
            source: Arc::new(DeliverySource {
                stream: recorded.stream.clone(),
                revision: recorded.revision,
                position: recorded.position,
                message_id: message_id(message),
                test,
            }),
            body: Body::new(body),
            committed_at: recorded.created,
        })
    }

    pub fn position(&self) -> Position {
        self.source.position
    }
}

/// Reads a delivery's source event back from the store and rebuilds its body.
pub async fn load_body(store: &dyn EventStore, source: &DeliverySource) -> Result<Body, DeliveryError> {
    let found =
        store.read_stream(&source.stream, StreamPosition::Revision(source.revision), Direction::Forwards, 1).await?;
    let not_deliverable = |event_type: &str| DeliveryError::NotDeliverable {
        stream: source.stream.clone(),
        revision: source.revision,
        event_type: event_type.to_owned(),
    };
    let recorded = found.into_iter().next().ok_or_else(|| not_deliverable("missing"))?;
    let event = DomainEvent::decode(&recorded.event_type, &recorded.data).map_err(|e| DeliveryError::Decode {
        stream: source.stream.clone(),
        revision: source.revision,
        source: e,
    })?;
    Outgoing::of(&recorded, &event).map(|o| o.body).ok_or_else(|| not_deliverable(&recorded.event_type))
}
