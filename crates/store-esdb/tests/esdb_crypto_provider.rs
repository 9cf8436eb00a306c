//! The `eventstore` client installs rustls's crypto provider in its connection task; before
//! the patch in `vendor/eventstore/` it did so with `expect`, so a provider installed
//! earlier by anything else left every client of the process dead, and the store refused to
//! start. Both cases share this test binary's process (under `cargo test`): a provider
//! installed first, then several stores, all of which work.

use std::sync::Arc;

use packhooks_store::sqlite::SqliteStore;
use packhooks_store::{Direction, EventData, EventStore, ExpectedRevision, StreamPosition};
use packhooks_store_esdb::wire_server::WireServer;
use packhooks_store_esdb::EsdbStore;
use uuid::Uuid;

async fn works(store: &EsdbStore) {
    let stream = format!("pack-{}", Uuid::new_v4().simple());
    let event = EventData::json(Uuid::new_v4(), "Tested", "{}", "{}");
    store.append(&stream, ExpectedRevision::NoStream, vec![event.clone()]).await.expect("append");
    let read = store.read_stream(&stream, StreamPosition::Start, Direction::Forwards, 1).await.expect("read");
    assert_eq!(read[0].id, event.id);
}

async fn server(dir: &tempfile::TempDir) -> WireServer {
    let sqlite = SqliteStore::open(dir.path().join("events.sqlite")).expect("open sqlite");
    WireServer::start(Arc::new(sqlite)).await.expect("start the wire test server")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_connects_after_someone_else_installed_the_crypto_provider() {
    // Under `cargo test` another test of this binary may have installed it already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(&dir).await;
    let store = EsdbStore::connect(&server.connection_string()).expect("connect");
    works(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_stores_connect_in_one_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(&dir).await;
    let first = EsdbStore::connect(&server.connection_string()).expect("connect");
    works(&first).await;
    let second = EsdbStore::connect(&server.connection_string()).expect("a second connect");
    works(&second).await;
    works(&first).await;
}
