//! The delivery log: every attempt to deliver to a webhook, newest first, paged by `$all`
//! position. Test deliveries are listed too (marked `test`), since the owner sent them.

use chrono::{DateTime, Utc};
use packhooks_domain::ids::streams;
use packhooks_store::{Position, SubscriptionFilter};
use rusqlite::{params, Transaction};
use serde::Serialize;

use crate::db::{pos_from_sql, pos_to_sql};
use crate::event::Event;
use crate::projection::{from_micros, micros, Envelope, Projection, ProjectionBatch, Tables};
use crate::ProjectionError;

pub const NAME: &str = "delivery_log";
const TABLES: &[&str] = &["delivery_log"];

/// The most attempts one page holds.
pub const MAX_PAGE: usize = 200;

/// The delivery log projection.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeliveryLogProjection;

impl Projection for DeliveryLogProjection {
    fn name(&self) -> &'static str {
        NAME
    }
    fn version(&self) -> u32 {
        1
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
            ) WITHOUT ROWID;",
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
            webhook_id: String::new(),
            delivery_id: String::new(),
        })
    }
}

struct LogBatch {
    insert: String,
    /// Reused buffers for the formatted webhook and delivery ids (no allocation per row).
    webhook_id: String,
    delivery_id: String,
}

impl LogBatch {
    /// Inserts one attempt's row, binding the decoded event's text directly (no copy per row).
    fn insert(
        &mut self,
        insert: &mut rusqlite::CachedStatement<'_>,
        envelope: &Envelope,
    ) -> Result<(), ProjectionError> {
        use std::fmt::Write as _;
        let Event::DeliveryAttempted(e) = &envelope.event else { return Ok(()) };
        self.webhook_id.clear();
        self.delivery_id.clear();
        write!(self.webhook_id, "{}", e.webhook_id).expect("writing to a String");
        write!(self.delivery_id, "{}", e.delivery_id).expect("writing to a String");
        let (commit, prepare) = pos_to_sql(envelope.position)?;
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
        Ok(())
    }
}

impl ProjectionBatch for LogBatch {
    fn apply(&mut self, tx: &Transaction<'_>, envelope: &Envelope) -> Result<(), ProjectionError> {
        let mut insert = tx.prepare_cached(&self.insert)?;
        self.insert(&mut insert, envelope)
    }

    /// One statement lookup for the whole run.
    fn apply_all(&mut self, tx: &Transaction<'_>, events: &[&Envelope]) -> Result<(), ProjectionError> {
        let mut insert = tx.prepare_cached(&self.insert)?;
        for envelope in events {
            self.insert(&mut insert, envelope)?;
        }
        Ok(())
    }

    fn flush(&mut self, _tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        Ok(())
    }
}

/// One attempt, as `GET /v1/webhooks/{id}/deliveries` shows it.
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
    let mut stmt = conn.prepare_cached(&t.sql(
        "SELECT delivery_id, attempt, test, source_stream, message_id, success, status, code, latency_ms, \
         response_body, next_attempt_at, recorded_at, pos_commit, pos_prepare FROM {delivery_log} \
         WHERE webhook_id = ?1 AND (pos_commit, pos_prepare) < (?2, ?3) \
         ORDER BY pos_commit DESC, pos_prepare DESC LIMIT ?4",
        TABLES,
    ))?;
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
    let rows: Vec<Raw> = stmt
        .query_map(params![webhook_id, bc, bp, (limit + 1) as i64], |r| {
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
    let more = rows.len() > limit;
    let mut items = Vec::with_capacity(limit);
    for r in rows.into_iter().take(limit) {
        let position = pos_from_sql(Some(r.12), Some(r.13)).expect("both present");
        items.push(AttemptEntry {
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
        });
    }
    let next = if more { items.last().map(|i| i.position.clone()) } else { None };
    Ok(AttemptPage { items, next })
}
