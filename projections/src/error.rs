//! The projections crate's one error type.

use packhooks_store::StoreError;

/// Everything the runner, a rebuild, a read or an audit view can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The read-model database failed.
    #[error("read-model database")]
    Sqlite(#[from] rusqlite::Error),
    /// The event store failed.
    #[error("event store")]
    Store(#[from] StoreError),
    /// No projection has this name.
    #[error("unknown projection {0:?} (the projections are {names})", names = crate::NAMES.join(", "))]
    UnknownProjection(String),
    /// Another rebuild of this projection is in progress (in this or another process).
    #[error("a rebuild of projection {0} is already running")]
    RebuildRunning(String),
    /// A value in the read-model database is not what this code wrote.
    #[error("read-model value {what} is invalid: {value:?}")]
    Corrupt { what: &'static str, value: String },
    /// The rebuild's table set was dropped or replaced by someone else while it was built.
    #[error("the rebuild of projection {0} lost its table set")]
    RebuildLost(String),
    /// The event feed ended (the store is shutting down).
    #[error("the event feed ended")]
    FeedEnded,
    /// The live runner's writer thread panicked in a job or is gone.
    #[error("the projection writer thread failed")]
    WriterFailed,
    /// A blocking task panicked or was cancelled.
    #[error("background task failed")]
    Join(#[from] tokio::task::JoinError),
    /// A stored event this version cannot read, where one must be read.
    #[error("cannot read an event of stream {stream}")]
    Decode {
        stream: String,
        #[source]
        source: packhooks_domain::events::DecodeError,
    },
    /// Creating the data directory failed.
    #[error("read-model file")]
    Io(#[from] std::io::Error),
}
