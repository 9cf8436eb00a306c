//! The delivery crate's one error type.

use packhooks_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("event store")]
    Store(#[from] StoreError),
    #[error("stored event {stream}@{revision} could not be decoded")]
    Decode {
        stream: String,
        revision: u64,
        #[source]
        source: packhooks_domain::events::DecodeError,
    },
    #[error("stored event {stream}@{revision} is not a deliverable event ({event_type})")]
    NotDeliverable { stream: String, revision: u64, event_type: String },
    #[error("the delivery actors are gone")]
    Stopped(#[from] actix::MailboxError),
    #[error("timed out waiting for delivery to {0}")]
    Timeout(&'static str),
}

impl DeliveryError {
    /// Whether trying the same thing again later may work (the store was unreachable or
    /// busy: [`StoreError::is_retryable`]), as opposed to a missing or undecodable event.
    pub fn is_transient(&self) -> bool {
        match self {
            DeliveryError::Store(e) => e.is_retryable(),
            DeliveryError::Timeout(_) => true,
            _ => false,
        }
    }
}
