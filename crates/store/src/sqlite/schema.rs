//! The database layout and how connections are opened (pragmas for durability and speed).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::StoreError;

/// One row per event. `position` is the dense `$all` position (commit = prepare), assigned
/// by the single writer. `event_id` is indexed (not unique) for the idempotency checks.
/// `streams` keeps what the events alone cannot say: soft deletes (`deleted_before`, the
/// first revision still visible) and tombstones.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    position   INTEGER PRIMARY KEY,
    stream     TEXT    NOT NULL,
    revision   INTEGER NOT NULL,
    event_id   BLOB    NOT NULL,
    event_type TEXT    NOT NULL,
    data       BLOB    NOT NULL,
    metadata   BLOB    NOT NULL,
    created    INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_stream_revision ON events (stream, revision);
CREATE INDEX IF NOT EXISTS events_event_id ON events (event_id);
CREATE TABLE IF NOT EXISTS streams (
    name           TEXT    PRIMARY KEY,
    last_revision  INTEGER,
    deleted_before INTEGER NOT NULL DEFAULT 0,
    tombstoned     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
";

/// Opens the writer's connection: WAL, and `synchronous=FULL` so that a committed
/// transaction is on disk (the WAL is fsynced at every commit) before anyone is answered.
pub(crate) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::InvalidArgument(format!(
            "{} cannot use write-ahead logging (journal mode {mode})",
            path.display()
        )));
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = OFF;
         PRAGMA cache_size = -16384;",
    )?;
    conn.execute_batch(SCHEMA)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Opens a read-only connection; in WAL mode it reads a snapshot and never blocks the writer.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch("PRAGMA cache_size = -16384;")?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// The position of the last event, 0 when there is none.
pub(crate) fn head(conn: &Connection) -> Result<u64, StoreError> {
    let head: i64 = conn.query_row("SELECT COALESCE(MAX(position), 0) FROM events", [], |r| r.get(0))?;
    Ok(head as u64)
}
