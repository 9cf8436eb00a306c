//! What only the SQLite backend promises: group commit, isolation of failing appends within
//! a batch, slow subscribers catching up from the file, readers that never block the writer.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use packhooks_store::sqlite::{SqliteOptions, SqliteStore};
use packhooks_store::{
    AllPosition, Direction, EventData, EventStore, ExpectedRevision, StoreError, StreamPosition, SubscribeFrom,
    Subscription, SubscriptionEvent,
};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

fn event() -> EventData {
    EventData::json(Uuid::new_v4(), "Tested", r#"{"n":1}"#, "{}")
}

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("events.sqlite")).expect("open")
}

async fn next(sub: &mut Subscription) -> Option<SubscriptionEvent> {
    tokio::time::timeout(WAIT, sub.next()).await.expect("subscription item in time").map(|r| r.expect("no error"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_puts_concurrent_appends_into_few_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let before = store.stats();
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.append(&format!("pack-{i}"), ExpectedRevision::NoStream, vec![event()]).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("append");
    }
    let after = store.stats();
    assert_eq!(after.appends - before.appends, 64);
    assert_eq!(after.events - before.events, 64);
    let commits = after.commits - before.commits;
    assert!(commits <= 16, "64 concurrent appends took {commits} commits; group commit should share them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_append_does_not_fail_its_batch_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.append("webhook-x", ExpectedRevision::NoStream, vec![event()]).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                if i % 2 == 0 {
                    store.append(&format!("pack-{i}"), ExpectedRevision::NoStream, vec![event()]).await
                } else {
                    store.append("webhook-x", ExpectedRevision::Exact(7), vec![event()]).await
                }
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    for (i, result) in results.iter().enumerate() {
        if i % 2 == 0 {
            assert!(result.is_ok(), "append {i} must succeed: {result:?}");
        } else {
            assert!(matches!(result, Err(StoreError::WrongExpectedVersion { .. })), "append {i}: {result:?}");
        }
    }
    let all = store.read_all(AllPosition::Start, Direction::Forwards, 1000).await.unwrap();
    assert_eq!(all.len(), 17, "the 16 good appends and the first one, nothing else");
    let positions: Vec<u64> = all.iter().map(|e| e.position.commit).collect();
    assert_eq!(positions, (1..=17).collect::<Vec<_>>(), "positions stay dense");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_catches_up_from_the_file_and_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions { live_buffer: 2, page_size: 16, ..SqliteOptions::default() };
    let store = SqliteStore::open_with(dir.path().join("events.sqlite"), options).unwrap();
    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, None).await.unwrap();
    assert_eq!(next(&mut sub).await, Some(SubscriptionEvent::CaughtUp));
    // 200 commits while the subscriber does not read: far more than its live buffer.
    for i in 0..200 {
        store.append(&format!("pack-{}", i % 7), ExpectedRevision::Any, vec![event()]).await.unwrap();
    }
    let mut positions = Vec::new();
    while positions.len() < 200 {
        match next(&mut sub).await {
            Some(SubscriptionEvent::Event(e)) => positions.push(e.position.commit),
            other => panic!("only events after caught-up, got {other:?}"),
        }
    }
    assert_eq!(positions, (1..=200).collect::<Vec<_>>(), "no gap, no duplicate");
    store.append("pack-live", ExpectedRevision::Any, vec![event()]).await.unwrap();
    match next(&mut sub).await {
        Some(SubscriptionEvent::Event(e)) => assert_eq!(e.position.commit, 201, "live again after catching up"),
        other => panic!("expected the live event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_reader_does_not_block_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.append("pack-1", ExpectedRevision::Any, vec![event()]).await.unwrap();
    let reader = rusqlite::Connection::open(dir.path().join("events.sqlite")).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let count: i64 = reader.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).unwrap();
    assert_eq!(count, 1);
    // The read transaction stays open while the writer commits.
    let appended = tokio::time::timeout(WAIT, store.append("pack-1", ExpectedRevision::Exact(0), vec![event()])).await;
    assert_eq!(appended.expect("append in time").unwrap().next_expected_revision, 1);
    let still: i64 = reader.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).unwrap();
    assert_eq!(still, 1, "the reader keeps its snapshot");
    reader.execute_batch("COMMIT").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_uses_write_ahead_logging() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.append("pack-1", ExpectedRevision::Any, vec![event()]).await.unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("events.sqlite")).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_live_subscriptions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut sub = store.subscribe_to_all(SubscribeFrom::End, None).await.unwrap();
    assert_eq!(next(&mut sub).await, Some(SubscriptionEvent::CaughtUp));
    store.close().await.unwrap();
    assert_eq!(next(&mut sub).await, None, "the subscription ends with the store");
    let subscribe = store.subscribe_to_all(SubscribeFrom::End, None).await;
    assert!(matches!(subscribe, Err(StoreError::Closed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_append_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let result = store.append("pack-1", ExpectedRevision::Any, Vec::new()).await;
    assert!(matches!(result, Err(StoreError::InvalidArgument(_))), "got {result:?}");
    let read = store.read_stream("pack-1", StreamPosition::Start, Direction::Forwards, 1).await;
    assert!(matches!(read, Err(StoreError::StreamNotFound(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_stops_the_writer_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let result = store.append("pack-1", ExpectedRevision::Any, vec![event(), event()]).await.unwrap();
    drop(store);
    let store = open(&dir);
    assert_eq!(store.head().await.unwrap(), Some(result.position));
    let read = store.read_stream("pack-1", StreamPosition::Start, Direction::Forwards, 10).await.unwrap();
    assert_eq!(read.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_the_first_layout_keeps_its_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT NOT NULL, revision INTEGER NOT NULL,
                 event_id BLOB NOT NULL, event_type TEXT NOT NULL, data BLOB NOT NULL, metadata BLOB NOT NULL,
                 created INTEGER NOT NULL);
             CREATE TABLE streams (name TEXT PRIMARY KEY, last_revision INTEGER,
                 deleted_before INTEGER NOT NULL DEFAULT 0, tombstoned INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
             INSERT INTO streams VALUES ('kept-1', 0, 0, 0), ('soft-1', 0, 1, 0), ('gone-1', 0, 1, 1);",
        )
        .unwrap();
        for (position, stream) in [(1, "kept-1"), (2, "soft-1"), (3, "gone-1")] {
            conn.execute(
                "INSERT INTO events VALUES (?1, ?2, 0, ?3, 'Tested', x'7b7d', x'7b7d', 0)",
                rusqlite::params![position, stream, Uuid::new_v4().as_bytes().as_slice()],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(&path).unwrap();
    let read = |s: &'static str| store.read_stream(s, StreamPosition::Start, Direction::Forwards, 10);
    assert_eq!(read("kept-1").await.unwrap().len(), 1);
    assert!(matches!(read("soft-1").await, Err(StoreError::StreamNotFound(_))));
    assert!(matches!(read("gone-1").await, Err(StoreError::StreamDeleted(_))));
    let next = store.append("soft-1", ExpectedRevision::Any, vec![event()]).await.unwrap();
    assert_eq!(next.next_expected_revision, 1, "numbering continues after the soft delete");
    assert_eq!(next.position.commit, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_id_known_in_another_stream_is_a_new_event_here() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let shared = event();
    store.append("pack-a", ExpectedRevision::Any, vec![event(), shared.clone()]).await.unwrap();
    let here = store.append("pack-b", ExpectedRevision::Any, vec![shared.clone()]).await.unwrap();
    assert_eq!(here.next_expected_revision, 0, "written to pack-b, not taken for a retry");
    assert_eq!(here.position.commit, 3);
    let retry = store.append("pack-b", ExpectedRevision::Any, vec![shared]).await.unwrap();
    assert_eq!(retry, here, "and a retry in pack-b is one");
}

/// The log holds webhook signing secrets: a store created by `open` is readable by its
/// owner only, its write-ahead log included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_database_file_and_its_wal_are_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let store = SqliteStore::open(&path).expect("open");
    store.append("webhook-1", ExpectedRevision::NoStream, vec![event()]).await.unwrap();
    for file in [path.clone(), path.with_extension("sqlite-wal")] {
        let mode = std::fs::metadata(&file).expect("the file exists").permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is open to others: {mode:o}", file.display());
    }
    store.close().await.unwrap();
}
