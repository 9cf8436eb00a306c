//! Pack statistics: interested and declined counts, decline reasons (standard codes and
//! custom labels), counts per day, and the last submission, per pack; account totals are
//! summed from the packs at read time.
//!
//! Rows are kept per pack *and account*: a submission names its account itself, so one pack
//! id may get submissions of several accounts, and each counts for the account it was made
//! for (a pack's statistics sum its rows of every account).
//!
//! The `submissions` table indexes every submission by its id (its stream, revision and log
//! position), so a submission can be found and explained (`GET /v1/submissions/{id}`) by
//! its id alone.
//!
//! Fed by `pack-` streams only, so test events (which live in `webhook-` streams) can never
//! be counted.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use packhooks_domain::ids::streams;
use packhooks_domain::submission::{DeclineReason, StandardReason};
use packhooks_domain::SubmissionId;
use packhooks_store::{Position, SubscriptionFilter};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

use crate::db::{pos_from_sql, pos_to_sql};
use crate::event::Event;
use crate::projection::{from_micros, micros, Envelope, Projection, ProjectionBatch, Tables};
use crate::ProjectionError;

pub const NAME: &str = "pack_stats";
const TABLES: &[&str] = &["pack_stats", "pack_reasons", "pack_daily", "submissions"];

/// The pack statistics projection.
#[derive(Clone, Copy, Debug, Default)]
pub struct PackStatsProjection;

impl Projection for PackStatsProjection {
    fn name(&self) -> &'static str {
        NAME
    }
    /// 3: the submissions index; 2: rows per (pack, account) (version 1 kept one row per
    /// pack, under its latest account).
    fn version(&self) -> u32 {
        3
    }
    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }
    fn schema(&self, t: &Tables) -> String {
        t.sql(
            "CREATE TABLE {pack_stats} (
                pack_id TEXT NOT NULL,
                account_id TEXT NOT NULL,
                pack_name TEXT NOT NULL,
                interested INTEGER NOT NULL,
                declined INTEGER NOT NULL,
                last_submission_at INTEGER,
                last_submission_id TEXT,
                PRIMARY KEY (pack_id, account_id)
            ) WITHOUT ROWID;
            CREATE INDEX {pack_stats}_account ON {pack_stats} (account_id);
            CREATE TABLE {pack_reasons} (
                pack_id TEXT NOT NULL,
                account_id TEXT NOT NULL,
                custom INTEGER NOT NULL,
                reason TEXT NOT NULL,
                count INTEGER NOT NULL,
                PRIMARY KEY (pack_id, account_id, custom, reason)
            ) WITHOUT ROWID;
            CREATE TABLE {pack_daily} (
                pack_id TEXT NOT NULL,
                account_id TEXT NOT NULL,
                day TEXT NOT NULL,
                interested INTEGER NOT NULL,
                declined INTEGER NOT NULL,
                PRIMARY KEY (pack_id, account_id, day)
            ) WITHOUT ROWID;
            CREATE TABLE {submissions} (
                submission_id TEXT NOT NULL PRIMARY KEY,
                stream TEXT NOT NULL,
                revision INTEGER NOT NULL,
                pos_commit INTEGER NOT NULL,
                pos_prepare INTEGER NOT NULL
            ) WITHOUT ROWID;",
            TABLES,
        )
    }
    fn filter(&self) -> SubscriptionFilter {
        SubscriptionFilter::StreamPrefix(vec![streams::PACK.into()])
    }
    fn batch(&self, t: &Tables) -> Box<dyn ProjectionBatch> {
        Box::new(StatsBatch {
            select: t.sql(
                "SELECT pack_name, interested, declined, last_submission_at, last_submission_id \
                 FROM {pack_stats} WHERE pack_id = ?1 AND account_id = ?2",
                TABLES,
            ),
            upsert: t.sql(
                "INSERT OR REPLACE INTO {pack_stats} (pack_id, account_id, pack_name, interested, declined, \
                 last_submission_at, last_submission_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                TABLES,
            ),
            reason: t.sql(
                "INSERT INTO {pack_reasons} (pack_id, account_id, custom, reason, count) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (pack_id, account_id, custom, reason) DO UPDATE SET count = count + excluded.count",
                TABLES,
            ),
            daily: t.sql(
                "INSERT INTO {pack_daily} (pack_id, account_id, day, interested, declined) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (pack_id, account_id, day) DO UPDATE SET interested = interested + excluded.interested, \
                 declined = declined + excluded.declined",
                TABLES,
            ),
            index: t.sql(
                "INSERT OR IGNORE INTO {submissions} (submission_id, stream, revision, pos_commit, pos_prepare) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                TABLES,
            ),
            packs: HashMap::new(),
        })
    }
}

/// One (pack, account) row, as kept in memory during a batch.
#[derive(Clone, Debug, Default)]
struct PackRow {
    pack_name: String,
    interested: i64,
    declined: i64,
    last_submission_at: Option<i64>,
    last_submission_id: Option<String>,
    /// The latest submission of this batch, formatted into `last_submission_id` only at flush.
    last_submission: Option<SubmissionId>,
    /// Added in this batch: standard reasons by their index in `StandardReason::ALL`.
    standard: [i64; 7],
    /// Added in this batch: custom labels.
    custom: HashMap<String, i64>,
    /// Added in this batch: day (days since the epoch) → (interested, declined).
    days: HashMap<i64, (i64, i64)>,
}

struct StatsBatch {
    select: String,
    upsert: String,
    reason: String,
    daily: String,
    index: String,
    /// Pack → account → row (nested so that a lookup by `&str` allocates nothing).
    packs: HashMap<String, HashMap<String, PackRow>>,
}

impl StatsBatch {
    fn pack(&mut self, tx: &Transaction<'_>, pack: &str, account: &str) -> Result<&mut PackRow, ProjectionError> {
        // Look up by `&str` first: the common case (a row seen in this batch) allocates nothing.
        if !self.packs.get(pack).is_some_and(|accounts| accounts.contains_key(account)) {
            let found = tx
                .prepare_cached(&self.select)?
                .query_row([pack, account], |r| {
                    Ok(PackRow {
                        pack_name: r.get(0)?,
                        interested: r.get(1)?,
                        declined: r.get(2)?,
                        last_submission_at: r.get(3)?,
                        last_submission_id: r.get(4)?,
                        ..PackRow::default()
                    })
                })
                .optional()?;
            if !self.packs.contains_key(pack) {
                self.packs.insert(pack.to_owned(), HashMap::new());
            }
            let accounts = self.packs.get_mut(pack).expect("just inserted");
            accounts.insert(account.to_owned(), found.unwrap_or_default());
        }
        Ok(self.packs.get_mut(pack).and_then(|accounts| accounts.get_mut(account)).expect("just inserted"))
    }

    /// Counts one submission; `reason` is `Some` for a decline.
    fn count(
        &mut self,
        tx: &Transaction<'_>,
        s: Submitted<'_>,
        reason: Option<&DeclineReason>,
    ) -> Result<(), ProjectionError> {
        let Submitted { pack, account, name, submission, at } = s;
        let row = self.pack(tx, pack, account)?;
        if row.pack_name != name {
            row.pack_name = name.to_owned();
        }
        let day = row.days.entry(at.timestamp().div_euclid(86_400)).or_default();
        match reason {
            None => {
                row.interested += 1;
                day.0 += 1;
            }
            Some(reason) => {
                row.declined += 1;
                day.1 += 1;
                match reason {
                    DeclineReason::Standard(r) => {
                        let i = StandardReason::ALL.iter().position(|s| s == r).expect("every reason is in ALL");
                        row.standard[i] += 1;
                    }
                    DeclineReason::Custom(label) => match row.custom.get_mut(label.as_str()) {
                        Some(count) => *count += 1,
                        None => {
                            row.custom.insert(label.clone(), 1);
                        }
                    },
                }
            }
        }
        row.last_submission_at = Some(micros(at));
        row.last_submission = Some(submission);
        Ok(())
    }
}

/// What every submission event says, whatever its kind.
struct Submitted<'a> {
    pack: &'a str,
    account: &'a str,
    name: &'a str,
    submission: SubmissionId,
    at: DateTime<Utc>,
}

impl ProjectionBatch for StatsBatch {
    fn apply(&mut self, tx: &Transaction<'_>, envelope: &Envelope) -> Result<(), ProjectionError> {
        match &envelope.event {
            Event::Submitted(e) => {
                let (commit, prepare) = pos_to_sql(envelope.position)?;
                tx.prepare_cached(&self.index)?.execute(params![
                    e.submission_id.to_string(),
                    envelope.stream,
                    envelope.revision as i64,
                    commit,
                    prepare
                ])?;
                let s = Submitted {
                    pack: e.pack_id.as_str(),
                    account: e.account_id.as_str(),
                    name: &e.pack_name,
                    submission: e.submission_id,
                    at: e.submitted_at,
                };
                self.count(tx, s, e.reason.as_ref())
            }
            _ => Ok(()),
        }
    }

    fn flush(&mut self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        let mut upsert = tx.prepare_cached(&self.upsert)?;
        let mut reason = tx.prepare_cached(&self.reason)?;
        let mut daily = tx.prepare_cached(&self.daily)?;
        for (pack, account, mut r) in
            self.packs.drain().flat_map(|(pack, accounts)| accounts.into_iter().map(move |(a, r)| (pack.clone(), a, r)))
        {
            if let Some(submission) = r.last_submission.take() {
                r.last_submission_id = Some(submission.to_string());
            }
            upsert.execute(params![
                pack,
                account,
                r.pack_name,
                r.interested,
                r.declined,
                r.last_submission_at,
                r.last_submission_id
            ])?;
            for (standard, count) in StandardReason::ALL.iter().zip(r.standard).filter(|(_, c)| *c > 0) {
                reason.execute(params![pack, account, false, standard.code(), count])?;
            }
            for (label, count) in &r.custom {
                reason.execute(params![pack, account, true, label, count])?;
            }
            for (day, (interested, declined)) in &r.days {
                let date = DateTime::from_timestamp(day * 86_400, 0)
                    .ok_or(ProjectionError::Corrupt { what: "submission day", value: day.to_string() })?;
                daily.execute(params![pack, account, date.format("%Y-%m-%d").to_string(), interested, declined])?;
            }
        }
        Ok(())
    }
}

/// Where a submission is in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmissionRow {
    /// Its `pack-` stream and revision there.
    pub stream: String,
    pub revision: u64,
    pub position: Position,
}

/// The submission with this id (`sub_…`), if the read model has seen it.
pub fn submission(
    conn: &rusqlite::Connection,
    t: &Tables,
    submission_id: &str,
) -> Result<Option<SubmissionRow>, ProjectionError> {
    if !crate::db::has_table(conn, t, "submissions")? {
        return Ok(None);
    }
    let found = conn
        .prepare_cached(&t.sql(
            "SELECT stream, revision, pos_commit, pos_prepare FROM {submissions} WHERE submission_id = ?1",
            TABLES,
        ))?
        .query_row([submission_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
        })
        .optional()?;
    Ok(found.and_then(|(stream, revision, commit, prepare)| {
        let position = pos_from_sql(Some(commit), Some(prepare))?;
        Some(SubmissionRow { stream, revision: revision as u64, position })
    }))
}

/// One decline reason and how often it was given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReasonCount {
    /// The standard code (`compensation`, …), or `None` for a custom reason.
    pub code: Option<String>,
    /// The label shown to people: the standard label, or the pack's custom text.
    pub label: String,
    pub custom: bool,
    pub count: u64,
}

/// Submissions on one day (UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub interested: u64,
    pub declined: u64,
}

/// The latest submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LastSubmission {
    pub at: DateTime<Utc>,
    pub submission_id: String,
}

/// Statistics of one pack, or the totals of an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub interested: u64,
    pub declined: u64,
    pub decline_reasons: Vec<ReasonCount>,
    pub per_day: Vec<DayCount>,
    pub last_submission: Option<LastSubmission>,
}

/// `GET /v1/packs/{pack}/stats`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PackStats {
    pub pack_id: String,
    /// `None` until the pack's first submission.
    pub account_id: Option<String>,
    pub pack_name: Option<String>,
    #[serde(flatten)]
    pub stats: Stats,
}

/// `GET /v1/accounts/{account}/stats`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccountStats {
    pub account_id: String,
    pub packs: u64,
    #[serde(flatten)]
    pub stats: Stats,
}

fn reasons(rows: Vec<(bool, String, i64)>) -> Vec<ReasonCount> {
    let mut out: Vec<ReasonCount> = rows
        .into_iter()
        .map(|(custom, reason, count)| {
            let standard = (!custom)
                .then(|| packhooks_domain::submission::StandardReason::ALL.into_iter().find(|r| r.code() == reason))
                .flatten();
            ReasonCount {
                code: (!custom).then(|| reason.clone()),
                label: standard.map(|r| r.label().to_owned()).unwrap_or(reason),
                custom,
                count: count as u64,
            }
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
    out
}

/// Which packs a stats query covers.
enum Scope<'a> {
    Pack(&'a str),
    Account(&'a str),
}

fn stats(conn: &rusqlite::Connection, t: &Tables, scope: Scope<'_>) -> Result<(Stats, u64), ProjectionError> {
    let (filter, key) = match scope {
        Scope::Pack(p) => ("s.pack_id = ?1", p),
        Scope::Account(a) => ("s.account_id = ?1", a),
    };
    // A set of version 1 (one row per pack, reasons and days without an account) still serves
    // while its rebuild as the current version runs: its rows join by pack alone.
    let version: Option<i64> = conn
        .prepare_cached("SELECT version FROM projection_versions WHERE name = ?1 AND generation = ?2")?
        .query_row(params![NAME, t.generation() as i64], |r| r.get(0))
        .optional()?;
    let same_account = |alias: &str| match version {
        Some(1) => String::new(),
        _ => format!(" AND s.account_id = {alias}.account_id"),
    };
    let (packs, interested, declined): (i64, i64, i64) = conn
        .prepare_cached(&t.sql(
            &format!(
                "SELECT COUNT(*), COALESCE(SUM(interested), 0), COALESCE(SUM(declined), 0) \
                 FROM {{pack_stats}} s WHERE {filter}"
            ),
            TABLES,
        ))?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let last = conn
        .prepare_cached(&t.sql(
            &format!(
                "SELECT last_submission_at, last_submission_id FROM {{pack_stats}} s WHERE {filter} \
                 AND last_submission_at IS NOT NULL ORDER BY last_submission_at DESC, last_submission_id DESC LIMIT 1"
            ),
            TABLES,
        ))?
        .query_row([key], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .optional()?;
    let reason_rows = conn
        .prepare_cached(&t.sql(
            &format!(
                "SELECT r.custom, r.reason, SUM(r.count) FROM {{pack_reasons}} r \
                 JOIN {{pack_stats}} s ON s.pack_id = r.pack_id{} WHERE {filter} GROUP BY r.custom, r.reason",
                same_account("r")
            ),
            TABLES,
        ))?
        .query_map([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let per_day = conn
        .prepare_cached(&t.sql(
            &format!(
                "SELECT d.day, SUM(d.interested), SUM(d.declined) FROM {{pack_daily}} d \
                 JOIN {{pack_stats}} s ON s.pack_id = d.pack_id{} WHERE {filter} GROUP BY d.day ORDER BY d.day",
                same_account("d")
            ),
            TABLES,
        ))?
        .query_map([key], |r| {
            Ok(DayCount {
                day: r.get(0)?,
                interested: r.get::<_, i64>(1)? as u64,
                declined: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        Stats {
            interested: interested as u64,
            declined: declined as u64,
            decline_reasons: reasons(reason_rows),
            per_day,
            last_submission: match last {
                Some((at, id)) => Some(LastSubmission { at: from_micros(at)?, submission_id: id }),
                None => None,
            },
        },
        packs as u64,
    ))
}

/// One pack's statistics over every account that submitted to it (zeros for a pack without
/// submissions), with the account and name of its latest submission.
pub fn pack(conn: &rusqlite::Connection, t: &Tables, pack_id: &str) -> Result<PackStats, ProjectionError> {
    let head = conn
        .prepare_cached(&t.sql(
            "SELECT account_id, pack_name FROM {pack_stats} WHERE pack_id = ?1 \
             ORDER BY last_submission_at DESC, last_submission_id DESC LIMIT 1",
            TABLES,
        ))?
        .query_row([pack_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .optional()?;
    let (stats, _) = stats(conn, t, Scope::Pack(pack_id))?;
    let (account_id, pack_name) = head.unzip();
    Ok(PackStats { pack_id: pack_id.to_owned(), account_id, pack_name, stats })
}

impl Stats {
    /// No submissions at all.
    pub fn empty() -> Stats {
        Stats { interested: 0, declined: 0, decline_reasons: Vec::new(), per_day: Vec::new(), last_submission: None }
    }
}

/// An account's totals over all its packs (zeros when it has none).
pub fn account(conn: &rusqlite::Connection, t: &Tables, account_id: &str) -> Result<AccountStats, ProjectionError> {
    let (stats, packs) = stats(conn, t, Scope::Account(account_id))?;
    Ok(AccountStats { account_id: account_id.to_owned(), packs, stats })
}
