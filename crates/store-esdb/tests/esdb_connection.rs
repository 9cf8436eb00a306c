//! The client's connection traps, over the wire test server on 127.0.0.1:
//! - a client whose first connection fails stays dead: the store rebuilds it and works once
//!   the server is up;
//! - a subscription survives the server going away and coming back, resuming after the
//!   last position it yielded, with no gap, no duplicate and one caught-up;
//! - a subscriber that does not read while thousands of events are written (gRPC flow
//!   control holds the server's feeder back, and the store drops it from the live feed)
//!   still gets every event once, in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use packhooks_store::sqlite::{SqliteOptions, SqliteStore};
use packhooks_store::{
    Direction, EventData, EventStore, ExpectedRevision, StoreError, StreamPosition, SubscribeFrom, SubscriptionEvent,
    SubscriptionFilter,
};
use packhooks_store_esdb::wire_server::{connection_string, Quirks, WireServer};
use packhooks_store_esdb::EsdbStore;
use uuid::Uuid;

/// The longest any condition below may take to come true.
const DEADLINE: Duration = Duration::from_secs(20);

fn event(n: usize) -> EventData {
    EventData::json(Uuid::new_v4(), "Tested", format!(r#"{{"n":{n}}}"#), "{}")
}

/// A port on 127.0.0.1 that nothing listens on (for now).
async fn free_address() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("address")
}

fn sqlite(dir: &tempfile::TempDir) -> Arc<dyn EventStore> {
    Arc::new(SqliteStore::open(dir.path().join("events.sqlite")).expect("open sqlite"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_first_connection_failed_is_rebuilt_once_the_server_is_up() {
    let address = free_address().await;
    let store = EsdbStore::connect(&connection_string(address)).expect("connect (lazily)");

    let refused = store.append("pack-1", ExpectedRevision::Any, vec![event(0)]).await;
    match &refused {
        Err(error) => assert!(error.is_retryable(), "no server yet is retryable, got {error:?}"),
        Ok(result) => panic!("nothing listens yet, got {result:?}"),
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let _server = WireServer::start_on(address, sqlite(&dir)).await.expect("start the server on that port");

    // Without a rebuild the first client would answer ConnectionClosed for ever.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let written = loop {
        match store.append("pack-1", ExpectedRevision::Any, vec![event(1)]).await {
            Ok(written) => break written,
            Err(error) if error.is_retryable() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("the store never recovered: {error:?}"),
        }
    };
    assert_eq!(written.next_expected_revision, 0, "the refused append wrote nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_resumes_after_the_server_comes_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backing = sqlite(&dir);
    let server = WireServer::start(Arc::clone(&backing)).await.expect("start");
    let address = server.address();
    let store = EsdbStore::connect(&server.connection_string()).expect("connect");

    let mut sent = Vec::new();
    for n in 0..5 {
        let e = event(n);
        sent.push(e.id);
        store.append("pack-a", ExpectedRevision::Any, vec![e]).await.expect("append");
        store.append("noise-a", ExpectedRevision::Any, vec![event(n)]).await.expect("append");
    }
    let filter = SubscriptionFilter::StreamPrefix(vec!["pack-".into()]);
    let mut subscription = store.subscribe_to_all(SubscribeFrom::Start, Some(filter)).await.expect("subscribe");
    let mut seen = Vec::new();
    let mut caught_up = 0;
    while caught_up == 0 {
        match next(&mut subscription).await {
            SubscriptionEvent::Event(e) => seen.push(e.id),
            SubscriptionEvent::CaughtUp => caught_up += 1,
            SubscriptionEvent::Checkpoint(_) => {}
        }
    }
    assert_eq!(seen, sent);

    // The node goes away; events are written behind its back; it comes back on its port.
    server.stop().await;
    for n in 5..10 {
        let e = event(n);
        sent.push(e.id);
        backing.append("pack-a", ExpectedRevision::Any, vec![e]).await.expect("append directly");
    }
    let _server = WireServer::start_on(address, Arc::clone(&backing)).await.expect("restart on the same port");

    while seen.len() < sent.len() {
        match next(&mut subscription).await {
            SubscriptionEvent::Event(e) => seen.push(e.id),
            SubscriptionEvent::CaughtUp => caught_up += 1,
            SubscriptionEvent::Checkpoint(_) => {}
        }
    }
    assert_eq!(seen, sent, "every event once, in order, across the outage");
    assert_eq!(caught_up, 1, "caught-up is said once");

    let live = event(99);
    store.append("pack-a", ExpectedRevision::Any, vec![live.clone()]).await.expect("append after the outage");
    loop {
        if let SubscriptionEvent::Event(e) = next(&mut subscription).await {
            assert_eq!(e.id, live.id);
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_misses_nothing() {
    const WRITERS: usize = 8;
    const APPENDS: usize = 25;
    const BATCH: usize = 10;
    let dir = tempfile::tempdir().expect("tempdir");
    // A tiny live buffer, so the stalled subscriber is dropped from the live feed for sure.
    let options = SqliteOptions { live_buffer: 2, ..SqliteOptions::default() };
    let backing: Arc<dyn EventStore> =
        Arc::new(SqliteStore::open_with(dir.path().join("events.sqlite"), options).expect("open sqlite"));
    let server = WireServer::start(Arc::clone(&backing)).await.expect("start");
    let store = EsdbStore::connect(&server.connection_string()).expect("connect");

    let mut subscription = store.subscribe_to_all(SubscribeFrom::End, None).await.expect("subscribe");
    assert_eq!(next(&mut subscription).await, SubscriptionEvent::CaughtUp);
    // Nobody reads the subscription while the writers run.
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let backing = Arc::clone(&backing);
            tokio::spawn(async move {
                for _ in 0..APPENDS {
                    // 2 KiB bodies: 4 MiB in all, past HTTP/2's windows and every buffer.
                    let batch = (0..BATCH)
                        .map(|n| {
                            EventData::json(
                                Uuid::new_v4(),
                                "Tested",
                                format!(r#"{{"n":{n},"pad":"{}"}}"#, "x".repeat(2048)),
                                "{}",
                            )
                        })
                        .collect();
                    backing.append(&format!("pack-{w}"), ExpectedRevision::Any, batch).await.expect("append");
                }
            })
        })
        .collect();
    for writer in writers {
        tokio::time::timeout(DEADLINE, writer).await.expect("writer finishes").expect("writer task");
    }

    let all = backing
        .read_all(packhooks_store::AllPosition::Start, packhooks_store::Direction::Forwards, usize::MAX)
        .await
        .expect("read $all");
    assert_eq!(all.len(), WRITERS * APPENDS * BATCH);
    let mut seen = Vec::new();
    while seen.len() < all.len() {
        match next(&mut subscription).await {
            SubscriptionEvent::Event(e) => seen.push(e.id),
            other => panic!("only events after caught-up, got {other:?}"),
        }
    }
    assert_eq!(seen, all.iter().map(|e| e.id).collect::<Vec<_>>(), "every event once, in $all order");
}

/// The next subscription item, failing the test if none comes within [`DEADLINE`].
async fn next(subscription: &mut packhooks_store::Subscription) -> SubscriptionEvent {
    match tokio::time::timeout(DEADLINE, subscription.next()).await {
        Ok(Some(Ok(item))) => item,
        Ok(Some(Err(error))) => panic!("the subscription failed: {error:?}"),
        Ok(None) => panic!("the subscription ended"),
        Err(_) => panic!("no subscription item within {DEADLINE:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_the_server_timed_out_is_retryable_and_its_retry_lands_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backing = sqlite(&dir);
    let quirks = Quirks { appends_time_out: true, ..Quirks::default() };
    let server = WireServer::start_with(SocketAddr::from(([127, 0, 0, 1], 0)), Arc::clone(&backing), quirks)
        .await
        .expect("start");
    let store = EsdbStore::connect(&server.connection_string()).expect("connect");

    // The server wrote the batch but answered that the write timed out (ABORTED), as a
    // node does when replication is slow: the caller must be told to try again.
    let batch = vec![event(0), event(1)];
    let timed_out = store.append("pack-t", ExpectedRevision::NoStream, batch.clone()).await;
    match &timed_out {
        Err(error @ StoreError::Unavailable(_)) => assert!(error.is_retryable()),
        other => panic!("a write timeout is a passing unavailability, got {other:?}"),
    }
    let retried = store.append("pack-t", ExpectedRevision::NoStream, batch).await.expect("the retry");
    assert_eq!(retried.next_expected_revision, 1);
    let written = backing.read_stream("pack-t", StreamPosition::Start, Direction::Forwards, 10).await.expect("read");
    assert_eq!(written.len(), 2, "the batch landed once");
}
