//! Helpers shared by the cases: fresh stores, unique stream names, events, reads of
//! everything, and what a subscription yielded.

pub(super) use std::collections::HashSet;
pub(super) use std::sync::Arc;
pub(super) use std::time::Duration;

pub(super) use futures::StreamExt;
pub(super) use tempfile::TempDir;
pub(super) use uuid::Uuid;

pub(super) use crate::{
    AllPosition, Direction, EventData, EventStore, ExpectedRevision, Position, RecordedEvent, StoreError,
    StreamPosition, StreamState, SubscribeFrom, Subscription, SubscriptionEvent, SubscriptionFilter,
    CHECKPOINT_INTERVAL,
};

pub(super) use super::Backend;

/// How long any single wait for a subscription or a task may take before the case fails.
pub(super) const WAIT: Duration = Duration::from_secs(20);

pub(super) async fn fresh(backend: &dyn Backend) -> (TempDir, Arc<dyn EventStore>) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let store = backend.open(dir.path()).await;
    (dir, store)
}

/// A stream name unique to this run, so cases never meet each other's data.
pub(super) fn stream(category: &str) -> String {
    format!("{category}-{}", Uuid::new_v4().simple())
}

pub(super) fn event(n: usize) -> EventData {
    EventData::json(Uuid::new_v4(), "Tested", format!(r#"{{"n":{n}}}"#), r#"{"correlation_id":"c"}"#)
}

pub(super) fn events(n: usize) -> Vec<EventData> {
    (0..n).map(event).collect()
}

pub(super) fn ids(events: &[RecordedEvent]) -> Vec<Uuid> {
    events.iter().map(|e| e.id).collect()
}

pub(super) fn data_ids(events: &[EventData]) -> Vec<Uuid> {
    events.iter().map(|e| e.id).collect()
}

pub(super) fn revisions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.revision).collect()
}

pub(super) async fn read_forwards(store: &dyn EventStore, stream: &str) -> Vec<RecordedEvent> {
    store.read_stream(stream, StreamPosition::Start, Direction::Forwards, usize::MAX).await.expect("read stream")
}

/// Every event of `$all` but the store's own system events.
pub(super) async fn read_everything(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let mut all = read_everything_with_system(store).await;
    all.retain(|e| !e.is_system());
    all
}

pub(super) async fn read_everything_with_system(store: &dyn EventStore) -> Vec<RecordedEvent> {
    store.read_all(AllPosition::Start, Direction::Forwards, usize::MAX).await.expect("read $all")
}

/// The position of the last event of `$all` that is not a system event (a server may
/// write its own events after any append, so the raw head may be one of those).
pub(super) async fn last_position(store: &dyn EventStore) -> Option<Position> {
    let head = store.head().await.expect("head");
    let newest = store.read_all(AllPosition::End, Direction::Backwards, usize::MAX).await.expect("read $all");
    let last = newest.iter().find(|e| !e.is_system()).map(|e| e.position);
    assert!(last <= head, "the head {head:?} is at or after the last event {last:?}");
    last
}

pub(super) fn assert_conflict(
    result: Result<impl std::fmt::Debug, StoreError>,
    want_expected: ExpectedRevision,
    want_actual: StreamState,
) {
    match result {
        Err(StoreError::WrongExpectedVersion { expected, actual, .. }) => {
            assert_eq!(expected, want_expected, "the conflict reports the expectation");
            assert_eq!(actual, want_actual, "the conflict reports the actual state");
        }
        other => panic!("expected a wrong-expected-version conflict, got {other:?}"),
    }
}

pub(super) fn assert_increasing(positions: &[Position]) {
    for pair in positions.windows(2) {
        assert!(pair[0] < pair[1], "positions must strictly increase: {} then {}", pair[0], pair[1]);
    }
}

/// The next item of a subscription, failing the case if none comes within [`WAIT`].
pub(super) async fn next_item(sub: &mut Subscription) -> SubscriptionEvent {
    match tokio::time::timeout(WAIT, sub.next()).await {
        Ok(Some(Ok(item))) => item,
        Ok(Some(Err(e))) => panic!("subscription failed: {e}"),
        Ok(None) => panic!("subscription ended"),
        Err(_) => panic!("no subscription item within {WAIT:?}"),
    }
}

/// Every event a subscription yields before it catches up, system events included.
pub(super) async fn history(sub: &mut Subscription) -> Vec<RecordedEvent> {
    let mut events = Vec::new();
    loop {
        match next_item(sub).await {
            SubscriptionEvent::CaughtUp => return events,
            SubscriptionEvent::Event(e) => events.push(e),
            SubscriptionEvent::Checkpoint(_) => {}
        }
    }
}

/// What a subscription yielded, in order.
#[derive(Default)]
pub(super) struct Seen {
    pub(super) events: Vec<RecordedEvent>,
    pub(super) checkpoints: Vec<Position>,
    /// Positions of events and checkpoints, in the order they came.
    pub(super) yielded: Vec<Position>,
    pub(super) caught_up: usize,
    /// How many events had been yielded when `CaughtUp` came.
    pub(super) events_before_caught_up: Option<usize>,
}

impl Seen {
    pub(super) fn take(&mut self, item: SubscriptionEvent) {
        match item {
            // A system event only moves the subscription along.
            SubscriptionEvent::Event(e) if e.is_system() => self.yielded.push(e.position),
            SubscriptionEvent::Event(e) => {
                self.yielded.push(e.position);
                self.events.push(e);
            }
            SubscriptionEvent::Checkpoint(p) => {
                self.yielded.push(p);
                self.checkpoints.push(p);
            }
            SubscriptionEvent::CaughtUp => {
                self.caught_up += 1;
                self.events_before_caught_up.get_or_insert(self.events.len());
            }
        }
    }

    /// Consumes items until `done` holds (each wait bounded by [`WAIT`]).
    pub(super) async fn until(&mut self, sub: &mut Subscription, done: impl Fn(&Seen) -> bool) {
        while !done(self) {
            let item = next_item(sub).await;
            self.take(item);
        }
    }

    pub(super) fn has_event(&self, id: Uuid) -> bool {
        self.events.iter().any(|e| e.id == id)
    }
}
