//! Reads: a small pool of read-only connections used from blocking tasks, and the queries
//! for streams and `$all`.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::schema;
use crate::{AllPosition, Direction, Position, RecordedEvent, StoreError, StreamPosition};

/// Read-only connections, opened on demand and kept for reuse (up to `max_idle`).
pub(crate) struct ReadPool {
    path: PathBuf,
    idle: parking_lot::Mutex<Vec<Connection>>,
    max_idle: usize,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf, max_idle: usize) -> Self {
        ReadPool { path, idle: parking_lot::Mutex::new(Vec::new()), max_idle }
    }

    /// Runs `f` on a pooled connection in a blocking task.
    pub(crate) async fn with<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || pool.run(f)).await.map_err(|e| StoreError::Backend(Box::new(e)))?
    }

    fn run<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let pooled = self.idle.lock().pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => schema::open_reader(&self.path)?,
        };
        let result = f(&mut conn);
        let mut idle = self.idle.lock();
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
        result
    }

    /// Drops the idle connections (on close).
    pub(crate) fn clear(&self) {
        self.idle.lock().clear();
    }
}

/// The columns every event query selects, in the order [`event_from_row`] reads them.
pub(crate) const EVENT_COLUMNS: &str = "position, stream, revision, event_id, event_type, data, metadata, created";

pub(crate) fn event_from_row(row: &Row<'_>) -> rusqlite::Result<RecordedEvent> {
    let position: i64 = row.get(0)?;
    let id = row.get_ref(3)?.as_blob()?;
    let id = Uuid::from_slice(id)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Blob, Box::new(e)))?;
    let created: i64 = row.get(7)?;
    Ok(RecordedEvent {
        id,
        stream: row.get(1)?,
        revision: row.get::<_, i64>(2)? as u64,
        position: Position::at(position as u64),
        event_type: row.get(4)?,
        data: Bytes::from(row.get::<_, Vec<u8>>(5)?),
        metadata: Bytes::from(row.get::<_, Vec<u8>>(6)?),
        created: DateTime::<Utc>::from_timestamp_micros(created).unwrap_or_default(),
    })
}

/// The state of one stream, as the events and `deleted_streams` give it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StreamRow {
    /// Revision of the last event ever written, deleted or not.
    pub last: Option<u64>,
    /// First revision still visible after a soft delete.
    pub deleted_before: u64,
    pub tombstoned: bool,
}

impl StreamRow {
    /// The last revision readers can see: `None` for a missing or soft-deleted stream.
    pub(crate) fn visible_last(&self) -> Option<u64> {
        self.last.filter(|last| *last >= self.deleted_before)
    }

    /// The revision the next appended event gets (numbering continues after a soft delete).
    pub(crate) fn next_revision(&self) -> u64 {
        self.last.map_or(0, |last| last + 1)
    }
}

/// What the file says about one stream (all defaults when it never existed).
pub(crate) fn stream_row(conn: &Connection, stream: &str) -> Result<StreamRow, StoreError> {
    let last: Option<i64> =
        conn.prepare_cached("SELECT MAX(revision) FROM events WHERE stream = ?1")?.query_row([stream], |r| r.get(0))?;
    let deleted = conn
        .prepare_cached("SELECT deleted_before, tombstoned FROM deleted_streams WHERE name = ?1")?
        .query_row([stream], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, bool>(1)?)))
        .optional()?;
    let (deleted_before, tombstoned) = deleted.unwrap_or_default();
    Ok(StreamRow { last: last.map(|l| l as u64), deleted_before, tombstoned })
}

fn limit(max_count: usize) -> i64 {
    i64::try_from(max_count).unwrap_or(i64::MAX)
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn read_stream(
    conn: &mut Connection,
    stream: &str,
    from: StreamPosition,
    direction: Direction,
    max_count: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    // One read transaction, so the stream's state and its events come from one snapshot.
    let tx = conn.transaction()?;
    let row = stream_row(&tx, stream)?;
    if row.tombstoned {
        return Err(StoreError::StreamDeleted(stream.to_owned()));
    }
    let Some(last) = row.visible_last() else {
        return Err(StoreError::StreamNotFound(stream.to_owned()));
    };
    let first = row.deleted_before;
    let events = match direction {
        Direction::Forwards => {
            let start = match from {
                StreamPosition::Start => first,
                StreamPosition::Revision(r) => r.max(first),
                StreamPosition::End => return Ok(Vec::new()),
            };
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE stream = ?1 AND revision >= ?2 ORDER BY revision ASC LIMIT ?3"
            ))?;
            let rows = stmt.query_map(rusqlite::params![stream, clamp(start), limit(max_count)], event_from_row)?;
            rows.collect::<Result<Vec<_>, _>>()?
        }
        Direction::Backwards => {
            let start = match from {
                StreamPosition::Start => first,
                StreamPosition::Revision(r) => r.min(last),
                StreamPosition::End => last,
            };
            if start < first {
                return Ok(Vec::new());
            }
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE stream = ?1 AND revision <= ?2 AND revision >= ?3 \
                 ORDER BY revision DESC LIMIT ?4"
            ))?;
            let rows = stmt
                .query_map(rusqlite::params![stream, clamp(start), clamp(first), limit(max_count)], event_from_row)?;
            rows.collect::<Result<Vec<_>, _>>()?
        }
    };
    Ok(events)
}

pub(crate) fn read_all(
    conn: &mut Connection,
    from: AllPosition,
    direction: Direction,
    max_count: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    match direction {
        Direction::Forwards => {
            let start = match from {
                AllPosition::Start => 0,
                AllPosition::Position(p) => p.commit,
                AllPosition::End => return Ok(Vec::new()),
            };
            read_all_after(conn, start.saturating_sub(1), max_count)
        }
        Direction::Backwards => {
            // From a position, backwards excludes it (as EventStoreDB reads); from the end,
            // the last event is the first read.
            let before = match from {
                AllPosition::Start => return Ok(Vec::new()),
                AllPosition::Position(p) => clamp(p.commit),
                AllPosition::End => i64::MAX,
            };
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE position < ?1 ORDER BY position DESC LIMIT ?2"
            ))?;
            let rows = stmt.query_map(rusqlite::params![before, limit(max_count)], event_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        }
    }
}

/// Up to `max_count` events of `$all` strictly after position `after`, in order.
pub(crate) fn read_all_after(
    conn: &Connection,
    after: u64,
    max_count: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE position > ?1 ORDER BY position ASC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(rusqlite::params![clamp(after), limit(max_count)], event_from_row)?;
    let mut events = Vec::with_capacity(max_count.min(4096));
    for row in rows {
        events.push(row?);
    }
    Ok(events)
}
