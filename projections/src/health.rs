//! Webhook health: status (healthy, failing, disabled with reason), failing since, last
//! success and last failure, consecutive failures, delivery counts, the success rate over the
//! last 24 hours (from per-hour buckets), and the delivery behind the latest status change.
//!
//! Fed by `webhook-` (created, disabled, enabled, deleted) and `deliveries-` streams. Test
//! deliveries (`source.test`) are skipped entirely: tests never change health.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use packhooks_domain::delivery::HealthStatus;
use packhooks_domain::ids::streams;
use packhooks_domain::webhook::DisabledBy;
use packhooks_domain::{DeliveryId, WebhookId};
use packhooks_store::SubscriptionFilter;
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

use crate::event::Event;
use crate::projection::{from_micros, micros, Envelope, Projection, ProjectionBatch, Tables};
use crate::ProjectionError;

pub const NAME: &str = "webhook_health";
const TABLES: &[&str] = &["health", "health_hourly"];

/// Success rates are computed over this many hourly buckets (the current hour included).
const RATE_WINDOW_HOURS: i64 = 24;
const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// The webhook health projection.
#[derive(Clone, Copy, Debug, Default)]
pub struct WebhookHealthProjection;

impl Projection for WebhookHealthProjection {
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
            "CREATE TABLE {health} (
                webhook_id TEXT PRIMARY KEY,
                account_id TEXT,
                status TEXT NOT NULL,
                disabled_by TEXT,
                disabled_reason TEXT,
                failing_since INTEGER,
                status_changed_at INTEGER,
                status_changed_by TEXT,
                last_attempt_at INTEGER,
                last_attempt_delivery TEXT,
                last_attempt_number INTEGER,
                last_attempt_success INTEGER,
                last_attempt_status INTEGER,
                last_success_at INTEGER,
                last_failure_at INTEGER,
                last_failure_code TEXT,
                last_failure_status INTEGER,
                consecutive_failures INTEGER NOT NULL,
                attempts INTEGER NOT NULL,
                successes INTEGER NOT NULL,
                failures INTEGER NOT NULL,
                deliveries INTEGER NOT NULL,
                abandoned INTEGER NOT NULL,
                deleted INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX {health}_account ON {health} (account_id);
            CREATE TABLE {health_hourly} (
                webhook_id TEXT NOT NULL,
                hour INTEGER NOT NULL,
                attempts INTEGER NOT NULL,
                successes INTEGER NOT NULL,
                PRIMARY KEY (webhook_id, hour)
            ) WITHOUT ROWID;",
            TABLES,
        )
    }
    fn filter(&self) -> SubscriptionFilter {
        SubscriptionFilter::StreamPrefix(vec![streams::WEBHOOK.into(), streams::DELIVERIES.into()])
    }
    fn batch(&self, t: &Tables) -> Box<dyn ProjectionBatch> {
        Box::new(HealthBatch {
            select: t.sql(&format!("SELECT {ROW_COLUMNS} FROM {{health}} WHERE webhook_id = ?1"), TABLES),
            upsert: t.sql(
                &format!(
                    "INSERT OR REPLACE INTO {{health}} ({ROW_COLUMNS}) VALUES \
                     (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24)"
                ),
                TABLES,
            ),
            hourly: t.sql(
                "INSERT INTO {health_hourly} (webhook_id, hour, attempts, successes) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (webhook_id, hour) DO UPDATE SET attempts = attempts + excluded.attempts, \
                 successes = successes + excluded.successes",
                TABLES,
            ),
            rows: HashMap::new(),
            buckets: HashMap::new(),
        })
    }
}

const ROW_COLUMNS: &str = "webhook_id, account_id, status, disabled_by, disabled_reason, failing_since, \
    status_changed_at, status_changed_by, last_attempt_at, last_attempt_delivery, last_attempt_number, last_attempt_success, \
    last_attempt_status, last_success_at, last_failure_at, last_failure_code, last_failure_status, \
    consecutive_failures, attempts, successes, failures, deliveries, abandoned, deleted";

/// One webhook's row, as kept in memory during a batch.
#[derive(Clone, Debug, Default, PartialEq)]
struct Row {
    webhook_id: String,
    account_id: Option<String>,
    /// `failing` is set by `WebhookFlaggedFailing` and cleared by `WebhookRecovered`;
    /// `disabled` wins over both while set.
    failing_since: Option<i64>,
    disabled_by: Option<String>,
    disabled_reason: Option<String>,
    status_changed_at: Option<i64>,
    status_changed_by: Option<String>,
    last_attempt_at: Option<i64>,
    last_attempt_delivery: Option<String>,
    /// The latest attempt's delivery in this batch, formatted into `last_attempt_delivery`
    /// only at flush (not once per attempt).
    last_attempt_delivery_id: Option<DeliveryId>,
    last_attempt_number: Option<u32>,
    last_attempt_success: Option<bool>,
    last_attempt_status: Option<i64>,
    last_success_at: Option<i64>,
    last_failure_at: Option<i64>,
    last_failure_code: Option<String>,
    last_failure_status: Option<i64>,
    consecutive_failures: i64,
    attempts: i64,
    successes: i64,
    failures: i64,
    deliveries: i64,
    abandoned: i64,
    deleted: bool,
}

impl Row {
    fn status(&self) -> HealthStatus {
        HealthStatus::new(self.disabled_by.is_some(), self.failing_since.is_some())
    }

    fn from_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        Ok(Row {
            webhook_id: r.get(0)?,
            account_id: r.get(1)?,
            disabled_by: r.get(3)?,
            disabled_reason: r.get(4)?,
            failing_since: r.get(5)?,
            status_changed_at: r.get(6)?,
            status_changed_by: r.get(7)?,
            last_attempt_at: r.get(8)?,
            last_attempt_delivery: r.get(9)?,
            last_attempt_delivery_id: None,
            last_attempt_number: r.get(10)?,
            last_attempt_success: r.get(11)?,
            last_attempt_status: r.get(12)?,
            last_success_at: r.get(13)?,
            last_failure_at: r.get(14)?,
            last_failure_code: r.get(15)?,
            last_failure_status: r.get(16)?,
            consecutive_failures: r.get(17)?,
            attempts: r.get(18)?,
            successes: r.get(19)?,
            failures: r.get(20)?,
            deliveries: r.get(21)?,
            abandoned: r.get(22)?,
            deleted: r.get(23)?,
        })
    }
}

struct HealthBatch {
    select: String,
    upsert: String,
    hourly: String,
    rows: HashMap<WebhookId, Row>,
    /// (webhook, hour) → (attempts, successes) added in this batch.
    buckets: HashMap<(WebhookId, i64), (i64, i64)>,
}

impl HealthBatch {
    fn row(&mut self, tx: &Transaction<'_>, webhook: WebhookId) -> Result<&mut Row, ProjectionError> {
        match self.rows.entry(webhook) {
            Entry::Occupied(row) => Ok(row.into_mut()),
            Entry::Vacant(slot) => {
                let id = webhook.to_string();
                let found = tx.prepare_cached(&self.select)?.query_row([&id], Row::from_sql).optional()?;
                Ok(slot.insert(found.unwrap_or_else(|| Row { webhook_id: id, ..Row::default() })))
            }
        }
    }
}

fn status_change(row: &mut Row, at: DateTime<Utc>, by: Option<String>) {
    row.status_changed_at = Some(micros(at));
    row.status_changed_by = by;
}

impl ProjectionBatch for HealthBatch {
    fn apply(&mut self, tx: &Transaction<'_>, envelope: &Envelope) -> Result<(), ProjectionError> {
        match &envelope.event {
            Event::WebhookCreated { webhook_id, account_id } => {
                let row = self.row(tx, *webhook_id)?;
                row.account_id = Some(account_id.to_string());
            }
            Event::WebhookDisabled { webhook_id, by, reason, recorded_at } => {
                let row = self.row(tx, *webhook_id)?;
                row.disabled_by = Some(match by {
                    DisabledBy::Owner => "owner".into(),
                    DisabledBy::Auto => "auto".into(),
                });
                row.disabled_reason = Some(reason.clone());
                status_change(row, *recorded_at, None);
            }
            Event::WebhookEnabled { webhook_id, recorded_at } => {
                let row = self.row(tx, *webhook_id)?;
                row.disabled_by = None;
                row.disabled_reason = None;
                status_change(row, *recorded_at, None);
            }
            Event::WebhookDeleted { webhook_id } => {
                self.row(tx, *webhook_id)?.deleted = true;
            }
            Event::DeliveryAttempted(e) if !e.test => {
                let success = e.success;
                let at = micros(e.recorded_at);
                let bucket = self.buckets.entry((e.webhook_id, at.div_euclid(MICROS_PER_HOUR))).or_default();
                bucket.0 += 1;
                bucket.1 += i64::from(success);
                let row = self.row(tx, e.webhook_id)?;
                row.attempts += 1;
                row.deliveries += i64::from(e.attempt == 1);
                row.last_attempt_at = Some(at);
                row.last_attempt_delivery_id = Some(e.delivery_id);
                row.last_attempt_number = Some(e.attempt);
                row.last_attempt_success = Some(success);
                row.last_attempt_status = e.status.map(i64::from);
                if success {
                    row.successes += 1;
                    row.consecutive_failures = 0;
                    row.last_success_at = Some(at);
                } else {
                    row.failures += 1;
                    row.consecutive_failures += 1;
                    row.last_failure_at = Some(at);
                    row.last_failure_code = e.code.map(|c| c.as_str().into());
                    row.last_failure_status = e.status.map(i64::from);
                }
            }
            Event::DeliveryAbandoned(e) if !e.test => {
                self.row(tx, e.webhook_id)?.abandoned += 1;
            }
            Event::WebhookFlaggedFailing { webhook_id, delivery_id, failing_since, recorded_at } => {
                let row = self.row(tx, *webhook_id)?;
                row.failing_since = Some(micros(*failing_since));
                status_change(row, *recorded_at, Some(delivery_id.to_string()));
            }
            Event::WebhookRecovered { webhook_id, delivery_id, recorded_at } => {
                let row = self.row(tx, *webhook_id)?;
                row.failing_since = None;
                status_change(row, *recorded_at, Some(delivery_id.to_string()));
            }
            _ => {}
        }
        Ok(())
    }

    fn flush(&mut self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        let mut upsert = tx.prepare_cached(&self.upsert)?;
        for r in self.rows.values_mut() {
            if let Some(delivery) = r.last_attempt_delivery_id.take() {
                r.last_attempt_delivery = Some(delivery.to_string());
            }
            upsert.execute(params![
                r.webhook_id,
                r.account_id,
                r.status().as_str(),
                r.disabled_by,
                r.disabled_reason,
                r.failing_since,
                r.status_changed_at,
                r.status_changed_by,
                r.last_attempt_at,
                r.last_attempt_delivery,
                r.last_attempt_number,
                r.last_attempt_success,
                r.last_attempt_status,
                r.last_success_at,
                r.last_failure_at,
                r.last_failure_code,
                r.last_failure_status,
                r.consecutive_failures,
                r.attempts,
                r.successes,
                r.failures,
                r.deliveries,
                r.abandoned,
                r.deleted,
            ])?;
        }
        let mut hourly = tx.prepare_cached(&self.hourly)?;
        for ((webhook, hour), (attempts, successes)) in &self.buckets {
            hourly.execute(params![webhook.to_string(), hour, attempts, successes])?;
        }
        self.rows.clear();
        self.buckets.clear();
        Ok(())
    }
}

/// Why a webhook is disabled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DisabledInfo {
    /// `owner` or `auto`.
    pub by: String,
    pub reason: String,
}

/// The latest attempt to deliver to a webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LastDelivery {
    pub at: DateTime<Utc>,
    pub delivery_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub success: bool,
    pub status: Option<u16>,
}

/// The latest failed attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LastFailure {
    pub at: DateTime<Utc>,
    /// The stable failure code (`timeout`, `connect`, `status`, …).
    pub code: String,
    pub status: Option<u16>,
}

/// The latest status change and what caused it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    pub at: DateTime<Utc>,
    /// The delivery whose outcome changed the status (`None` for owner actions).
    pub delivery_id: Option<String>,
}

/// Attempt counts (test deliveries excluded).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryCounts {
    pub deliveries: u64,
    pub attempts: u64,
    pub successes: u64,
    pub failures: u64,
    pub abandoned: u64,
}

/// A webhook's health, as the read model has it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WebhookHealth {
    pub webhook_id: String,
    pub account_id: Option<String>,
    pub status: HealthStatus,
    pub disabled: Option<DisabledInfo>,
    pub failing_since: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure: Option<LastFailure>,
    pub last_delivery: Option<LastDelivery>,
    pub last_status_change: Option<StatusChange>,
    pub consecutive_failures: u64,
    pub counts: DeliveryCounts,
    /// Successful attempts over all attempts in the last 24 hours; `None` without attempts.
    pub success_rate_24h: Option<f64>,
    pub deleted: bool,
}

fn opt_time(m: Option<i64>) -> Result<Option<DateTime<Utc>>, ProjectionError> {
    m.map(from_micros).transpose()
}

/// Webhooks by status (deleted ones aside), for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusCounts {
    /// Every status, with 0 when no webhook has it.
    pub by_status: Vec<(HealthStatus, u64)>,
    /// Since when the webhook failing longest has been failing.
    pub failing_since: Option<DateTime<Utc>>,
}

/// Counts webhooks by status in the active generation `t`.
pub fn status_counts(conn: &rusqlite::Connection, t: &Tables) -> Result<StatusCounts, ProjectionError> {
    let sql = t.sql(
        "SELECT status, COUNT(*), MIN(failing_since) FROM {health} WHERE deleted = 0 GROUP BY status",
        TABLES,
    );
    let mut counts = StatusCounts {
        by_status: [HealthStatus::Healthy, HealthStatus::Failing, HealthStatus::Disabled].map(|s| (s, 0)).into(),
        failing_since: None,
    };
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let (status, count, since): (String, i64, Option<i64>) = (row.get(0)?, row.get(1)?, row.get(2)?);
        if let Some(entry) = counts.by_status.iter_mut().find(|(s, _)| s.as_str() == status) {
            entry.1 = count as u64;
            if entry.0 == HealthStatus::Failing {
                counts.failing_since = opt_time(since)?;
            }
        }
    }
    Ok(counts)
}

/// Every webhook the account has or had (deleted ones too), by id.
pub fn webhooks_of_account(
    conn: &rusqlite::Connection,
    t: &Tables,
    account_id: &str,
) -> Result<Vec<String>, ProjectionError> {
    let sql = t.sql("SELECT webhook_id FROM {health} WHERE account_id = ?1 ORDER BY webhook_id", TABLES);
    let ids = conn.prepare_cached(&sql)?.query_map([account_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Reads one webhook's health from the active generation `t`, with the 24-hour success rate
/// as of `now`.
pub fn get(
    conn: &rusqlite::Connection,
    t: &Tables,
    webhook_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<WebhookHealth>, ProjectionError> {
    let sql = t.sql(&format!("SELECT {ROW_COLUMNS} FROM {{health}} WHERE webhook_id = ?1"), TABLES);
    let Some(r) = conn.prepare_cached(&sql)?.query_row([webhook_id], Row::from_sql).optional()? else {
        return Ok(None);
    };
    let from_hour = micros(now).div_euclid(MICROS_PER_HOUR) - (RATE_WINDOW_HOURS - 1);
    let (attempts, successes): (i64, i64) = conn
        .prepare_cached(&t.sql(
            "SELECT COALESCE(SUM(attempts), 0), COALESCE(SUM(successes), 0) FROM {health_hourly} \
             WHERE webhook_id = ?1 AND hour >= ?2",
            TABLES,
        ))?
        .query_row(params![webhook_id, from_hour], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(Some(WebhookHealth {
        status: r.status(),
        disabled: match (&r.disabled_by, &r.disabled_reason) {
            (Some(by), reason) => Some(DisabledInfo { by: by.clone(), reason: reason.clone().unwrap_or_default() }),
            _ => None,
        },
        failing_since: opt_time(r.failing_since)?,
        last_success_at: opt_time(r.last_success_at)?,
        last_failure: match r.last_failure_at {
            Some(at) => Some(LastFailure {
                at: from_micros(at)?,
                code: r.last_failure_code.clone().unwrap_or_default(),
                status: r.last_failure_status.map(|s| s as u16),
            }),
            None => None,
        },
        last_delivery: match (r.last_attempt_at, &r.last_attempt_delivery) {
            (Some(at), Some(delivery)) => Some(LastDelivery {
                at: from_micros(at)?,
                delivery_id: delivery.clone(),
                attempt: r.last_attempt_number.unwrap_or(1),
                success: r.last_attempt_success.unwrap_or(false),
                status: r.last_attempt_status.map(|s| s as u16),
            }),
            _ => None,
        },
        last_status_change: match r.status_changed_at {
            Some(at) => Some(StatusChange { at: from_micros(at)?, delivery_id: r.status_changed_by.clone() }),
            None => None,
        },
        consecutive_failures: r.consecutive_failures as u64,
        counts: DeliveryCounts {
            deliveries: r.deliveries as u64,
            attempts: r.attempts as u64,
            successes: r.successes as u64,
            failures: r.failures as u64,
            abandoned: r.abandoned as u64,
        },
        success_rate_24h: (attempts > 0).then(|| successes as f64 / attempts as f64),
        deleted: r.deleted,
        webhook_id: r.webhook_id,
        account_id: r.account_id,
    }))
}
