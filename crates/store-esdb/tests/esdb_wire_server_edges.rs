//! The wire test server's idempotency for expected "any" is best effort, as a real
//! server's: a retry is recognised while its first event id is in a bounded cache of recent
//! writes, and written again once the id has left it. (The other edges, system events and
//! sparse positions, are `server_*` conformance cases.)

use std::net::SocketAddr;
use std::sync::Arc;

use packhooks_store::sqlite::SqliteStore;
use packhooks_store::{Direction, EventData, EventStore, ExpectedRevision, StreamPosition};
use packhooks_store_esdb::wire_server::{Quirks, WireServer};
use packhooks_store_esdb::EsdbStore;
use uuid::Uuid;

fn event(n: usize) -> EventData {
    EventData::json(Uuid::new_v4(), "Tested", format!(r#"{{"n":{n}}}"#), "{}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_any_is_recognised_only_while_its_id_is_in_the_servers_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backing: Arc<dyn EventStore> =
        Arc::new(SqliteStore::open(dir.path().join("events.sqlite")).expect("open sqlite"));
    let quirks = Quirks { idempotency_cache: 4, stats_every: 0, ..Quirks::default() };
    let server = WireServer::start_with(SocketAddr::from(([127, 0, 0, 1], 0)), backing, quirks).await.expect("start");
    let store = EsdbStore::connect(&server.connection_string()).expect("connect");

    let s = format!("pack-{}", Uuid::new_v4().simple());
    let batch = vec![event(0), event(1)];
    let first = store.append(&s, ExpectedRevision::Any, batch.clone()).await.expect("append");
    let retry = store.append(&s, ExpectedRevision::Any, batch.clone()).await.expect("retry");
    assert_eq!(retry, first, "recognised while cached");

    for n in 0..4 {
        store.append(&s, ExpectedRevision::Any, vec![event(n)]).await.expect("other writes");
    }
    let late = store.append(&s, ExpectedRevision::Any, batch.clone()).await.expect("a late retry");
    assert_eq!(late.next_expected_revision, 7, "written again after its id left the cache");
    let read = store.read_stream(&s, StreamPosition::Start, Direction::Forwards, 100).await.expect("read");
    assert_eq!(read.len(), 8, "the stream holds the batch twice, as on a real server");
    assert_eq!(read[6].data, batch[0].data);

    // An exact expectation is checked against the stream itself, not the cache.
    let exact = store.append(&s, ExpectedRevision::Exact(1), batch).await;
    assert!(exact.is_err(), "the ids at revision 2… are others: a conflict, got {exact:?}");
}
