//! The event store: one trait with EventStoreDB's semantics, and its backends.
//!
//! Every part of packhooks reads and writes events through [`EventStore`]. The contract is
//! EventStoreDB's (the README's "EventStoreDB and deployment"): streams with revisions from 0, appends
//! guarded by an [`ExpectedRevision`], idempotent appends by event id, one global `$all`
//! order with [`Position`]s, reads in both directions, and catch-up subscriptions to `$all`
//! (history, then [`SubscriptionEvent::CaughtUp`], then live events) with filters and
//! checkpoints. The embedded [`sqlite::SqliteStore`] is the default backend; the
//! EventStoreDB backend lives in its own crate. Both run [`conformance`].

pub mod backoff;
mod error;
pub mod sqlite;
mod types;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use backoff::Backoff;
pub use error::StoreError;
pub use types::*;

use async_trait::async_trait;

/// A boxed stream of subscription events; ends only when the store shuts down or fails.
pub type Subscription = futures::stream::BoxStream<'static, Result<SubscriptionEvent, StoreError>>;

/// The event store contract shared by every backend.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream` if the stream's state matches `expected`.
    ///
    /// Idempotent by event id: appending ids that are already in the stream at the place the
    /// expectation points to succeeds without writing and returns the original result; a
    /// partial overlap is a [`StoreError::WrongExpectedVersion`]. The result is durable
    /// (synced to disk) when this returns.
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError>;

    /// Reads up to `max_count` events of one stream, from `from` (inclusive) in `direction`.
    ///
    /// A stream that never existed (or was soft-deleted) is [`StoreError::StreamNotFound`];
    /// an existing stream with nothing in range gives an empty vector.
    async fn read_stream(
        &self,
        stream: &str,
        from: StreamPosition,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Reads up to `max_count` events of `$all` from `from` in `direction`, as EventStoreDB
    /// does: forwards from a position includes it, backwards from a position excludes it
    /// (so a backwards page continues from the last position it read).
    ///
    /// `$all` may hold the store's own events ([`RecordedEvent::is_system`]: on
    /// EventStoreDB, `$metadata` written by deletes, statistics, links); readers skip
    /// what they do not know.
    async fn read_all(
        &self,
        from: AllPosition,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Subscribes to `$all` after `from` (exclusive), keeping only events that pass `filter`.
    ///
    /// The subscription yields the history, then one [`SubscriptionEvent::CaughtUp`], then
    /// live events. Filtered subscriptions also yield [`SubscriptionEvent::Checkpoint`]s at
    /// least every [`CHECKPOINT_INTERVAL`] scanned events, so a sparse filter still advances.
    async fn subscribe_to_all(
        &self,
        from: SubscribeFrom,
        filter: Option<SubscriptionFilter>,
    ) -> Result<Subscription, StoreError>;

    /// Soft-deletes a stream: reads say not found; a later append continues the numbering.
    ///
    /// As on EventStoreDB, the expectation is checked against the last revision ever
    /// written (a soft-deleted stream keeps it, so deleting it again at that revision
    /// succeeds), a stream that never had an event is a [`StoreError::WrongExpectedVersion`]
    /// whatever the expectation, and [`ExpectedRevision::StreamExists`] on a soft-deleted
    /// stream is [`StoreError::StreamDeleted`].
    async fn delete_stream(&self, stream: &str, expected: ExpectedRevision) -> Result<Position, StoreError>;

    /// Tombstones a stream: reads and appends fail with [`StoreError::StreamDeleted`] for good.
    /// The expectation is checked as for [`EventStore::delete_stream`].
    async fn tombstone_stream(&self, stream: &str, expected: ExpectedRevision) -> Result<Position, StoreError>;

    /// The position of the last event in `$all` (a system event included), or `None` when
    /// the store is empty.
    async fn head(&self) -> Result<Option<Position>, StoreError>;

    /// Waits until everything acknowledged is on disk and stops accepting writes.
    async fn close(&self) -> Result<(), StoreError>;
}

/// Filtered subscriptions yield a checkpoint at least this often (in scanned events), as
/// EventStoreDB does, so that consumers with sparse filters can store their progress.
pub const CHECKPOINT_INTERVAL: u64 = 32;

/// How many events one page of [`read_stream_to_end`] fetches.
const READ_TO_END_PAGE: usize = 1024;

/// Every event of `stream` from `from` on, read forwards in pages; a stream that does not
/// exist is empty. The one loop for "the whole stream" (a fold before a decide, a lifecycle
/// stream read back), so the paging and the not-found case are right in one place.
pub async fn read_stream_to_end(
    store: &dyn EventStore,
    stream: &str,
    from: StreamPosition,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut events: Vec<RecordedEvent> = Vec::new();
    let mut next = from;
    loop {
        let page = match store.read_stream(stream, next, Direction::Forwards, READ_TO_END_PAGE).await {
            Ok(page) => page,
            Err(StoreError::StreamNotFound(_)) if events.is_empty() => return Ok(events),
            Err(error) => return Err(error),
        };
        let full = page.len() == READ_TO_END_PAGE;
        if let Some(last) = page.last() {
            next = StreamPosition::Revision(last.revision + 1);
        }
        events.extend(page);
        if !full {
            return Ok(events);
        }
    }
}
