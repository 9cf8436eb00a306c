//! The database layout and how connections are opened (pragmas for durability and speed).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::StoreError;

/// One row per event. `position` is the dense `$all` position (commit = prepare), assigned
/// by the single writer. Event ids are not indexed (see `seen_ids`: random ids would make
/// every append rewrite a random index page); idempotency checks search a stream. A
/// stream's last revision is the top of `events_stream_revision`, so an append writes only
/// its events; `deleted_streams` keeps what the events cannot say: soft deletes
/// (`deleted_before`, the first revision still visible) and tombstones.
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
DROP INDEX IF EXISTS events_event_id;
CREATE TABLE IF NOT EXISTS deleted_streams (
    name           TEXT    PRIMARY KEY,
    deleted_before INTEGER NOT NULL,
    tombstoned     INTEGER NOT NULL
) WITHOUT ROWID;
";

/// The layout version this code writes (`PRAGMA user_version`).
const VERSION: i64 = 3;

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
    // No automatic checkpoint: it would run inside the writer's COMMIT and stall every
    // append queued behind it. The checkpoint thread does it (see `checkpointer`).
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA wal_autocheckpoint = 0;
         PRAGMA foreign_keys = OFF;
         PRAGMA cache_size = -32768;",
    )?;
    migrate(&conn, path)?;
    conn.set_prepared_statement_cache_capacity(32);
    // While the checkpoint thread restarts the WAL, it holds the write lock for a few
    // milliseconds: retry often rather than with SQLite's backoff (1, 2, 5, 10 ms, ...).
    conn.busy_handler(Some(retry_soon))?;
    Ok(conn)
}

/// The writer's busy handler: waits 100 us per try, for 5 s in all.
fn retry_soon(tries: i32) -> bool {
    std::thread::sleep(Duration::from_micros(100));
    tries < 50_000
}

/// The checkpoint thread's busy handler: waits 100 us per try, for about 100 ms in all. A
/// RESTART holds the write lock while it waits for readers to leave the WAL, so every append
/// waits with it; a RESTART that gives up is tried again at the next nudge.
fn retry_soon_briefly(tries: i32) -> bool {
    std::thread::sleep(Duration::from_micros(100));
    tries < 1_000
}

/// Opens the checkpoint thread's connection: it only checkpoints, with the writer's
/// durability (`synchronous=FULL`: the database file is synced after each checkpoint).
pub(crate) fn open_checkpointer(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    // A RESTART waits for the writer's transaction to end and readers to leave the WAL,
    // and the writer waits with it: retry often, for about 100 ms.
    conn.busy_handler(Some(retry_soon_briefly))?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA wal_autocheckpoint = 0;
         PRAGMA cache_size = -2048;",
    )?;
    Ok(conn)
}

/// Creates the layout, or brings a file of the first layout (a `streams` table written at
/// every append) up to date.
fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > VERSION {
        return Err(StoreError::InvalidArgument(format!(
            "{} has store layout {version}; this build knows up to {VERSION}",
            path.display()
        )));
    }
    conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA}"))?;
    let old_streams: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'streams')",
        [],
        |r| r.get(0),
    )?;
    if old_streams {
        conn.execute_batch(
            "INSERT OR REPLACE INTO deleted_streams (name, deleted_before, tombstoned)
                 SELECT name, deleted_before, tombstoned FROM streams WHERE deleted_before > 0 OR tombstoned;
             DROP TABLE streams;",
        )?;
    }
    conn.execute_batch(&format!("PRAGMA user_version = {VERSION}; COMMIT"))?;
    Ok(())
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

/// Whether a read-only store can read the file at `conn`: false when it holds no store (no
/// `events` table: an empty file); an error when its layout is not the one this code reads
/// (newer, or older and not yet brought up to date by a writer).
pub(crate) fn check_readable(conn: &Connection, path: &Path) -> Result<bool, StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let has_events: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events')",
        [],
        |r| r.get(0),
    )?;
    if version == VERSION {
        return Ok(true);
    }
    if version == 0 && !has_events {
        return Ok(false);
    }
    Err(StoreError::InvalidArgument(format!(
        "{} has store layout {version}; this build reads layout {VERSION} (a writer, `packhooks serve`, \
         brings an older file up to date when it opens it)",
        path.display()
    )))
}

/// Every event id in the file, for the writer's [`SeenIds`](super::seen_ids::SeenIds).
pub(crate) fn seen_ids(conn: &Connection) -> Result<super::seen_ids::SeenIds, StoreError> {
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
    let mut seen = super::seen_ids::SeenIds::with_capacity(count as usize * 2);
    let mut stmt = conn.prepare("SELECT event_id FROM events")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let id = row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
        seen.insert(
            uuid::Uuid::from_slice(id)
                .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e)))?,
        );
    }
    Ok(seen)
}

/// The position of the last event, 0 when there is none.
pub(crate) fn head(conn: &Connection) -> Result<u64, StoreError> {
    let head: i64 = conn.query_row("SELECT COALESCE(MAX(position), 0) FROM events", [], |r| r.get(0))?;
    Ok(head as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pragmas of a connection as `(journal_mode, synchronous)`; synchronous is 2 for FULL.
    fn durability(conn: &Connection) -> (String, i64) {
        let mode = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("journal_mode");
        let synchronous = conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).expect("synchronous");
        (mode, synchronous)
    }

    /// "A command answered 2xx is synced to disk before the answer" rests on these two
    /// pragmas of the writer: in WAL mode `synchronous=NORMAL` (SQLite's usual advice) would
    /// skip the fsync at commit, and a power cut could lose acknowledged events.
    #[test]
    fn the_writer_commits_in_wal_mode_with_synchronous_full() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("events.sqlite");
        let writer = open_writer(&path).expect("the writer's connection opens");
        assert_eq!(durability(&writer), ("wal".to_owned(), 2));
        // The checkpointer syncs the database file after moving the WAL into it.
        let checkpointer = open_checkpointer(&path).expect("the checkpointer's connection opens");
        assert_eq!(durability(&checkpointer), ("wal".to_owned(), 2));
    }
}
