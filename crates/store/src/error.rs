//! The store's one error type; each backend maps its own failures into it.

use crate::{ExpectedRevision, StreamState};

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream's state did not match the append's expectation.
    #[error("wrong expected version on stream {stream}: expected {expected}, actual {actual}")]
    WrongExpectedVersion { stream: String, expected: ExpectedRevision, actual: StreamState },
    /// The stream does not exist (never written, or soft-deleted).
    #[error("stream {0} not found")]
    StreamNotFound(String),
    /// The stream was tombstoned: no reads, no appends, ever again.
    #[error("stream {0} is deleted for good (tombstoned)")]
    StreamDeleted(String),
    /// A stream name or argument the store cannot accept.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The backend cannot be reached right now; the caller may retry.
    #[error("event store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store is closed (shutting down).
    #[error("event store is closed")]
    Closed,
    /// A subscriber fell too far behind live events and was dropped; resubscribe from the
    /// last position seen.
    #[error("subscription fell behind the live feed")]
    FellBehind,
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Anything else a backend reports, with its cause kept.
    #[error("event store backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// True when retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::FellBehind)
    }
}
