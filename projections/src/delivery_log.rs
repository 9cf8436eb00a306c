//! The delivery log: every attempt to deliver to a webhook, newest first, paged by `$all`
//! position, and one row per delivery (its state, attempts, last and next attempt) for the
//! delivery view ([`crate::deliveries`]). Test deliveries are listed too (marked `test`),
//! since the owner sent them.

use chrono::{DateTime, Utc};
use packhooks_domain::ids::streams;
use packhooks_store::{Position, SubscriptionFilter};
use rusqlite::{params, Transaction};
use serde::Serialize;

use crate::db::{pos_from_sql, pos_to_sql};
use crate::deliveries::state;
use crate::event::Event;
use crate::projection::{from_micros, micros, Envelope, Projection, ProjectionBatch, Tables};
use crate::ProjectionError;

pub const NAME: &str = "delivery_log";
const TABLES: &[&str] = &["delivery_log", "deliveries"];

/// The most attempts one page holds.
pub const MAX_PAGE: usize = 200;

/// The delivery log projection.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeliveryLogProjection;

impl Projection for DeliveryLogProjection {
    fn name(&self) -> &'static str {
        NAME
    }
    /// 2: the deliveries table and the attempts' index by delivery.
    fn version(&self) -> u32 {
        2
    }
    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }
    fn schema(&self, t: &Tables) -> String {
        t.sql(
            "CREATE TABLE {delivery_log} (
                webhook_id TEXT NOT NULL,
                pos_commit INTEGER NOT NULL,
                pos_prepare INTEGER NOT NULL,
                delivery_id TEXT NOT NULL,
                attempt INTEGER NOT NULL,
                test INTEGER NOT NULL,
                source_stream TEXT NOT NULL,
                message_id TEXT NOT NULL,
                success INTEGER NOT NULL,
                status INTEGER,
                code TEXT,
                latency_ms INTEGER NOT NULL,
                response_body TEXT,
                next_attempt_at INTEGER,
                recorded_at INTEGER NOT NULL,
                PRIMARY KEY (webhook_id, pos_commit, pos_prepare)
            ) WITHOUT ROWID;
            CREATE INDEX {delivery_log}_delivery ON {delivery_log} (webhook_id, delivery_id);
            CREATE TABLE {deliveries} (
                webhook_id TEXT NOT NULL,
                delivery_id TEXT NOT NULL,
                first_commit INTEGER NOT NULL,
                first_prepare INTEGER NOT NULL,
                source_stream TEXT NOT NULL,
                source_revision INTEGER NOT NULL,
                message_id TEXT NOT NULL,
                test INTEGER NOT NULL,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                first_at INTEGER NOT NULL,
                last_attempt_at INTEGER,
                last_success INTEGER,
                last_status INTEGER,
                last_code TEXT,
                next_attempt_at INTEGER,
                PRIMARY KEY (webhook_id, delivery_id)
            ) WITHOUT ROWID;
            CREATE INDEX {deliveries}_order ON {deliveries} (webhook_id, first_commit, first_prepare);",
            TABLES,
        )
    }
    fn filter(&self) -> SubscriptionFilter {
        SubscriptionFilter::StreamPrefix(vec![streams::DELIVERIES.into()])
    }
    fn batch(&self, t: &Tables) -> Box<dyn ProjectionBatch> {
        Box::new(LogBatch {
            insert: t.sql(
                "INSERT OR IGNORE INTO {delivery_log} (webhook_id, pos_commit, pos_prepare, delivery_id, attempt, \
                 test, source_stream, message_id, success, status, code, latency_ms, response_body, \
                 next_attempt_at, recorded_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
                TABLES,
            ),
            // An attempt counts once; a later one replaces the last attempt's fields; a
            // delivered delivery stays delivered; an abandon (no attempt) keeps the last
            // attempt's fields and ends what was pending.
            upsert: t.sql(
                "INSERT INTO {deliveries} (webhook_id, delivery_id, first_commit, first_prepare, source_stream, \
                 source_revision, message_id, test, state, attempts, first_at, last_attempt_at, last_success, \
                 last_status, last_code, next_attempt_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16) \
                 ON CONFLICT (webhook_id, delivery_id) DO UPDATE SET attempts = attempts + excluded.attempts, \
                 last_attempt_at = COALESCE(excluded.last_attempt_at, last_attempt_at), \
                 last_success = COALESCE(excluded.last_success, last_success), \
                 last_status = CASE WHEN excluded.attempts > 0 THEN excluded.last_status ELSE last_status END, \
                 last_code = CASE WHEN excluded.attempts > 0 THEN excluded.last_code ELSE last_code END, \
                 next_attempt_at = CASE WHEN state = 'delivered' THEN NULL ELSE excluded.next_attempt_at END, \
                 state = CASE WHEN state = 'delivered' THEN state ELSE excluded.state END",
                TABLES,
            ),
            webhook_id: String::new(),
            delivery_id: String::new(),
        })
    }
}

struct LogBatch {
    insert: String,
    upsert: String,
    /// Reused buffers for the formatted webhook and delivery ids (no allocation per row).
    webhook_id: String,
    delivery_id: String,
}

impl LogBatch {
    /// Inserts one attempt's row and counts it in its delivery's, binding the decoded event's
    /// text directly (no copy per row); an abandon ends its delivery.
    fn insert(
        &mut self,
        insert: &mut rusqlite::CachedStatement<'_>,
        upsert: &mut rusqlite::CachedStatement<'_>,
        envelope: &Envelope,
    ) -> Result<(), ProjectionError> {
        use std::fmt::Write as _;
        let (webhook, delivery) = match &envelope.event {
            Event::DeliveryAttempted(e) => (e.webhook_id, e.delivery_id),
            Event::DeliveryAbandoned(e) => (e.webhook_id, e.delivery_id),
            _ => return Ok(()),
        };
        self.webhook_id.clear();
        self.delivery_id.clear();
        write!(self.webhook_id, "{webhook}").expect("writing to a String");
        write!(self.delivery_id, "{delivery}").expect("writing to a String");
        let (commit, prepare) = pos_to_sql(envelope.position)?;
        match &envelope.event {
            Event::DeliveryAttempted(e) => {
                insert.execute(params![
                    self.webhook_id,
                    commit,
                    prepare,
                    self.delivery_id,
                    e.attempt,
                    e.test,
                    e.source_stream,
                    e.message_id,
                    e.success,
                    e.status,
                    e.code.map(|c| c.as_str()),
                    e.latency_ms as i64,
                    e.response_body,
                    e.next_attempt_at.map(micros),
                    micros(e.recorded_at),
                ])?;
                let state = match (e.success, e.next_attempt_at) {
                    (true, _) => state::DELIVERED,
                    (false, Some(_)) => state::PENDING,
                    (false, None) => state::ABANDONED,
                };
                upsert.execute(params![
                    self.webhook_id,
                    self.delivery_id,
                    commit,
                    prepare,
                    e.source_stream,
                    e.source_revision as i64,
                    e.message_id,
                    e.test,
                    state,
                    1,
                    micros(e.recorded_at),
                    Some(micros(e.recorded_at)),
                    Some(e.success),
                    e.status,
                    e.code.map(|c| c.as_str()),
                    e.next_attempt_at.map(micros),
                ])?;
            }
            Event::DeliveryAbandoned(e) => {
                upsert.execute(params![
                    self.webhook_id,
                    self.delivery_id,
                    commit,
                    prepare,
                    e.source_stream,
                    e.source_revision as i64,
                    e.message_id,
                    e.test,
                    state::ABANDONED,
                    0,
                    micros(e.recorded_at),
                    None::<i64>,
                    None::<bool>,
                    None::<u16>,
                    None::<&str>,
                    None::<i64>,
                ])?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl ProjectionBatch for LogBatch {
    fn apply(&mut self, tx: &Transaction<'_>, envelope: &Envelope) -> Result<(), ProjectionError> {
        let (mut insert, mut upsert) = (tx.prepare_cached(&self.insert)?, tx.prepare_cached(&self.upsert)?);
        self.insert(&mut insert, &mut upsert, envelope)
    }

    /// One statement lookup for the whole run.
    fn apply_all(&mut self, tx: &Transaction<'_>, events: &[&Envelope]) -> Result<(), ProjectionError> {
        let (mut insert, mut upsert) = (tx.prepare_cached(&self.insert)?, tx.prepare_cached(&self.upsert)?);
        for envelope in events {
            self.insert(&mut insert, &mut upsert, envelope)?;
        }
        Ok(())
    }

    fn flush(&mut self, _tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        Ok(())
    }
}

/// One attempt, as the delivery log keeps it. The delivery lists answer with the API's own
/// `AttemptOut`; the submission explanation (`explain.rs`) still serves it as it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AttemptEntry {
    pub delivery_id: String,
    pub attempt: u32,
    /// A test event sent by the owner.
    pub test: bool,
    /// The stream of the delivered event (`pack-…` or `webhook-…`).
    pub source_stream: String,
    /// The `webhook-id` the receiver saw.
    pub message_id: String,
    pub success: bool,
    pub status: Option<u16>,
    /// The stable failure code, for failed attempts.
    pub code: Option<String>,
    pub latency_ms: u64,
    pub response_body: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub recorded_at: DateTime<Utc>,
    /// The attempt's `$all` position (also the paging cursor).
    pub position: String,
}

/// A page of attempts, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AttemptPage {
    pub items: Vec<AttemptEntry>,
    /// Pass as `before` to get the next (older) page; `None` on the last page.
    pub next: Option<String>,
}

/// Attempts of `webhook_id` strictly older than `before` (all when `None`), newest first.
pub fn page(
    conn: &rusqlite::Connection,
    t: &Tables,
    webhook_id: &str,
    before: Option<Position>,
    limit: usize,
) -> Result<AttemptPage, ProjectionError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let (bc, bp) = before.map(pos_to_sql).transpose()?.unwrap_or((i64::MAX, i64::MAX));
    let rows = query_attempts(
        conn,
        &t.sql(
            &format!(
                "SELECT {ATTEMPT_COLUMNS} FROM {{delivery_log}} WHERE webhook_id = ?1 AND (pos_commit, pos_prepare) < (?2, ?3) \
                 ORDER BY pos_commit DESC, pos_prepare DESC LIMIT ?4"
            ),
            TABLES,
        ),
        params![webhook_id, bc, bp, (limit + 1) as i64],
    )?;
    let more = rows.len() > limit;
    let items: Vec<AttemptEntry> = rows.into_iter().take(limit).collect();
    let next = if more { items.last().map(|i| i.position.clone()) } else { None };
    Ok(AttemptPage { items, next })
}

/// The attempts of one delivery, oldest first.
pub fn attempts_of(
    conn: &rusqlite::Connection,
    t: &Tables,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<Vec<AttemptEntry>, ProjectionError> {
    query_attempts(
        conn,
        &t.sql(
            &format!(
                "SELECT {ATTEMPT_COLUMNS} FROM {{delivery_log}} WHERE webhook_id = ?1 AND delivery_id = ?2 \
                 ORDER BY pos_commit, pos_prepare"
            ),
            TABLES,
        ),
        params![webhook_id, delivery_id],
    )
}

const ATTEMPT_COLUMNS: &str = "delivery_id, attempt, test, source_stream, message_id, success, status, code, \
    latency_ms, response_body, next_attempt_at, recorded_at, pos_commit, pos_prepare";

/// Runs a select of [`ATTEMPT_COLUMNS`].
fn query_attempts(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<AttemptEntry>, ProjectionError> {
    type Raw = (
        String,
        u32,
        bool,
        String,
        String,
        bool,
        Option<u16>,
        Option<String>,
        i64,
        Option<String>,
        Option<i64>,
        i64,
        i64,
        i64,
    );
    let rows: Vec<Raw> = conn
        .prepare_cached(sql)?
        .query_map(params, |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
                r.get(12)?,
                r.get(13)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|r| {
            let position = pos_from_sql(Some(r.12), Some(r.13)).expect("both present");
            Ok(AttemptEntry {
                delivery_id: r.0,
                attempt: r.1,
                test: r.2,
                source_stream: r.3,
                message_id: r.4,
                success: r.5,
                status: r.6,
                code: r.7,
                latency_ms: r.8 as u64,
                response_body: r.9,
                next_attempt_at: r.10.map(from_micros).transpose()?,
                recorded_at: from_micros(r.11)?,
                position: position.to_string(),
            })
        })
        .collect()
}
