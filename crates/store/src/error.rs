//! The store's one error type; each backend maps its own failures into it.

use std::path::PathBuf;

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
    /// The stream was tombstoned: no reads, no appends, ever again. (Also a delete that
    /// expected a soft-deleted stream to exist, as EventStoreDB answers it.)
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
    /// Another store already writes to this SQLite file: one writer per file, enforced by
    /// an OS lock on `<file>.lock`. `pid` is what the holder wrote into the lock file, when
    /// it could be read (informative only).
    #[error(
        "cannot write to the event store {}: another process{} is writing to it (one writer per store)",
        .path.display(),
        .pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Locked { path: PathBuf, pid: Option<u32> },
    /// The store was opened read-only; `operation` (an append, a delete, a live
    /// subscription) needs the writer.
    #[error("the event store {} is open read-only: {operation} needs the writer", .path.display())]
    ReadOnly { path: PathBuf, operation: &'static str },
    /// A read-only open found no event store at this path (and created none).
    #[error("no event store at {}", .path.display())]
    NoStore { path: PathBuf },
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Anything else a backend reports, with its cause kept.
    #[error("event store backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// True when retrying the same call later may succeed (a busy or locked SQLite file
    /// included; a corrupt one or a missing table is not).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) | StoreError::FellBehind => true,
            StoreError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            _ => false,
        }
    }
}
