//! The conformance suite: every [`EventStore`] backend must pass these cases.
//!
//! A backend implements [`Backend`] (open a store whose data lives in a directory, again
//! after a close to check what survives) and expands [`conformance_tests!`] in a test file,
//! which writes one `#[tokio::test]` per case, so test output names every case:
//!
//! ```ignore
//! // crates/store/tests/sqlite_conformance.rs
//! struct Sqlite;
//! #[async_trait::async_trait]
//! impl packhooks_store::conformance::Backend for Sqlite {
//!     async fn open(&self, dir: &std::path::Path) -> std::sync::Arc<dyn packhooks_store::EventStore> {
//!         std::sync::Arc::new(packhooks_store::sqlite::SqliteStore::open(dir.join("events.sqlite")).unwrap())
//!     }
//! }
//! packhooks_store::conformance_tests!(Sqlite);
//! ```
//!
//! The crate using the macro needs `tokio` (with `macros` and `rt-multi-thread`) as a
//! dev-dependency. The cases assume nothing a backend may choose differently: positions
//! are compared by order only (EventStoreDB's are sparse, and commit ≠ prepare inside a
//! multi-event append), stream names are unique per case, and `$all` may hold the store's
//! own system events ([`RecordedEvent::is_system`]) anywhere: the cases look past them, as
//! every reader of the log must.
//!
//! The `server_*` cases hold only for a store in front of an EventStoreDB server (real, or
//! the wire test server that imitates one): system events on deletes and periodic
//! statistics, sparse positions. A backend runs them with `conformance_tests!(@cases …)`.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tempfile::TempDir;
use uuid::Uuid;

use crate::{
    AllPosition, Direction, EventData, EventStore, ExpectedRevision, Position, RecordedEvent, StoreError,
    StreamPosition, StreamState, SubscribeFrom, Subscription, SubscriptionEvent, SubscriptionFilter,
    CHECKPOINT_INTERVAL,
};

/// A store implementation under test.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Opens the store whose data lives in `dir` (empty on the first call). After `close`,
    /// the suite calls this again with the same `dir` and expects to find everything.
    async fn open(&self, dir: &Path) -> Arc<dyn EventStore>;
}

/// Expands to one `#[tokio::test]` per conformance case, each running against `$backend`.
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@cases $backend;
            append_no_stream_creates_the_stream_at_revision_zero,
            append_no_stream_to_an_existing_stream_conflicts,
            append_any_writes_to_missing_and_existing_streams,
            append_stream_exists_needs_the_stream,
            append_exact_revision_appends_after_that_revision,
            append_exact_revision_conflict_says_expected_and_actual,
            append_exact_revision_ahead_or_on_missing_stream_conflicts,
            append_positions_increase_across_streams,
            append_to_an_invalid_stream_name_is_rejected,
            idempotent_retry_with_any_writes_nothing,
            idempotent_retry_with_any_after_later_appends_answers_the_original,
            idempotent_retry_with_exact_revision_writes_nothing,
            idempotent_retry_with_no_stream_writes_nothing,
            idempotent_partial_overlap_is_a_conflict,
            read_stream_forwards_from_a_revision_with_max_count,
            read_stream_backwards_from_end_and_from_a_revision,
            read_missing_stream_is_not_found_but_an_empty_range_is_empty,
            read_all_forwards_and_backwards_from_a_position,
            read_all_backwards_pages_from_the_last_position_read,
            recorded_event_keeps_what_was_appended,
            soft_delete_hides_the_stream_and_appends_continue_numbering,
            soft_delete_checks_the_expected_revision,
            delete_of_a_stream_that_never_existed_is_a_conflict,
            soft_deleted_stream_deletes_again_at_its_last_revision,
            system_events_are_in_all_and_filters_leave_them_out,
            tombstone_refuses_reads_and_appends_for_good,
            head_is_none_when_empty_then_the_last_position,
            concurrent_appenders_race_and_exactly_one_wins_each_revision,
            concurrent_appenders_on_their_own_streams_all_succeed,
            subscribe_from_start_yields_history_caught_up_then_live,
            subscribe_after_a_position_excludes_it,
            subscribe_from_end_yields_only_new_events,
            subscription_under_concurrent_writers_has_no_gaps_or_duplicates,
            subscription_stream_prefix_filter_keeps_matching_streams,
            subscription_event_type_filter_keeps_matching_types,
            filtered_subscription_checkpoints_advance_a_sparse_filter,
            reopen_after_close_keeps_everything,
            append_after_close_is_refused,
        );
    };
    (@cases $backend:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::conformance::$case(&$backend).await;
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------
// Helpers

/// How long any single wait for a subscription or a task may take before the case fails.
const WAIT: Duration = Duration::from_secs(20);

async fn fresh(backend: &dyn Backend) -> (TempDir, Arc<dyn EventStore>) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let store = backend.open(dir.path()).await;
    (dir, store)
}

/// A stream name unique to this run, so cases never meet each other's data.
fn stream(category: &str) -> String {
    format!("{category}-{}", Uuid::new_v4().simple())
}

fn event(n: usize) -> EventData {
    EventData::json(Uuid::new_v4(), "Tested", format!(r#"{{"n":{n}}}"#), r#"{"correlation_id":"c"}"#)
}

fn events(n: usize) -> Vec<EventData> {
    (0..n).map(event).collect()
}

fn ids(events: &[RecordedEvent]) -> Vec<Uuid> {
    events.iter().map(|e| e.id).collect()
}

fn data_ids(events: &[EventData]) -> Vec<Uuid> {
    events.iter().map(|e| e.id).collect()
}

fn revisions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.revision).collect()
}

async fn read_forwards(store: &dyn EventStore, stream: &str) -> Vec<RecordedEvent> {
    store.read_stream(stream, StreamPosition::Start, Direction::Forwards, usize::MAX).await.expect("read stream")
}

/// Every event of `$all` but the store's own system events.
async fn read_everything(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let mut all = read_everything_with_system(store).await;
    all.retain(|e| !e.is_system());
    all
}

async fn read_everything_with_system(store: &dyn EventStore) -> Vec<RecordedEvent> {
    store.read_all(AllPosition::Start, Direction::Forwards, usize::MAX).await.expect("read $all")
}

/// The position of the last event of `$all` that is not a system event (a server may
/// write its own events after any append, so the raw head may be one of those).
async fn last_position(store: &dyn EventStore) -> Option<Position> {
    let head = store.head().await.expect("head");
    let newest = store.read_all(AllPosition::End, Direction::Backwards, usize::MAX).await.expect("read $all");
    let last = newest.iter().find(|e| !e.is_system()).map(|e| e.position);
    assert!(last <= head, "the head {head:?} is at or after the last event {last:?}");
    last
}

fn assert_conflict(
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

fn assert_increasing(positions: &[Position]) {
    for pair in positions.windows(2) {
        assert!(pair[0] < pair[1], "positions must strictly increase: {} then {}", pair[0], pair[1]);
    }
}

/// The next item of a subscription, failing the case if none comes within [`WAIT`].
async fn next_item(sub: &mut Subscription) -> SubscriptionEvent {
    match tokio::time::timeout(WAIT, sub.next()).await {
        Ok(Some(Ok(item))) => item,
        Ok(Some(Err(e))) => panic!("subscription failed: {e}"),
        Ok(None) => panic!("subscription ended"),
        Err(_) => panic!("no subscription item within {WAIT:?}"),
    }
}

/// Every event a subscription yields before it catches up, system events included.
async fn history(sub: &mut Subscription) -> Vec<RecordedEvent> {
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
struct Seen {
    events: Vec<RecordedEvent>,
    checkpoints: Vec<Position>,
    /// Positions of events and checkpoints, in the order they came.
    yielded: Vec<Position>,
    caught_up: usize,
    /// How many events had been yielded when `CaughtUp` came.
    events_before_caught_up: Option<usize>,
}

impl Seen {
    fn take(&mut self, item: SubscriptionEvent) {
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
    async fn until(&mut self, sub: &mut Subscription, done: impl Fn(&Seen) -> bool) {
        while !done(self) {
            let item = next_item(sub).await;
            self.take(item);
        }
    }

    fn has_event(&self, id: Uuid) -> bool {
        self.events.iter().any(|e| e.id == id)
    }
}

// ---------------------------------------------------------------------------------------
// Appends and expected revisions

pub async fn append_no_stream_creates_the_stream_at_revision_zero(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    let batch = events(3);
    let result = store.append(&s, ExpectedRevision::NoStream, batch.clone()).await.expect("append");
    assert_eq!(result.next_expected_revision, 2);
    let read = read_forwards(&*store, &s).await;
    assert_eq!(revisions(&read), vec![0, 1, 2]);
    assert_eq!(ids(&read), data_ids(&batch));
    assert!(read.iter().all(|e| e.stream == s));
    assert_eq!(result.position, read[2].position, "the result's position is the batch's last event");
}

pub async fn append_no_stream_to_an_existing_stream_conflicts(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    store.append(&s, ExpectedRevision::NoStream, events(1)).await.expect("first append");
    let second = store.append(&s, ExpectedRevision::NoStream, events(1)).await;
    assert_conflict(second, ExpectedRevision::NoStream, StreamState::Revision(0));
    assert_eq!(read_forwards(&*store, &s).await.len(), 1, "the conflicting append wrote nothing");
}

pub async fn append_any_writes_to_missing_and_existing_streams(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    let first = store.append(&s, ExpectedRevision::Any, events(2)).await.expect("append to a missing stream");
    assert_eq!(first.next_expected_revision, 1);
    let second = store.append(&s, ExpectedRevision::Any, events(3)).await.expect("append to an existing stream");
    assert_eq!(second.next_expected_revision, 4);
    assert!(second.position > first.position);
    assert_eq!(revisions(&read_forwards(&*store, &s).await), vec![0, 1, 2, 3, 4]);
}

pub async fn append_stream_exists_needs_the_stream(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    let missing = store.append(&s, ExpectedRevision::StreamExists, events(1)).await;
    assert_conflict(missing, ExpectedRevision::StreamExists, StreamState::NoStream);
    assert!(matches!(
        store.read_stream(&s, StreamPosition::Start, Direction::Forwards, 10).await,
        Err(StoreError::StreamNotFound(_))
    ));
    store.append(&s, ExpectedRevision::NoStream, events(1)).await.expect("create");
    let appended = store.append(&s, ExpectedRevision::StreamExists, events(1)).await.expect("append");
    assert_eq!(appended.next_expected_revision, 1);
}

pub async fn append_exact_revision_appends_after_that_revision(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    store.append(&s, ExpectedRevision::NoStream, events(2)).await.expect("create");
    let result = store.append(&s, ExpectedRevision::Exact(1), events(2)).await.expect("append at 1");
    assert_eq!(result.next_expected_revision, 3);
    let result = store.append(&s, ExpectedRevision::Exact(3), events(1)).await.expect("append at 3");
    assert_eq!(result.next_expected_revision, 4);
    assert_eq!(revisions(&read_forwards(&*store, &s).await), vec![0, 1, 2, 3, 4]);
}

pub async fn append_exact_revision_conflict_says_expected_and_actual(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    store.append(&s, ExpectedRevision::NoStream, events(3)).await.expect("create");
    let stale = store.append(&s, ExpectedRevision::Exact(0), events(1)).await;
    let message = match &stale {
        Err(e) => e.to_string(),
        Ok(r) => panic!("a stale expectation must conflict, got {r:?}"),
    };
    assert!(message.contains(&s), "the message names the stream: {message}");
    assert!(message.contains("expected revision 0"), "the message says what was expected: {message}");
    assert!(message.contains("actual revision 2"), "the message says what was found: {message}");
    assert_conflict(stale, ExpectedRevision::Exact(0), StreamState::Revision(2));
    assert_eq!(read_forwards(&*store, &s).await.len(), 3, "the conflicting append wrote nothing");
}

pub async fn append_exact_revision_ahead_or_on_missing_stream_conflicts(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    let missing = store.append(&s, ExpectedRevision::Exact(0), events(1)).await;
    assert_conflict(missing, ExpectedRevision::Exact(0), StreamState::NoStream);
    store.append(&s, ExpectedRevision::NoStream, events(2)).await.expect("create");
    let ahead = store.append(&s, ExpectedRevision::Exact(5), events(1)).await;
    assert_conflict(ahead, ExpectedRevision::Exact(5), StreamState::Revision(1));
}

pub async fn append_positions_increase_across_streams(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let (a, b) = (stream("a"), stream("b"));
    let mut positions = Vec::new();
    for i in 0..6 {
        let s = if i % 2 == 0 { &a } else { &b };
        positions.push(store.append(s, ExpectedRevision::Any, events(2)).await.expect("append").position);
    }
    assert_increasing(&positions);
    let all = read_everything(&*store).await;
    assert_eq!(all.len(), 12);
    assert_increasing(&all.iter().map(|e| e.position).collect::<Vec<_>>());
    assert_eq!(all.last().map(|e| e.position), positions.last().copied());
}

pub async fn append_to_an_invalid_stream_name_is_rejected(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    for name in ["", "$all"] {
        let result = store.append(name, ExpectedRevision::Any, events(1)).await;
        assert!(matches!(result, Err(StoreError::InvalidArgument(_))), "{name:?} must be refused, got {result:?}");
    }
    assert_eq!(store.head().await.expect("head"), None, "nothing was written");
}

// ---------------------------------------------------------------------------------------
// Idempotency by event id

pub async fn idempotent_retry_with_any_writes_nothing(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    let batch = events(3);
    let first = store.append(&s, ExpectedRevision::Any, batch.clone()).await.expect("append");
    let head = last_position(&*store).await;
    let retry = store.append(&s, ExpectedRevision::Any, batch.clone()).await.expect("retry succeeds");
    assert_eq!(retry, first, "a retry answers with the original result");
    assert_eq!(last_position(&*store).await, head, "a retry writes nothing");
    assert_eq!(ids(&read_forwards(&*store, &s).await), data_ids(&batch));
}

pub async fn idempotent_retry_with_any_after_later_appends_answers_the_original(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    store.append(&s, ExpectedRevision::Any, events(2)).await.expect("append before");
    let batch = events(2);
    let first = store.append(&s, ExpectedRevision::Any, batch.clone()).await.expect("append");
    for _ in 0..3 {
        store.append(&s, ExpectedRevision::Any, events(1)).await.expect("append after");
    }
    let head = last_position(&*store).await;
    let retry = store.append(&s, ExpectedRevision::Any, batch).await.expect("retry succeeds");
    assert_eq!(retry, first, "a retry answers with the original result, not the stream's end");
    assert_eq!(last_position(&*store).await, head, "a retry writes nothing");
    assert_eq!(read_forwards(&*store, &s).await.len(), 7);
}

pub async fn idempotent_retry_with_exact_revision_writes_nothing(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("deliveries");
    store.append(&s, ExpectedRevision::NoStream, events(1)).await.expect("create");
    let batch = events(2);
    let first = store.append(&s, ExpectedRevision::Exact(0), batch.clone()).await.expect("append");
    assert_eq!(first.next_expected_revision, 2);
    let retry = store.append(&s, ExpectedRevision::Exact(0), batch.clone()).await.expect("retry succeeds");
    assert_eq!(retry, first);
    // The same ids at another place are not the same append.
    let elsewhere = store.append(&s, ExpectedRevision::Exact(1), batch).await;
    assert_conflict(elsewhere, ExpectedRevision::Exact(1), StreamState::Revision(2));
    assert_eq!(read_forwards(&*store, &s).await.len(), 3);
}

pub async fn idempotent_retry_with_no_stream_writes_nothing(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("webhook");
    let batch = events(2);
    let first = store.append(&s, ExpectedRevision::NoStream, batch.clone()).await.expect("create");
    let retry = store.append(&s, ExpectedRevision::NoStream, batch.clone()).await.expect("retry succeeds");
    assert_eq!(retry, first);
    assert_eq!(ids(&read_forwards(&*store, &s).await), data_ids(&batch));
}

pub async fn idempotent_partial_overlap_is_a_conflict(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    let batch = events(2);
    store.append(&s, ExpectedRevision::Any, batch.clone()).await.expect("append");
    let head = last_position(&*store).await;
    let overlap = vec![batch[0].clone(), event(9)];
    let result = store.append(&s, ExpectedRevision::Any, overlap).await;
    assert!(
        matches!(result, Err(StoreError::WrongExpectedVersion { .. })),
        "a partial overlap (any) conflicts, got {result:?}"
    );
    let longer = vec![batch[0].clone(), batch[1].clone(), event(10)];
    let result = store.append(&s, ExpectedRevision::NoStream, longer).await;
    assert!(
        matches!(result, Err(StoreError::WrongExpectedVersion { .. })),
        "a partial overlap (no stream) conflicts, got {result:?}"
    );
    assert_eq!(last_position(&*store).await, head, "conflicts write nothing");
    assert_eq!(ids(&read_forwards(&*store, &s).await), data_ids(&batch));
}

// ---------------------------------------------------------------------------------------
// Reads

pub async fn read_stream_forwards_from_a_revision_with_max_count(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    store.append(&s, ExpectedRevision::NoStream, events(10)).await.expect("append");
    let page = store.read_stream(&s, StreamPosition::Revision(3), Direction::Forwards, 4).await.expect("read");
    assert_eq!(revisions(&page), vec![3, 4, 5, 6]);
    let all = store.read_stream(&s, StreamPosition::Start, Direction::Forwards, 100).await.expect("read");
    assert_eq!(revisions(&all), (0..10).collect::<Vec<_>>());
    let first = store.read_stream(&s, StreamPosition::Start, Direction::Forwards, 1).await.expect("read");
    assert_eq!(revisions(&first), vec![0]);
}

pub async fn read_stream_backwards_from_end_and_from_a_revision(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    store.append(&s, ExpectedRevision::NoStream, events(10)).await.expect("append");
    let newest = store.read_stream(&s, StreamPosition::End, Direction::Backwards, 3).await.expect("read");
    assert_eq!(revisions(&newest), vec![9, 8, 7]);
    let from_four = store.read_stream(&s, StreamPosition::Revision(4), Direction::Backwards, 2).await.expect("read");
    assert_eq!(revisions(&from_four), vec![4, 3]);
    let to_start = store.read_stream(&s, StreamPosition::Revision(2), Direction::Backwards, 100).await.expect("read");
    assert_eq!(revisions(&to_start), vec![2, 1, 0]);
}

pub async fn read_missing_stream_is_not_found_but_an_empty_range_is_empty(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let missing = stream("nothing");
    for direction in [Direction::Forwards, Direction::Backwards] {
        let result = store.read_stream(&missing, StreamPosition::Start, direction, 10).await;
        assert!(matches!(result, Err(StoreError::StreamNotFound(ref name)) if *name == missing), "got {result:?}");
    }
    let s = stream("order");
    store.append(&s, ExpectedRevision::NoStream, events(2)).await.expect("append");
    let past_end = store.read_stream(&s, StreamPosition::Revision(5), Direction::Forwards, 10).await;
    assert_eq!(past_end.expect("an existing stream reads fine").len(), 0);
}

pub async fn read_all_forwards_and_backwards_from_a_position(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let (a, b) = (stream("a"), stream("b"));
    let mut written = Vec::new();
    for i in 0..5 {
        let batch = events(2);
        written.extend(data_ids(&batch));
        store.append(if i % 2 == 0 { &a } else { &b }, ExpectedRevision::Any, batch).await.expect("append");
    }
    let all = read_everything(&*store).await;
    assert_eq!(ids(&all), written, "$all holds every event in append order");
    let positions: Vec<Position> = all.iter().map(|e| e.position).collect();
    assert_increasing(&positions);

    let from_third = store.read_all(AllPosition::Position(positions[2]), Direction::Forwards, 3).await.expect("read");
    assert_eq!(ids(&from_third), written[2..5].to_vec(), "forwards from a position includes it");

    let mut newest = store.read_all(AllPosition::End, Direction::Backwards, 100).await.expect("read");
    newest.retain(|e| !e.is_system());
    newest.truncate(4);
    let mut expected: Vec<Uuid> = written[6..].to_vec();
    expected.reverse();
    assert_eq!(ids(&newest), expected);

    let back = store.read_all(AllPosition::Position(positions[4]), Direction::Backwards, 2).await.expect("read");
    assert_eq!(ids(&back), vec![written[3], written[2]], "backwards from a position excludes it");
    let before_first = store.read_all(AllPosition::Position(positions[0]), Direction::Backwards, 5).await.expect("read");
    assert!(before_first.iter().all(RecordedEvent::is_system), "nothing of ours before the first event");
}

pub async fn read_all_backwards_pages_from_the_last_position_read(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    for _ in 0..7 {
        store.append(&s, ExpectedRevision::Any, events(3)).await.expect("append");
    }
    let mut expected = read_everything_with_system(&*store).await;
    expected.reverse();
    // Each page starts from the last position of the one before, which it leaves out.
    let mut paged = Vec::new();
    let mut from = AllPosition::End;
    loop {
        let page = store.read_all(from, Direction::Backwards, 4).await.expect("read a page");
        let Some(last) = page.last() else { break };
        from = AllPosition::Position(last.position);
        paged.extend(page);
    }
    assert_eq!(ids(&paged), ids(&expected), "every event once, newest first");
}

pub async fn recorded_event_keeps_what_was_appended(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    let sent = EventData::json(
        Uuid::new_v4(),
        "CandidateInterested",
        r#"{"candidate":{"name":"Ada"}}"#,
        r#"{"correlation_id":"sub_1","causation_id":"cmd_1"}"#,
    );
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    store.append(&s, ExpectedRevision::NoStream, vec![sent.clone()]).await.expect("append");
    let after = chrono::Utc::now() + chrono::Duration::seconds(5);
    let got = read_forwards(&*store, &s).await.remove(0);
    assert_eq!(got.id, sent.id);
    assert_eq!(got.stream, s);
    assert_eq!(got.revision, 0);
    assert_eq!(got.event_type, "CandidateInterested");
    assert_eq!(got.data, sent.data);
    assert_eq!(got.metadata, sent.metadata);
    assert!(got.created > before && got.created < after, "created {} is the store's now", got.created);
    let via_all = read_everything(&*store).await.remove(0);
    assert_eq!(via_all, got, "$all and the stream read agree");
}

// ---------------------------------------------------------------------------------------
// Deletes

pub async fn soft_delete_hides_the_stream_and_appends_continue_numbering(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("webhook");
    store.append(&s, ExpectedRevision::NoStream, events(3)).await.expect("create");
    store.delete_stream(&s, ExpectedRevision::Exact(2)).await.expect("soft delete");
    let read = store.read_stream(&s, StreamPosition::Start, Direction::Forwards, 10).await;
    assert!(matches!(read, Err(StoreError::StreamNotFound(_))), "a soft-deleted stream is not found, got {read:?}");
    let again = event(3);
    let result = store.append(&s, ExpectedRevision::Any, vec![again.clone()]).await.expect("append after delete");
    assert_eq!(result.next_expected_revision, 3, "numbering continues after a soft delete");
    let read = read_forwards(&*store, &s).await;
    assert_eq!(ids(&read), vec![again.id], "only events after the delete are visible");
    assert_eq!(revisions(&read), vec![3]);
    let backwards = store.read_stream(&s, StreamPosition::End, Direction::Backwards, 10).await.expect("read");
    assert_eq!(revisions(&backwards), vec![3]);
}

pub async fn soft_delete_checks_the_expected_revision(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("webhook");
    store.append(&s, ExpectedRevision::NoStream, events(2)).await.expect("create");
    let stale = store.delete_stream(&s, ExpectedRevision::Exact(0)).await;
    assert_conflict(stale, ExpectedRevision::Exact(0), StreamState::Revision(1));
    assert_eq!(read_forwards(&*store, &s).await.len(), 2, "a refused delete deletes nothing");
}

pub async fn delete_of_a_stream_that_never_existed_is_a_conflict(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("webhook");
    for expected in
        [ExpectedRevision::Any, ExpectedRevision::NoStream, ExpectedRevision::StreamExists, ExpectedRevision::Exact(0)]
    {
        let deleted = store.delete_stream(&s, expected).await;
        assert_conflict(deleted, expected, StreamState::NoStream);
        let tombstoned = store.tombstone_stream(&s, expected).await;
        assert_conflict(tombstoned, expected, StreamState::NoStream);
    }
    let created = store.append(&s, ExpectedRevision::NoStream, events(1)).await.expect("still a new stream");
    assert_eq!(created.next_expected_revision, 0);
}

pub async fn soft_deleted_stream_deletes_again_at_its_last_revision(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("webhook");
    store.append(&s, ExpectedRevision::NoStream, events(2)).await.expect("create");
    store.delete_stream(&s, ExpectedRevision::Exact(1)).await.expect("soft delete at 1");
    // The stream keeps its last revision: a second delete at it succeeds, another revision
    // conflicts with it, and "exists" is answered as deleted.
    store.delete_stream(&s, ExpectedRevision::Exact(1)).await.expect("a second delete at 1");
    let stale = store.delete_stream(&s, ExpectedRevision::Exact(0)).await;
    assert_conflict(stale, ExpectedRevision::Exact(0), StreamState::Revision(1));
    let exists = store.delete_stream(&s, ExpectedRevision::StreamExists).await;
    assert!(matches!(exists, Err(StoreError::StreamDeleted(_))), "\"exists\" on a soft-deleted stream, got {exists:?}");
    store.delete_stream(&s, ExpectedRevision::Any).await.expect("any");
    let read = store.read_stream(&s, StreamPosition::Start, Direction::Forwards, 10).await;
    assert!(matches!(read, Err(StoreError::StreamNotFound(_))), "still soft-deleted, got {read:?}");
    let again = store.append(&s, ExpectedRevision::Exact(1), events(1)).await.expect("append at the last revision");
    assert_eq!(again.next_expected_revision, 2, "numbering continues");
}

pub async fn tombstone_refuses_reads_and_appends_for_good(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("webhook");
    store.append(&s, ExpectedRevision::NoStream, events(2)).await.expect("create");
    store.tombstone_stream(&s, ExpectedRevision::Any).await.expect("tombstone");
    let read = store.read_stream(&s, StreamPosition::Start, Direction::Forwards, 10).await;
    assert!(matches!(read, Err(StoreError::StreamDeleted(_))), "reads fail, got {read:?}");
    for expected in [ExpectedRevision::Any, ExpectedRevision::NoStream, ExpectedRevision::Exact(1)] {
        let append = store.append(&s, expected, events(1)).await;
        assert!(matches!(append, Err(StoreError::StreamDeleted(_))), "appends ({expected}) fail, got {append:?}");
    }
    let delete = store.delete_stream(&s, ExpectedRevision::Any).await;
    assert!(matches!(delete, Err(StoreError::StreamDeleted(_))), "a second delete fails, got {delete:?}");
}

pub async fn head_is_none_when_empty_then_the_last_position(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    assert_eq!(store.head().await.expect("head"), None);
    let first = store.append(&stream("a"), ExpectedRevision::Any, events(2)).await.expect("append");
    assert_eq!(last_position(&*store).await, Some(first.position));
    let second = store.append(&stream("b"), ExpectedRevision::Any, events(1)).await.expect("append");
    assert_eq!(last_position(&*store).await, Some(second.position));
    let everything = read_everything_with_system(&*store).await;
    assert_eq!(store.head().await.expect("head"), everything.last().map(|e| e.position), "the head is $all's last");
}

pub async fn system_events_are_in_all_and_filters_leave_them_out(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    // What a server writes of its own (here by hand, so that every backend has some).
    let metadata = EventData::json(Uuid::new_v4(), "$metadata", r#"{"$tb":1}"#, "{}");
    let ours = events(2);
    store.append(&s, ExpectedRevision::NoStream, vec![ours[0].clone()]).await.expect("append");
    store.append(&format!("$${s}"), ExpectedRevision::Any, vec![metadata.clone()]).await.expect("append $metadata");
    store.append(&s, ExpectedRevision::Exact(0), vec![ours[1].clone()]).await.expect("append");
    let all = read_everything_with_system(&*store).await;
    let system = all.iter().find(|e| e.id == metadata.id).expect("the system event is in $all");
    assert!(system.is_system() && system.stream.starts_with('$'));
    assert_eq!(ids(&read_everything(&*store).await), data_ids(&ours), "and nothing else is a system event");

    for filter in
        [SubscriptionFilter::StreamPrefix(vec!["pack-".into()]), SubscriptionFilter::EventTypePrefix(vec!["Tested".into()])]
    {
        let mut sub = store.subscribe_to_all(SubscribeFrom::Start, Some(filter)).await.expect("subscribe");
        let items = history(&mut sub).await;
        assert_eq!(ids(&items), data_ids(&ours), "a filter leaves system events out");
    }
    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, None).await.expect("subscribe");
    let unfiltered = ids(&history(&mut sub).await);
    assert!(unfiltered.contains(&metadata.id), "an unfiltered subscription meets them");
}

// ---------------------------------------------------------------------------------------
// Only in front of an EventStoreDB server

/// The system events a server wrote into `$all`.
fn system_events(all: &[RecordedEvent]) -> Vec<&RecordedEvent> {
    all.iter().filter(|e| e.is_system()).collect()
}

pub async fn server_deletes_write_metadata_and_statistics_come_unasked(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let (soft, hard) = (stream("webhook"), stream("account"));
    store.append(&soft, ExpectedRevision::NoStream, events(1)).await.expect("append");
    store.append(&hard, ExpectedRevision::NoStream, events(1)).await.expect("append");
    let deleted = store.delete_stream(&soft, ExpectedRevision::Exact(0)).await.expect("delete");
    let tombstoned = store.tombstone_stream(&hard, ExpectedRevision::Exact(0)).await.expect("tombstone");
    for _ in 0..20 {
        store.append(&stream("pack"), ExpectedRevision::Any, events(1)).await.expect("append");
    }
    let all = read_everything_with_system(&*store).await;
    let system = system_events(&all);
    for (name, at) in [(&soft, deleted), (&hard, tombstoned)] {
        let metadata = system.iter().find(|e| e.stream == format!("$${name}")).expect("a $metadata event per delete");
        assert_eq!(metadata.event_type, "$metadata");
        assert_eq!(metadata.position, at, "the delete answers its position");
    }
    assert!(
        system.iter().any(|e| e.stream.starts_with("$stats-") && e.event_type == "$statsCollected"),
        "statistics among {} writes: {:?}",
        22,
        system.iter().map(|e| &e.stream).collect::<Vec<_>>()
    );
    // An unfiltered subscription meets them; a filtered one does not.
    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, None).await.expect("subscribe");
    assert_eq!(ids(&history(&mut sub).await), ids(&all));
}

pub async fn server_positions_are_sparse_and_an_append_shares_its_commit(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    store.append(&s, ExpectedRevision::NoStream, events(1)).await.expect("append");
    let batch = events(3);
    let written = store.append(&s, ExpectedRevision::Exact(0), batch.clone()).await.expect("append");
    let read = read_forwards(&*store, &s).await;
    let positions: Vec<Position> = read.iter().map(|e| e.position).collect();
    assert_increasing(&positions);
    assert!(positions.windows(2).all(|w| w[1].prepare - w[0].prepare > 1), "sparse: {positions:?}");
    let appended = &positions[1..];
    assert!(appended.iter().all(|p| p.commit == appended[0].commit), "one commit per append: {appended:?}");
    assert!(appended[1..].iter().all(|p| p.commit != p.prepare), "commit ≠ prepare inside: {appended:?}");
    assert_eq!(written.position, positions[3], "the append answers its last event's position");

    // Every way of reading from a position inside the append meets the same events.
    let forwards = store.read_all(AllPosition::Position(positions[2]), Direction::Forwards, 2).await.expect("read");
    assert_eq!(ids(&forwards), data_ids(&batch[1..]), "forwards includes it");
    let backwards = store.read_all(AllPosition::Position(positions[2]), Direction::Backwards, 2).await.expect("read");
    assert_eq!(ids(&backwards), vec![batch[0].id, read[0].id], "backwards excludes it");
    let mut sub = store.subscribe_to_all(SubscribeFrom::After(positions[2]), None).await.expect("subscribe");
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.caught_up > 0).await;
    assert_eq!(ids(&seen.events), vec![batch[2].id], "a subscription starts after it");
}

// ---------------------------------------------------------------------------------------
// Concurrency

pub async fn concurrent_appenders_race_and_exactly_one_wins_each_revision(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("deliveries");
    store.append(&s, ExpectedRevision::NoStream, events(1)).await.expect("create");
    const RACERS: usize = 8;
    const ROUNDS: u64 = 20;
    let mut winners = Vec::new();
    for round in 0..ROUNDS {
        let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
        let tasks: Vec<_> = (0..RACERS)
            .map(|i| {
                let (store, s, barrier) = (store.clone(), s.clone(), barrier.clone());
                tokio::spawn(async move {
                    let candidate = event(i);
                    let id = candidate.id;
                    barrier.wait().await;
                    (id, store.append(&s, ExpectedRevision::Exact(round), vec![candidate]).await)
                })
            })
            .collect();
        let mut won = Vec::new();
        for task in tasks {
            let (id, result) = tokio::time::timeout(WAIT, task).await.expect("racer finishes").expect("racer task");
            match result {
                Ok(r) => {
                    assert_eq!(r.next_expected_revision, round + 1);
                    won.push(id);
                }
                Err(e) => {
                    assert_conflict(Err::<(), _>(e), ExpectedRevision::Exact(round), StreamState::Revision(round + 1))
                }
            }
        }
        assert_eq!(won.len(), 1, "round {round}: exactly one racer wins, got {}", won.len());
        winners.extend(won);
    }
    let read = read_forwards(&*store, &s).await;
    assert_eq!(revisions(&read), (0..=ROUNDS).collect::<Vec<_>>());
    assert_eq!(ids(&read)[1..].to_vec(), winners, "the stream holds exactly the winners, in order");
}

pub async fn concurrent_appenders_on_their_own_streams_all_succeed(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    const WRITERS: usize = 16;
    const APPENDS: u64 = 20;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let s = stream("pack");
                let mut expected = ExpectedRevision::NoStream;
                for n in 0..APPENDS {
                    let r = store.append(&s, expected, events(1)).await.expect("append on my own stream");
                    assert_eq!(r.next_expected_revision, n);
                    expected = ExpectedRevision::Exact(n);
                }
                s
            })
        })
        .collect();
    let mut streams = Vec::new();
    for task in tasks {
        streams.push(tokio::time::timeout(WAIT, task).await.expect("writer finishes").expect("writer task"));
    }
    for s in &streams {
        assert_eq!(revisions(&read_forwards(&*store, s).await), (0..APPENDS).collect::<Vec<_>>());
    }
    let all = read_everything(&*store).await;
    assert_eq!(all.len(), WRITERS * APPENDS as usize);
    assert_increasing(&all.iter().map(|e| e.position).collect::<Vec<_>>());
    assert_eq!(all.iter().map(|e| e.id).collect::<HashSet<_>>().len(), all.len(), "no event twice");
}

// ---------------------------------------------------------------------------------------
// Subscriptions

pub async fn subscribe_from_start_yields_history_caught_up_then_live(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    let history = events(5);
    store.append(&s, ExpectedRevision::NoStream, history.clone()).await.expect("append");
    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, None).await.expect("subscribe");
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.caught_up > 0).await;
    assert_eq!(ids(&seen.events), data_ids(&history), "history comes before caught-up");
    let live = events(3);
    store.append(&s, ExpectedRevision::Exact(4), live.clone()).await.expect("append live");
    seen.until(&mut sub, |seen| seen.events.len() == 8).await;
    assert_eq!(ids(&seen.events[5..]), data_ids(&live), "then live events");
    assert_eq!(seen.caught_up, 1);
    assert_eq!(seen.events_before_caught_up, Some(5));
    assert_increasing(&seen.yielded);
}

pub async fn subscribe_after_a_position_excludes_it(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    let batch = events(6);
    store.append(&s, ExpectedRevision::NoStream, batch.clone()).await.expect("append");
    let all = read_everything(&*store).await;
    let mut sub = store.subscribe_to_all(SubscribeFrom::After(all[2].position), None).await.expect("subscribe");
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.caught_up > 0).await;
    assert_eq!(ids(&seen.events), data_ids(&batch[3..]), "the position itself is excluded");

    let last = all.last().expect("events").position;
    let mut at_head = store.subscribe_to_all(SubscribeFrom::After(last), None).await.expect("subscribe");
    let mut seen = Seen::default();
    seen.until(&mut at_head, |seen| seen.caught_up > 0).await;
    assert!(seen.events.is_empty(), "nothing after the head");
    let next = event(7);
    store.append(&s, ExpectedRevision::Any, vec![next.clone()]).await.expect("append");
    seen.until(&mut at_head, |seen| !seen.events.is_empty()).await;
    assert_eq!(ids(&seen.events), vec![next.id]);
}

pub async fn subscribe_from_end_yields_only_new_events(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    store.append(&s, ExpectedRevision::NoStream, events(4)).await.expect("append");
    let mut sub = store.subscribe_to_all(SubscribeFrom::End, None).await.expect("subscribe");
    let first = next_item(&mut sub).await;
    assert_eq!(first, SubscriptionEvent::CaughtUp, "from the end, caught-up comes first");
    let live = events(2);
    store.append(&s, ExpectedRevision::Any, live.clone()).await.expect("append");
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.events.len() == 2).await;
    assert_eq!(ids(&seen.events), data_ids(&live));
    assert_eq!(seen.caught_up, 0, "caught-up came once, before");
}

pub async fn subscription_under_concurrent_writers_has_no_gaps_or_duplicates(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    const WRITERS: usize = 8;
    const APPENDS: usize = 60;
    store.append(&stream("before"), ExpectedRevision::Any, events(50)).await.expect("history");
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let s = stream("pack");
                for n in 0..APPENDS {
                    // Alternate single events and small batches.
                    let batch = events(1 + (w + n) % 3);
                    store.append(&s, ExpectedRevision::Any, batch).await.expect("append");
                }
            })
        })
        .collect();
    // Subscribe while the writers run, so history and live meet under load.
    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, None).await.expect("subscribe");
    let mut early = store.subscribe_to_all(SubscribeFrom::End, None).await.expect("subscribe");
    for writer in writers {
        tokio::time::timeout(WAIT, writer).await.expect("writer finishes").expect("writer task");
    }
    let all = read_everything(&*store).await;
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.events.len() >= all.len() && seen.caught_up > 0).await;
    assert_eq!(seen.caught_up, 1, "caught-up arrives exactly once");
    assert_increasing(&seen.yielded);
    assert_eq!(ids(&seen.events), ids(&all), "every event exactly once, in $all order");

    // A subscriber from the end sees a gapless suffix of $all.
    let mut tail = Seen::default();
    tail.take(next_item(&mut early).await);
    assert_eq!(tail.caught_up, 1);
    let last = all.last().expect("events").position;
    tail.until(&mut early, |t| t.events.last().map(|e| e.position) == Some(last)).await;
    let start = all.len() - tail.events.len();
    assert_eq!(ids(&tail.events), ids(&all[start..]), "live events are a gapless suffix of $all");
}

pub async fn subscription_stream_prefix_filter_keeps_matching_streams(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let (pack, other) = (stream("pack"), stream("account"));
    let mut wanted = Vec::new();
    for i in 0..6 {
        let batch = events(2);
        if i % 2 == 0 {
            wanted.extend(data_ids(&batch));
            store.append(&pack, ExpectedRevision::Any, batch).await.expect("append");
        } else {
            store.append(&other, ExpectedRevision::Any, batch).await.expect("append");
        }
    }
    let filter = SubscriptionFilter::StreamPrefix(vec!["pack-".into(), "nothing-".into()]);
    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, Some(filter)).await.expect("subscribe");
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.caught_up > 0).await;
    assert_eq!(ids(&seen.events), wanted);
    let live_other = event(1);
    let live_pack = event(2);
    store.append(&other, ExpectedRevision::Any, vec![live_other.clone()]).await.expect("append");
    store.append(&pack, ExpectedRevision::Any, vec![live_pack.clone()]).await.expect("append");
    seen.until(&mut sub, |seen| seen.has_event(live_pack.id)).await;
    assert!(!seen.has_event(live_other.id), "live events are filtered too");
    assert!(seen.events.iter().all(|e| e.stream.starts_with("pack-")));
    assert_increasing(&seen.yielded);
}

pub async fn subscription_event_type_filter_keeps_matching_types(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    let typed = |t: &str| EventData::json(Uuid::new_v4(), t, "{}", "{}");
    let batch = vec![typed("CandidateInterested"), typed("WebhookCreated"), typed("CandidateDeclined"), typed("Other")];
    store.append(&s, ExpectedRevision::Any, batch.clone()).await.expect("append");
    let filter = SubscriptionFilter::EventTypePrefix(vec!["Candidate".into()]);
    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, Some(filter)).await.expect("subscribe");
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.caught_up > 0).await;
    assert_eq!(ids(&seen.events), vec![batch[0].id, batch[2].id]);
    let live = vec![typed("WebhookDeleted"), typed("CandidateInterested")];
    store.append(&s, ExpectedRevision::Any, live.clone()).await.expect("append");
    seen.until(&mut sub, |seen| seen.has_event(live[1].id)).await;
    assert!(!seen.has_event(live[0].id));
    assert!(seen.events.iter().all(|e| e.event_type.starts_with("Candidate")));
}

/// Asserts that no more than [`CHECKPOINT_INTERVAL`] events of `$all` lie strictly after one
/// yielded position and up to the next.
fn assert_checkpoint_spacing(all: &[RecordedEvent], yielded: &[Position], upto: Position) {
    let mut previous: Option<Position> = None;
    for &next in yielded.iter().chain(std::iter::once(&upto)) {
        let scanned = all.iter().filter(|e| previous.is_none_or(|p| e.position > p) && e.position <= next).count();
        // The last stretch (up to `upto`) may be unreported, but never a whole interval.
        let bound =
            if next == upto && !yielded.contains(&upto) { CHECKPOINT_INTERVAL - 1 } else { CHECKPOINT_INTERVAL };
        assert!(
            scanned as u64 <= bound,
            "{scanned} events scanned between {previous:?} and {next} without a checkpoint (at most {bound})"
        );
        previous = Some(next);
    }
}

pub async fn filtered_subscription_checkpoints_advance_a_sparse_filter(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let (noise, target) = (stream("noise"), stream("target"));
    let rare = event(0);
    for n in 0..150 {
        store.append(&noise, ExpectedRevision::Any, events(1)).await.expect("noise");
        if n == 70 {
            store.append(&target, ExpectedRevision::Any, vec![rare.clone()]).await.expect("target");
        }
    }
    let filter = SubscriptionFilter::StreamPrefix(vec!["target-".into()]);
    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, Some(filter)).await.expect("subscribe");
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.caught_up > 0).await;
    assert_eq!(ids(&seen.events), vec![rare.id], "only the matching event");
    assert!(seen.checkpoints.len() >= 3, "a sparse filter gets checkpoints in history: {:?}", seen.checkpoints);
    assert_increasing(&seen.yielded);
    let all = read_everything(&*store).await;
    let head = store.head().await.expect("head").expect("not empty");
    assert_checkpoint_spacing(&all, &seen.yielded, head);

    // Live: only noise, and checkpoints still come and pass the old head.
    let history_yields = seen.yielded.len();
    for _ in 0..100 {
        store.append(&noise, ExpectedRevision::Any, events(1)).await.expect("noise");
    }
    let new_head = store.head().await.expect("head").expect("not empty");
    let all = read_everything(&*store).await;
    let last_reportable = all[all.len() - CHECKPOINT_INTERVAL as usize].position;
    seen.until(&mut sub, |seen| seen.yielded.last().is_some_and(|p| *p >= last_reportable)).await;
    assert!(seen.yielded.len() > history_yields + 2, "live checkpoints came");
    assert_eq!(seen.events.len(), 1, "no live event matched");
    assert_increasing(&seen.yielded);
    assert!(seen.checkpoints.iter().all(|p| *p <= new_head));
    assert_checkpoint_spacing(&all, &seen.yielded, new_head);
}

// ---------------------------------------------------------------------------------------
// Lifecycle

pub async fn reopen_after_close_keeps_everything(backend: &dyn Backend) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let store = backend.open(dir.path()).await;
    let (kept, soft, gone) = (stream("pack"), stream("webhook"), stream("account"));
    let retried = events(2);
    store.append(&kept, ExpectedRevision::NoStream, retried.clone()).await.expect("append");
    store.append(&soft, ExpectedRevision::NoStream, events(2)).await.expect("append");
    store.append(&gone, ExpectedRevision::NoStream, events(1)).await.expect("append");
    store.append(&kept, ExpectedRevision::Exact(1), events(3)).await.expect("append");
    store.delete_stream(&soft, ExpectedRevision::Exact(1)).await.expect("soft delete");
    store.tombstone_stream(&gone, ExpectedRevision::Any).await.expect("tombstone");
    let before = read_everything(&*store).await;
    let head = last_position(&*store).await;
    store.close().await.expect("close");
    drop(store);

    let store = backend.open(dir.path()).await;
    assert_eq!(read_everything(&*store).await, before, "$all is intact");
    assert_eq!(last_position(&*store).await, head);
    assert_eq!(revisions(&read_forwards(&*store, &kept).await), vec![0, 1, 2, 3, 4]);
    let soft_read = store.read_stream(&soft, StreamPosition::Start, Direction::Forwards, 10).await;
    assert!(matches!(soft_read, Err(StoreError::StreamNotFound(_))), "still soft-deleted, got {soft_read:?}");
    let gone_read = store.read_stream(&gone, StreamPosition::Start, Direction::Forwards, 10).await;
    assert!(matches!(gone_read, Err(StoreError::StreamDeleted(_))), "still tombstoned, got {gone_read:?}");

    let retry = store.append(&kept, ExpectedRevision::NoStream, retried).await.expect("idempotent after reopen");
    assert_eq!(retry.next_expected_revision, 1);
    assert_eq!(last_position(&*store).await, head, "the retry wrote nothing");
    let next = store.append(&kept, ExpectedRevision::Exact(4), events(1)).await.expect("append after reopen");
    assert_eq!(next.next_expected_revision, 5);
    assert!(Some(next.position) > head, "positions continue after reopen");
    let again = store.append(&soft, ExpectedRevision::Any, events(1)).await.expect("append to the soft-deleted stream");
    assert_eq!(again.next_expected_revision, 2);

    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, None).await.expect("subscribe");
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.caught_up > 0).await;
    assert_eq!(seen.events.len(), before.len() + 2);
    assert_eq!(seen.events[..before.len()].to_vec(), before);
    store.close().await.expect("close");
}

pub async fn append_after_close_is_refused(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    store.append(&s, ExpectedRevision::Any, events(1)).await.expect("append");
    store.close().await.expect("close");
    let after = store.append(&s, ExpectedRevision::Any, events(1)).await;
    assert!(after.is_err(), "a closed store takes no appends, got {after:?}");
    store.close().await.expect("closing twice is harmless");
}
