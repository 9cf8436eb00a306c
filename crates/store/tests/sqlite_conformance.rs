//! The shared conformance suite, run against the embedded SQLite backend.

use std::path::Path;
use std::sync::Arc;

use packhooks_store::conformance::Backend;
use packhooks_store::sqlite::SqliteStore;
use packhooks_store::EventStore;

/// Opens `events.sqlite` in the case's directory.
struct Sqlite;

#[async_trait::async_trait]
impl Backend for Sqlite {
    async fn open(&self, dir: &Path) -> Arc<dyn EventStore> {
        Arc::new(SqliteStore::open(dir.join("events.sqlite")).expect("open the sqlite store"))
    }
}

packhooks_store::conformance_tests!(Sqlite);
