//! Fault injection around a real store: [`FlakyReads`] answers the first few reads of some
//! streams with `StoreError::Unavailable`, as a store in a passing outage would, and passes
//! everything else (and every later read) to the real store it wraps. It can also lose the
//! answers of the first few appends to some streams after they committed, as an EventStoreDB
//! append that times out after its commit landed does. The one stand-in in the delivery
//! tests, named so: a real SQLite store cannot be made to fail on demand.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use packhooks_store::{
    AllPosition, AppendResult, Direction, EventData, EventStore, ExpectedRevision, Position, RecordedEvent,
    StoreError, StreamPosition, SubscribeFrom, Subscription, SubscriptionFilter,
};

/// A store whose first `failures` reads of streams starting with `prefix` fail.
pub struct FlakyReads {
    inner: Arc<dyn EventStore>,
    prefix: String,
    /// Failures still to give.
    left: AtomicUsize,
    /// Failures given so far.
    given: AtomicUsize,
    /// Appends to streams starting with this prefix whose answer is still to be lost.
    lost_answers: Option<(String, AtomicUsize)>,
    /// Answers lost so far (each after its append committed).
    lost: AtomicUsize,
}

impl FlakyReads {
    pub fn new(inner: Arc<dyn EventStore>, prefix: &str, failures: usize) -> Self {
        FlakyReads {
            inner,
            prefix: prefix.to_owned(),
            left: AtomicUsize::new(failures),
            given: AtomicUsize::new(0),
            lost_answers: None,
            lost: AtomicUsize::new(0),
        }
    }

    /// Also loses the answers of the first `count` appends to streams starting with
    /// `prefix`: each commits in the real store, then answers `Unavailable`.
    pub fn losing_append_answers(mut self, prefix: &str, count: usize) -> Self {
        self.lost_answers = Some((prefix.to_owned(), AtomicUsize::new(count)));
        self
    }

    /// How many committed appends were answered with an error so far.
    pub fn answers_lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }

    /// How many reads failed so far.
    pub fn failures_given(&self) -> usize {
        self.given.load(Ordering::SeqCst)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("injected fault: the store is unavailable")]
struct Injected;

#[async_trait]
impl EventStore for FlakyReads {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        let result = self.inner.append(stream, expected, events).await?;
        if let Some((prefix, left)) = &self.lost_answers {
            if stream.starts_with(prefix.as_str())
                && left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
            {
                self.lost.fetch_add(1, Ordering::SeqCst);
                return Err(StoreError::Unavailable(Box::new(Injected)));
            }
        }
        Ok(result)
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: StreamPosition,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if stream.starts_with(&self.prefix)
            && self.left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
        {
            self.given.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Unavailable(Box::new(Injected)));
        }
        self.inner.read_stream(stream, from, direction, max_count).await
    }

    async fn read_all(
        &self,
        from: AllPosition,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(from, direction, max_count).await
    }

    async fn subscribe_to_all(
        &self,
        from: SubscribeFrom,
        filter: Option<SubscriptionFilter>,
    ) -> Result<Subscription, StoreError> {
        self.inner.subscribe_to_all(from, filter).await
    }

    async fn delete_stream(&self, stream: &str, expected: ExpectedRevision) -> Result<Position, StoreError> {
        self.inner.delete_stream(stream, expected).await
    }

    async fn tombstone_stream(&self, stream: &str, expected: ExpectedRevision) -> Result<Position, StoreError> {
        self.inner.tombstone_stream(stream, expected).await
    }

    async fn head(&self) -> Result<Option<Position>, StoreError> {
        self.inner.head().await
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.inner.close().await
    }
}
