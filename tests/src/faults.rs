//! Fault injection around a real store, the one kind of stand-in in these tests (named so
//! in each test that uses it): a real SQLite store cannot be made to fail, lose an answer or
//! stall on demand. [`Faulty`] passes every call to the real store it wraps and runs the
//! hooks of a [`Faults`] around them:
//! - [`FlakyReads`] answers the first few reads of some streams with
//!   `StoreError::Unavailable`, as a store in a passing outage would, and can lose the answers
//!   of the first few appends to some streams after they committed, as an EventStoreDB append
//!   that times out after its commit landed does;
//! - [`GatedAppends`] holds appends to some streams, while armed, until its gate opens;
//! - [`GatedReads`] lets some pages of `$all` through, then holds every further one until its
//!   gate opens.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use packhooks_store::{
    AllPosition, AppendResult, Direction, EventData, EventStore, ExpectedRevision, Position, RecordedEvent, StoreError,
    StreamPosition, SubscribeFrom, Subscription, SubscriptionFilter,
};
use tokio::sync::{watch, Notify};

/// What a [`Faulty`] store does around the real store's calls; by default nothing.
#[async_trait]
pub trait Faults: Send + Sync + 'static {
    /// Before a read of `stream`: an error is answered instead of reading.
    async fn before_read_stream(&self, _stream: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// Before a page of `$all` is read; may hold it.
    async fn before_read_all(&self) {}

    /// Before a subscription to `$all` is made; may hold it.
    async fn before_subscribe(&self) {}

    /// Before an append to `stream`; may hold it.
    async fn before_append(&self, _stream: &str) {}

    /// After an append to `stream` committed: an error is answered instead of its result.
    fn after_append(&self, _stream: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The real store `inner` with `F`'s faults injected; derefs to `F`, to arm or read it.
pub struct Faulty<F> {
    inner: Arc<dyn EventStore>,
    faults: F,
}

impl<F: Faults> Faulty<F> {
    pub fn new(inner: Arc<dyn EventStore>, faults: F) -> Arc<Self> {
        Arc::new(Faulty { inner, faults })
    }
}

impl<F> Deref for Faulty<F> {
    type Target = F;

    fn deref(&self) -> &F {
        &self.faults
    }
}

#[async_trait]
impl<F: Faults> EventStore for Faulty<F> {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        self.faults.before_append(stream).await;
        let result = self.inner.append(stream, expected, events).await?;
        self.faults.after_append(stream)?;
        Ok(result)
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: StreamPosition,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.faults.before_read_stream(stream).await?;
        self.inner.read_stream(stream, from, direction, max_count).await
    }

    async fn read_all(
        &self,
        from: AllPosition,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.faults.before_read_all().await;
        self.inner.read_all(from, direction, max_count).await
    }

    async fn subscribe_to_all(
        &self,
        from: SubscribeFrom,
        filter: Option<SubscriptionFilter>,
    ) -> Result<Subscription, StoreError> {
        self.faults.before_subscribe().await;
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

#[derive(Debug, thiserror::Error)]
#[error("injected fault: the store is unavailable")]
struct Injected;

/// Takes one of `left`, if any is left.
fn take_one(left: &AtomicUsize) -> bool {
    left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

/// Fails the first `failures` reads of streams starting with `prefix`.
pub struct FlakyReads {
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
    pub fn new(prefix: &str, failures: usize) -> Self {
        FlakyReads {
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

    /// How many reads failed so far.
    pub fn failures_given(&self) -> usize {
        self.given.load(Ordering::SeqCst)
    }

    /// How many committed appends were answered with an error so far.
    pub fn answers_lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Faults for FlakyReads {
    async fn before_read_stream(&self, stream: &str) -> Result<(), StoreError> {
        if stream.starts_with(&self.prefix) && take_one(&self.left) {
            self.given.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Unavailable(Box::new(Injected)));
        }
        Ok(())
    }

    fn after_append(&self, stream: &str) -> Result<(), StoreError> {
        if let Some((prefix, left)) = &self.lost_answers {
            if stream.starts_with(prefix.as_str()) && take_one(left) {
                self.lost.fetch_add(1, Ordering::SeqCst);
                return Err(StoreError::Unavailable(Box::new(Injected)));
            }
        }
        Ok(())
    }
}

/// Closed until opened; then it stays open.
pub struct Gate(watch::Sender<bool>);

impl Default for Gate {
    fn default() -> Self {
        Gate(watch::Sender::new(false))
    }
}

impl Gate {
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    /// Waits until the gate is open.
    pub async fn pass(&self) {
        let mut opened = self.0.subscribe();
        opened.wait_for(|open| *open).await.expect("the gate lives as long as its waiters");
    }
}

/// While armed, holds every append to a stream starting with `prefix` until the gate opens.
pub struct GatedAppends {
    prefix: String,
    pub armed: AtomicBool,
    /// Signalled when a held append arrives.
    pub arrived: Notify,
    pub gate: Gate,
}

impl GatedAppends {
    pub fn new(prefix: &str) -> Self {
        GatedAppends {
            prefix: prefix.to_owned(),
            armed: AtomicBool::new(false),
            arrived: Notify::new(),
            gate: Gate::default(),
        }
    }
}

#[async_trait]
impl Faults for GatedAppends {
    async fn before_append(&self, stream: &str) {
        if stream.starts_with(&self.prefix) && self.armed.load(Ordering::SeqCst) {
            self.arrived.notify_one();
            self.gate.pass().await;
        }
    }
}

/// Lets `allowed` pages of `$all` through, then holds every further one until the gate opens.
pub struct GatedReads {
    allowed: AtomicUsize,
    /// Reads being held now.
    pub held: AtomicUsize,
    pub gate: Gate,
}

impl GatedReads {
    pub fn new(allowed: usize) -> Self {
        GatedReads { allowed: AtomicUsize::new(allowed), held: AtomicUsize::new(0), gate: Gate::default() }
    }
}

#[async_trait]
impl Faults for GatedReads {
    async fn before_read_all(&self) {
        if !take_one(&self.allowed) {
            self.held.fetch_add(1, Ordering::SeqCst);
            self.gate.pass().await;
            self.held.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
