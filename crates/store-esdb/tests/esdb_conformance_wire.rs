//! The store conformance suite, run against `EsdbStore` through the wire test server:
//! the real `eventstore` client, real gRPC over 127.0.0.1, and a SQLite store behind the
//! server, which writes system events into `$all` and serves sparse positions as a real
//! server does. Test names read `esdb_over_wire_test_server::<case>`.

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
    packhooks_store::conformance_tests!(@cases OverWire::default();
        server_deletes_write_metadata_and_statistics_come_unasked,
        server_positions_are_sparse_and_an_append_shares_its_commit,
    );
}

/// The append cases again, with a server that answers appends without a position (as the
/// real one may for an idempotent retry): the backend finds the position itself.
mod esdb_over_wire_test_server_appends_without_position {
    use std::net::SocketAddr;
    use std::path::Path;
    use std::sync::Arc;

    use packhooks_store::conformance::Backend;
    use packhooks_store::sqlite::SqliteStore;
    use packhooks_store::EventStore;
    use packhooks_store_esdb::wire_server::{Quirks, WireServer};
    use packhooks_store_esdb::EsdbStore;
    use tokio::sync::Mutex;

    #[derive(Default)]
    struct WithoutPositions {
        /// Kept alive for the case's length.
        servers: Mutex<Vec<WireServer>>,
    }

    #[async_trait::async_trait]
    impl Backend for WithoutPositions {
        async fn open(&self, dir: &Path) -> Arc<dyn EventStore> {
            let sqlite = SqliteStore::open(dir.join("events.sqlite")).expect("open the sqlite store");
            let quirks = Quirks { appends_without_position: true, ..Quirks::default() };
            let server = WireServer::start_with(SocketAddr::from(([127, 0, 0, 1], 0)), Arc::new(sqlite), quirks)
                .await
                .expect("start the wire test server");
            let store = EsdbStore::connect(&server.connection_string()).expect("connect");
            self.servers.lock().await.push(server);
            Arc::new(store)
        }
    }

    packhooks_store::conformance_tests!(@cases WithoutPositions::default();
        append_no_stream_creates_the_stream_at_revision_zero,
        append_positions_increase_across_streams,
        idempotent_retry_with_any_writes_nothing,
        idempotent_retry_with_exact_revision_writes_nothing,
        head_is_none_when_empty_then_the_last_position,
    );
}
