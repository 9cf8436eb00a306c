//! Every event packhooks stores, and how each maps to a stored event type and JSON body.
//!
//! The stored event type is the variant's name (`CandidateInterested`, …) and the body is
//! the inner struct as JSON, so the log reads well to auditors and to other tools.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::account::AccountPlanChanged;
use crate::delivery::{
    DeliveryAbandoned, DeliveryAttempted, DeliveryCheckpoint, WebhookFlaggedFailing, WebhookRecovered,
};
use crate::submission::{CandidateDeclined, CandidateInterested};
use crate::webhook::{
    TestEventRequested, WebhookCreated, WebhookDeleted, WebhookDisabled, WebhookEnabled, WebhookSecretRotated,
    WebhookUpdated,
};

/// Metadata every event carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// The submission or command this event belongs to.
    pub correlation_id: Option<String>,
    /// The event or command that caused this one.
    pub causation_id: Option<String>,
}

impl EventMetadata {
    pub fn correlated(id: impl ToString) -> Self {
        let id = id.to_string();
        EventMetadata { correlation_id: Some(id.clone()), causation_id: Some(id) }
    }
}

/// The metadata of the events a command appended: the usual ids, the hash of a keyed request,
/// and who issued the command. Serialised with the usual ids first and absent fields left
/// out, so an event written without a key or an issuer has exactly [`EventMetadata`]'s bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandMetadata {
    #[serde(flatten)]
    pub base: EventMetadata,
    /// `sha256:<hex>` of a request with an `Idempotency-Key`: a key met again with another
    /// hash names another request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_hash: Option<String>,
    /// Who issued the command. Absent on events written before tokens were recorded and on
    /// those packhooks writes itself (an automatic disable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_by: Option<Issuer>,
}

impl CommandMetadata {
    /// The metadata of a stored event, as far as it is a command's; `None` for metadata that
    /// is not a JSON object.
    pub fn read(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("metadata always serialises")
    }
}

/// The API token that issued a command: the role it acted in and the token's name from the
/// settings when it has one. Never the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Issuer {
    /// `frontend`, `auditor` or `ops`.
    pub role: String,
    /// The token's `name` in the settings; absent for an unnamed token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Why a stored event could not be read as a [`DomainEvent`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("malformed {event_type} body")]
    Malformed {
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
}

macro_rules! domain_events {
    ($($variant:ident),* $(,)?) => {
        /// Every event of the domain.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum DomainEvent {
            $($variant($variant),)*
        }

        impl DomainEvent {
            /// All stored event type names.
            pub const TYPES: &'static [&'static str] = &[$(stringify!($variant),)*];

            /// The stored event type name.
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(DomainEvent::$variant(_) => stringify!($variant),)*
                }
            }

            /// The JSON body.
            pub fn to_json(&self) -> Vec<u8> {
                // Sized for a typical submission (~400 bytes): growing from serde_json's
                // 128 bytes cost two reallocations per event on the hot path.
                let mut body = Vec::with_capacity(512);
                let written = match self {
                    $(DomainEvent::$variant(e) => serde_json::to_writer(&mut body, e),)*
                };
                written.expect("domain events always serialise");
                body
            }

            /// Reads a stored event back.
            pub fn decode(event_type: &str, data: &[u8]) -> Result<Self, DecodeError> {
                match event_type {
                    $(stringify!($variant) => serde_json::from_slice(data)
                        .map(DomainEvent::$variant)
                        .map_err(|source| DecodeError::Malformed { event_type: event_type.to_owned(), source }),)*
                    other => Err(DecodeError::UnknownType(other.to_owned())),
                }
            }
        }

        $(
            impl From<$variant> for DomainEvent {
                fn from(e: $variant) -> Self {
                    DomainEvent::$variant(e)
                }
            }
        )*
    };
}

domain_events!(
    AccountPlanChanged,
    WebhookCreated,
    WebhookUpdated,
    WebhookSecretRotated,
    WebhookDisabled,
    WebhookEnabled,
    WebhookDeleted,
    TestEventRequested,
    CandidateInterested,
    CandidateDeclined,
    DeliveryAttempted,
    DeliveryAbandoned,
    WebhookFlaggedFailing,
    WebhookRecovered,
    DeliveryCheckpoint,
);

impl DomainEvent {
    /// When the event happened: `recorded_at`, or `submitted_at` for a submission.
    pub fn recorded_at(&self) -> DateTime<Utc> {
        match self {
            DomainEvent::AccountPlanChanged(e) => e.recorded_at,
            DomainEvent::WebhookCreated(e) => e.recorded_at,
            DomainEvent::WebhookUpdated(e) => e.recorded_at,
            DomainEvent::WebhookSecretRotated(e) => e.recorded_at,
            DomainEvent::WebhookDisabled(e) => e.recorded_at,
            DomainEvent::WebhookEnabled(e) => e.recorded_at,
            DomainEvent::WebhookDeleted(e) => e.recorded_at,
            DomainEvent::TestEventRequested(e) => e.recorded_at,
            DomainEvent::CandidateInterested(e) => e.submitted_at,
            DomainEvent::CandidateDeclined(e) => e.submitted_at,
            DomainEvent::DeliveryAttempted(e) => e.recorded_at,
            DomainEvent::DeliveryAbandoned(e) => e.recorded_at,
            DomainEvent::WebhookFlaggedFailing(e) => e.recorded_at,
            DomainEvent::WebhookRecovered(e) => e.recorded_at,
            DomainEvent::DeliveryCheckpoint(e) => e.recorded_at,
        }
    }

    /// The JSON body with secrets replaced, for audit views and exports.
    pub fn to_redacted_json(&self) -> serde_json::Value {
        let mut value: serde_json::Value =
            serde_json::from_slice(&self.to_json()).expect("domain events always serialise");
        if let Some(secret) = value.get_mut("secret") {
            *secret = serde_json::Value::String("whsec_[redacted]".into());
        }
        value
    }
}

/// An event with the id it will be stored under and its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// Derived from the command's idempotency key when there is one, so a retried command
    /// produces the same id and the store appends it once.
    pub id: Uuid,
    pub event: DomainEvent,
    pub metadata: EventMetadata,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Plan;
    use crate::testkit::fixtures::{created, plan_changed, secret, t, wh};
    use crate::webhook::EventType;

    #[test]
    fn events_round_trip_through_their_stored_type_and_body() {
        let rotated: DomainEvent = WebhookSecretRotated {
            webhook_id: wh(1),
            secret: secret(2),
            secret_version: 2,
            previous_valid_until: t(60),
            recorded_at: t(1),
        }
        .into();
        for event in
            [plan_changed("acc_7", Plan::Growth, None, 0), created(wh(1), "acc_7", &[EventType::Declined], 0), rotated]
        {
            let back = DomainEvent::decode(event.event_type(), &event.to_json()).expect("decodes");
            assert_eq!(back, event);
        }
        assert!(matches!(DomainEvent::decode("Nope", b"{}"), Err(DecodeError::UnknownType(_))));
        assert!(matches!(DomainEvent::decode("WebhookCreated", b"{}"), Err(DecodeError::Malformed { .. })));
    }

    #[test]
    fn redaction_hides_the_secret_and_recorded_at_reads_every_kind() {
        let event = created(wh(1), "acc_7", &[EventType::Interested], 5);
        let redacted = event.to_redacted_json();
        assert_eq!(redacted["secret"], "whsec_[redacted]");
        assert!(!redacted.to_string().contains(secret(1).expose()));
        assert_eq!(event.recorded_at(), t(5));
    }
}
