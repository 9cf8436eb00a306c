//! The store conformance suite, run against `EsdbStore` through the wire test server:
//! the real `eventstore` client, real gRPC over 127.0.0.1, and a SQLite store behind the
//! server. Test names read `esdb_over_wire_test_server::<case>`.

mod esdb_over_wire_test_server {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use packhooks_store::conformance::Backend;
    use packhooks_store::sqlite::SqliteStore;
    use packhooks_store::EventStore;
    use packhooks_store_esdb::wire_server::WireServer;
    use packhooks_store_esdb::EsdbStore;
    use tokio::sync::Mutex;

    /// One wire server per case directory: the first `open` starts it over
    /// `<dir>/events.sqlite`; opening again (after `close`) connects a new client to it.
    #[derive(Default)]
    struct OverWire {
        servers: Mutex<HashMap<PathBuf, WireServer>>,
    }

    #[async_trait::async_trait]
    impl Backend for OverWire {
        async fn open(&self, dir: &Path) -> Arc<dyn EventStore> {
            let mut servers = self.servers.lock().await;
            let server = match servers.entry(dir.to_owned()) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => {
                    let sqlite = SqliteStore::open(dir.join("events.sqlite")).expect("open the sqlite store");
                    entry.insert(WireServer::start(Arc::new(sqlite)).await.expect("start the wire test server"))
                }
            };
            Arc::new(EsdbStore::connect(&server.connection_string()).expect("connect to the wire test server"))
        }
    }

    packhooks_store::conformance_tests!(OverWire::default());
}
