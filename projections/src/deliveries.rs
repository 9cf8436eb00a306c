//! The delivery view: one row per delivery of a webhook (its state, attempts, last and next
//! attempt), newest first, kept by the delivery-log projection next to its attempts, and the
//! attempts of one delivery.

use chrono::{DateTime, Utc};
use packhooks_store::Position;
use rusqlite::{params, OptionalExtension};

use crate::db::{pos_from_sql, pos_to_sql};
use crate::delivery_log::{self, AttemptEntry};
use crate::projection::{from_micros, micros, Tables};
use crate::ProjectionError;

/// The most deliveries one page holds.
pub const MAX_PAGE: usize = 200;

/// Where a delivery is.
pub mod state {
    /// Attempted, and another attempt is due.
    pub const PENDING: &str = "pending";
    /// An attempt succeeded.
    pub const DELIVERED: &str = "delivered";
    /// Given up: the last attempt failed, or the webhook was disabled or deleted first.
    pub const ABANDONED: &str = "abandoned";
    pub const ALL: [&str; 3] = [PENDING, DELIVERED, ABANDONED];
}

/// One delivery as the read model keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRow {
    pub delivery_id: String,
    /// The stream and revision of the delivered event (`pack-…` or `webhook-…`).
    pub source_stream: String,
    pub source_revision: u64,
    /// The `webhook-id` the receiver saw.
    pub message_id: String,
    pub test: bool,
    /// One of [`state`].
    pub state: String,
    pub attempts: u32,
    /// When it was first attempted (or given up, for one never attempted).
    pub first_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_success: Option<bool>,
    pub last_status: Option<u16>,
    pub last_code: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Its first event's `$all` position (the paging cursor).
    pub position: Position,
}

/// What a page of deliveries is limited to.
#[derive(Clone, Debug, Default)]
pub struct DeliveryFilter {
    /// One of [`state`].
    pub state: Option<String>,
    /// First attempted at or after.
    pub since: Option<DateTime<Utc>>,
    /// First attempted before.
    pub until: Option<DateTime<Utc>>,
    /// Older than this position (the cursor).
    pub before: Option<Position>,
}

const COLUMNS: &str = "delivery_id, source_stream, source_revision, message_id, test, state, attempts, first_at, \
    last_attempt_at, last_success, last_status, last_code, next_attempt_at, first_commit, first_prepare";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        delivery_id: r.get(0)?,
        source_stream: r.get(1)?,
        source_revision: r.get(2)?,
        message_id: r.get(3)?,
        test: r.get(4)?,
        state: r.get(5)?,
        attempts: r.get(6)?,
        first_at: r.get(7)?,
        last_attempt_at: r.get(8)?,
        last_success: r.get(9)?,
        last_status: r.get(10)?,
        last_code: r.get(11)?,
        next_attempt_at: r.get(12)?,
        commit: r.get(13)?,
        prepare: r.get(14)?,
    })
}

struct RawRow {
    delivery_id: String,
    source_stream: String,
    source_revision: i64,
    message_id: String,
    test: bool,
    state: String,
    attempts: u32,
    first_at: i64,
    last_attempt_at: Option<i64>,
    last_success: Option<bool>,
    last_status: Option<u16>,
    last_code: Option<String>,
    next_attempt_at: Option<i64>,
    commit: i64,
    prepare: i64,
}

impl RawRow {
    fn into_row(self) -> Result<DeliveryRow, ProjectionError> {
        Ok(DeliveryRow {
            delivery_id: self.delivery_id,
            source_stream: self.source_stream,
            source_revision: self.source_revision as u64,
            message_id: self.message_id,
            test: self.test,
            state: self.state,
            attempts: self.attempts,
            first_at: from_micros(self.first_at)?,
            last_attempt_at: self.last_attempt_at.map(from_micros).transpose()?,
            last_success: self.last_success,
            last_status: self.last_status,
            last_code: self.last_code,
            next_attempt_at: self.next_attempt_at.map(from_micros).transpose()?,
            position: pos_from_sql(Some(self.commit), Some(self.prepare)).expect("both present"),
        })
    }
}

/// Whether the active set has the deliveries table (a set of version 1, still serving while
/// version 2 is built, has not).
fn has_deliveries(conn: &rusqlite::Connection, t: &Tables) -> Result<bool, ProjectionError> {
    Ok(crate::db::has_table(conn, t, "deliveries")?)
}

/// Up to `limit` deliveries of `webhook_id` that pass `filter`, newest first.
pub fn list(
    conn: &rusqlite::Connection,
    t: &Tables,
    webhook_id: &str,
    filter: &DeliveryFilter,
    limit: usize,
) -> Result<Vec<DeliveryRow>, ProjectionError> {
    if !has_deliveries(conn, t)? {
        return Ok(Vec::new());
    }
    let (bc, bp) = filter.before.map(pos_to_sql).transpose()?.unwrap_or((i64::MAX, i64::MAX));
    let mut stmt = conn.prepare_cached(&t.sql(
        &format!(
            "SELECT {COLUMNS} FROM {{deliveries}} WHERE webhook_id = ?1 AND (first_commit, first_prepare) < (?2, ?3) \
             AND (?4 IS NULL OR state = ?4) AND (?5 IS NULL OR first_at >= ?5) AND (?6 IS NULL OR first_at < ?6) \
             ORDER BY first_commit DESC, first_prepare DESC LIMIT ?7"
        ),
        &["deliveries"],
    ))?;
    let raw = stmt
        .query_map(
            params![
                webhook_id,
                bc,
                bp,
                filter.state,
                filter.since.map(micros),
                filter.until.map(micros),
                limit as i64
            ],
            row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    raw.into_iter().map(RawRow::into_row).collect()
}

/// One delivery of `webhook_id`, with its attempts oldest first.
pub fn get(
    conn: &rusqlite::Connection,
    t: &Tables,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<Option<(DeliveryRow, Vec<AttemptEntry>)>, ProjectionError> {
    if !has_deliveries(conn, t)? {
        return Ok(None);
    }
    let found = conn
        .prepare_cached(&t.sql(
            &format!("SELECT {COLUMNS} FROM {{deliveries}} WHERE webhook_id = ?1 AND delivery_id = ?2"),
            &["deliveries"],
        ))?
        .query_row(params![webhook_id, delivery_id], row)
        .optional()?;
    let Some(found) = found else { return Ok(None) };
    let attempts = delivery_log::attempts_of(conn, t, webhook_id, delivery_id)?;
    Ok(Some((found.into_row()?, attempts)))
}
