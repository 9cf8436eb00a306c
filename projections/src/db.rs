//! The read-model database: opening it, and the `projection_versions` table that says which
//! table set (generation) of each projection serves reads, where each set's checkpoint is,
//! and which set a rebuild is building beside it.
//!
//! Every projection's tables carry a generation suffix (`health_g3`), so a rebuild creates
//! generation 4 beside generation 3 and the swap is one transaction that flips the `state`
//! column of two rows. Readers look up the active generation inside their read transaction,
//! so they see either the old set or the new one, never a mix.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use packhooks_store::Position;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::projection::{Projection, Tables};
use crate::ProjectionError;

/// The file name of the read-model database inside the data directory.
pub const FILE_NAME: &str = "read-models.sqlite";

/// How long a connection waits for another writer (the server's runner, a CLI rebuild)
/// before it gives up with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const META_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS projection_versions (
    name TEXT NOT NULL,
    generation INTEGER NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('building', 'active', 'retired')),
    checkpoint_commit INTEGER,
    checkpoint_prepare INTEGER,
    events_applied INTEGER NOT NULL DEFAULT 0,
    target_commit INTEGER,
    heartbeat_at TEXT NOT NULL,
    PRIMARY KEY (name, generation)
);
CREATE UNIQUE INDEX IF NOT EXISTS projection_versions_one_active
    ON projection_versions (name) WHERE state = 'active';
";

/// Opens (creating if needed) the read-model database: WAL, a busy timeout so that two
/// processes can write it in turn, and `synchronous=NORMAL` (a crash loses at most the last
/// transactions, read model and checkpoint together, which the runner then simply redoes).
pub fn open(path: &Path) -> Result<Connection, ProjectionError> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Switching to WAL takes an exclusive lock without the busy handler, so a second
    // connection opened while another one writes would fail at once: ask first (a file
    // already in WAL mode needs no switch), and retry the switch while the file is busy.
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if mode.eq_ignore_ascii_case("wal") {
            break;
        }
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => other?,
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -65536)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.execute_batch(META_SCHEMA)?;
    Ok(conn)
}

/// Where a table set stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SetState {
    Building,
    Active,
    Retired,
}

impl SetState {
    fn as_str(self) -> &'static str {
        match self {
            SetState::Building => "building",
            SetState::Active => "active",
            SetState::Retired => "retired",
        }
    }
    fn parse(s: &str) -> Result<Self, ProjectionError> {
        match s {
            "building" => Ok(SetState::Building),
            "active" => Ok(SetState::Active),
            "retired" => Ok(SetState::Retired),
            other => Err(ProjectionError::Corrupt { what: "projection_versions.state", value: other.into() }),
        }
    }
}

/// One row of `projection_versions`: a table set of a projection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSet {
    pub name: String,
    pub generation: u64,
    /// The projection code version that built this set.
    pub version: u32,
    pub state: SetState,
    /// The last `$all` position reflected in this set's tables (`None`: nothing yet).
    pub checkpoint: Option<Position>,
    pub events_applied: u64,
    /// For a set being built: the head of `$all` when the rebuild started (for progress).
    pub target: Option<u64>,
    pub heartbeat_at: String,
}

impl TableSet {
    pub fn tables(&self) -> Tables {
        Tables::new(self.generation)
    }
}

/// A position as its two SQL columns; a part above `i64::MAX` is an error, never a wrap to a
/// negative number (which would compare below every stored position).
pub(crate) fn pos_to_sql(p: Position) -> rusqlite::Result<(i64, i64)> {
    let part = |n: u64| i64::try_from(n).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)));
    Ok((part(p.commit)?, part(p.prepare)?))
}

/// Whether table `base` exists in the set `t` (a set of an older version, still serving
/// while the new one is built, may lack a table a later version added).
pub(crate) fn has_table(conn: &Connection, t: &Tables, base: &str) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
        .query_row([t.name(base)], |_| Ok(()))
        .optional()?
        .is_some())
}

pub(crate) fn pos_from_sql(commit: Option<i64>, prepare: Option<i64>) -> Option<Position> {
    match (commit, prepare) {
        (Some(c), Some(p)) => Some(Position { commit: c as u64, prepare: p as u64 }),
        _ => None,
    }
}

const SET_COLUMNS: &str = "name, generation, version, state, checkpoint_commit, checkpoint_prepare, \
     events_applied, target_commit, heartbeat_at";

fn set_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(TableSet, String)> {
    let state: String = row.get(3)?;
    Ok((
        TableSet {
            name: row.get(0)?,
            generation: row.get::<_, i64>(1)? as u64,
            version: row.get::<_, i64>(2)? as u32,
            state: SetState::Active,
            checkpoint: pos_from_sql(row.get(4)?, row.get(5)?),
            events_applied: row.get::<_, i64>(6)? as u64,
            target: row.get::<_, Option<i64>>(7)?.map(|t| t as u64),
            heartbeat_at: row.get(8)?,
        },
        state,
    ))
}

fn finish(found: Option<(TableSet, String)>) -> Result<Option<TableSet>, ProjectionError> {
    found
        .map(|(mut set, state)| {
            set.state = SetState::parse(&state)?;
            Ok(set)
        })
        .transpose()
}

/// The set of `name` in `state` (at most one is active; at most one is building).
pub fn set_in_state(conn: &Connection, name: &str, state: SetState) -> Result<Option<TableSet>, ProjectionError> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {SET_COLUMNS} FROM projection_versions WHERE name = ?1 AND state = ?2 \
             ORDER BY generation DESC LIMIT 1"
        ))?
        .query_row(params![name, state.as_str()], set_from_row)
        .optional()?;
    finish(found)
}

/// Every set of every projection, for status views.
pub fn all_sets(conn: &Connection) -> Result<Vec<TableSet>, ProjectionError> {
    let mut stmt = conn.prepare(&format!("SELECT {SET_COLUMNS} FROM projection_versions ORDER BY name, generation"))?;
    let rows = stmt.query_map([], set_from_row)?.collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(|r| finish(Some(r)).map(|s| s.expect("some"))).collect()
}

/// The active generation of `name`, read inside the caller's transaction.
pub fn active_generation(conn: &Connection, name: &str) -> Result<Option<u64>, ProjectionError> {
    Ok(conn
        .prepare_cached("SELECT generation FROM projection_versions WHERE name = ?1 AND state = 'active'")?
        .query_row([name], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|g| g as u64))
}

/// Creates a new, empty table set of `projection` in `state`, with the next generation number.
pub fn create_set(
    tx: &Transaction<'_>,
    projection: &dyn Projection,
    state: SetState,
    target: Option<u64>,
) -> Result<TableSet, ProjectionError> {
    let generation: i64 = tx.query_row(
        "SELECT COALESCE(MAX(generation), 0) + 1 FROM projection_versions WHERE name = ?1",
        [projection.name()],
        |r| r.get(0),
    )?;
    let tables = Tables::new(generation as u64);
    for base in projection.tables() {
        tx.execute_batch(&format!("DROP TABLE IF EXISTS {}", tables.name(base)))?;
    }
    tx.execute_batch(&projection.schema(&tables))?;
    let now = now_rfc3339();
    tx.execute(
        "INSERT INTO projection_versions (name, generation, version, state, target_commit, heartbeat_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![projection.name(), generation, projection.version(), state.as_str(), target.map(|t| t as i64), now],
    )?;
    Ok(TableSet {
        name: projection.name().into(),
        generation: generation as u64,
        version: projection.version(),
        state,
        checkpoint: None,
        events_applied: 0,
        target,
        heartbeat_at: now,
    })
}

/// Drops a set's tables and its row.
pub fn drop_set(tx: &Transaction<'_>, projection: &dyn Projection, generation: u64) -> Result<(), ProjectionError> {
    let tables = Tables::new(generation);
    for base in projection.tables() {
        tx.execute_batch(&format!("DROP TABLE IF EXISTS {}", tables.name(base)))?;
    }
    tx.execute(
        "DELETE FROM projection_versions WHERE name = ?1 AND generation = ?2",
        params![projection.name(), generation as i64],
    )?;
    Ok(())
}

/// Records how far a set has got, in the same transaction as the read-model writes.
pub fn save_checkpoint(
    tx: &Transaction<'_>,
    name: &str,
    generation: u64,
    checkpoint: Position,
    applied: u64,
    heartbeat: bool,
) -> Result<(), ProjectionError> {
    let (c, p) = pos_to_sql(checkpoint)?;
    if heartbeat {
        tx.prepare_cached(
            "UPDATE projection_versions SET checkpoint_commit = ?3, checkpoint_prepare = ?4, \
             events_applied = events_applied + ?5, heartbeat_at = ?6 WHERE name = ?1 AND generation = ?2",
        )?
        .execute(params![name, generation as i64, c, p, applied as i64, now_rfc3339()])?;
    } else {
        tx.prepare_cached(
            "UPDATE projection_versions SET checkpoint_commit = ?3, checkpoint_prepare = ?4, \
             events_applied = events_applied + ?5 WHERE name = ?1 AND generation = ?2",
        )?
        .execute(params![name, generation as i64, c, p, applied as i64])?;
    }
    Ok(())
}

/// Makes `generation` the active set of `name` and retires the one it replaces; returns the
/// retired generation. Readers see the flip at once, in one transaction.
pub fn swap(tx: &Transaction<'_>, name: &str, generation: u64) -> Result<Option<u64>, ProjectionError> {
    let old = active_generation(tx, name)?;
    tx.execute("UPDATE projection_versions SET state = 'retired' WHERE name = ?1 AND state = 'active'", [name])?;
    tx.execute(
        "UPDATE projection_versions SET state = 'active', target_commit = NULL WHERE name = ?1 AND generation = ?2",
        params![name, generation as i64],
    )?;
    Ok(old)
}

/// Now, as stored in `projection_versions`: RFC 3339 UTC with `Z`.
fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_past_i64_are_refused_not_wrapped() {
        assert_eq!(pos_to_sql(Position { commit: 7, prepare: 5 }).unwrap(), (7, 5));
        assert_eq!(pos_to_sql(Position::at(i64::MAX as u64)).unwrap(), (i64::MAX, i64::MAX));
        for p in [Position::at(u64::MAX), Position { commit: 1, prepare: i64::MAX as u64 + 1 }] {
            let error = pos_to_sql(p).unwrap_err();
            assert!(matches!(error, rusqlite::Error::ToSqlConversionFailure(_)), "{p}: {error:?}");
        }
    }
}
