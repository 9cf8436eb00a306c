//! Reading the read models: a small pool of connections, each read inside one read
//! transaction that first looks up the active table set, so a swap by a rebuild is seen
//! either entirely or not at all and a read never fails because of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use packhooks_store::Position;
use parking_lot::Mutex;
use rusqlite::Connection;

use crate::deliveries::{self, DeliveryFilter, DeliveryRow};
use crate::delivery_log::{self, AttemptEntry, AttemptPage};
use crate::health::{self, WebhookHealth};
use crate::pack_stats::{self, AccountStats, PackStats, SubmissionRow};
use crate::projection::Tables;
use crate::{db, ProjectionError};

/// Idle connections kept for reuse.
const POOL: usize = 8;

/// The read side of the read-model database. Cheap to share (`Arc`).
pub struct ReadModels {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadModels {
    /// Opens the read-model database at `path` (created if missing).
    pub fn open(path: &Path) -> Result<Arc<ReadModels>, ProjectionError> {
        let first = db::open(path)?;
        Ok(Arc::new(ReadModels { path: path.to_owned(), idle: Mutex::new(vec![first]) }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in a read transaction on a pooled connection, in the blocking pool. `f` gets
    /// the active generation of `projection` (`None` before its first build).
    async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        projection: &'static str,
        f: impl FnOnce(&Connection, Option<Tables>) -> Result<T, ProjectionError> + Send + 'static,
    ) -> Result<T, ProjectionError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = match this.idle.lock().pop() {
                Some(conn) => conn,
                None => db::open(&this.path)?,
            };
            let result = (|| {
                let tx = conn.transaction()?;
                let tables = db::active_generation(&tx, projection)?.map(Tables::new);
                f(&tx, tables)
            })();
            let mut idle = this.idle.lock();
            if idle.len() < POOL {
                idle.push(conn);
            }
            result
        })
        .await?
    }

    /// One webhook's health (`None` when the read model has not seen it).
    pub async fn webhook_health(
        self: &Arc<Self>,
        webhook_id: String,
        now: DateTime<Utc>,
    ) -> Result<Option<WebhookHealth>, ProjectionError> {
        self.read(health::NAME, move |c, t| match t {
            Some(t) => health::get(c, &t, &webhook_id, now),
            None => Ok(None),
        })
        .await
    }

    /// The health of several webhooks at once (those the read model has seen), in one read.
    pub async fn webhooks_health(
        self: &Arc<Self>,
        webhook_ids: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<Vec<WebhookHealth>, ProjectionError> {
        self.read(health::NAME, move |c, t| {
            let Some(t) = t else { return Ok(Vec::new()) };
            let mut out = Vec::with_capacity(webhook_ids.len());
            for id in &webhook_ids {
                out.extend(health::get(c, &t, id, now)?);
            }
            Ok(out)
        })
        .await
    }

    /// How many webhooks have each status (healthy, failing, disabled), and since when the
    /// longest failing one fails; nothing before the health read model's first build.
    pub async fn webhook_status_counts(self: &Arc<Self>) -> Result<health::StatusCounts, ProjectionError> {
        self.read(health::NAME, move |c, t| match t {
            Some(t) => health::status_counts(c, &t),
            None => Ok(health::StatusCounts::default()),
        })
        .await
    }

    /// Every webhook the account has or had, deleted ones included.
    pub async fn account_webhooks(self: &Arc<Self>, account_id: String) -> Result<Vec<String>, ProjectionError> {
        self.read(health::NAME, move |c, t| match t {
            Some(t) => health::webhooks_of_account(c, &t, &account_id),
            None => Ok(Vec::new()),
        })
        .await
    }

    /// Where the submission with this id (`sub_…`) is in the log, if the read model has seen it.
    pub async fn submission(self: &Arc<Self>, submission_id: String) -> Result<Option<SubmissionRow>, ProjectionError> {
        self.read(pack_stats::NAME, move |c, t| match t {
            Some(t) => pack_stats::submission(c, &t, &submission_id),
            None => Ok(None),
        })
        .await
    }

    /// A pack's statistics (zeros when it has no submissions).
    pub async fn pack_stats(self: &Arc<Self>, pack_id: String) -> Result<PackStats, ProjectionError> {
        self.read(pack_stats::NAME, move |c, t| match t {
            Some(t) => pack_stats::pack(c, &t, &pack_id),
            None => Ok(PackStats { pack_id, account_id: None, pack_name: None, stats: pack_stats::Stats::empty() }),
        })
        .await
    }

    /// An account's totals.
    pub async fn account_stats(self: &Arc<Self>, account_id: String) -> Result<AccountStats, ProjectionError> {
        self.read(pack_stats::NAME, move |c, t| match t {
            Some(t) => pack_stats::account(c, &t, &account_id),
            None => Ok(AccountStats { account_id, packs: 0, stats: pack_stats::Stats::empty() }),
        })
        .await
    }

    /// A page of a webhook's attempts, newest first, older than `before`.
    pub async fn deliveries(
        self: &Arc<Self>,
        webhook_id: String,
        before: Option<Position>,
        limit: usize,
    ) -> Result<AttemptPage, ProjectionError> {
        self.read(delivery_log::NAME, move |c, t| match t {
            Some(t) => delivery_log::page(c, &t, &webhook_id, before, limit),
            None => Ok(AttemptPage { items: Vec::new(), next: None }),
        })
        .await
    }

    /// Up to `limit` of a webhook's deliveries that pass `filter`, newest first.
    pub async fn delivery_list(
        self: &Arc<Self>,
        webhook_id: String,
        filter: DeliveryFilter,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>, ProjectionError> {
        self.read(delivery_log::NAME, move |c, t| match t {
            Some(t) => deliveries::list(c, &t, &webhook_id, &filter, limit),
            None => Ok(Vec::new()),
        })
        .await
    }

    /// One delivery of a webhook with its attempts, oldest first.
    pub async fn delivery(
        self: &Arc<Self>,
        webhook_id: String,
        delivery_id: String,
    ) -> Result<Option<(DeliveryRow, Vec<AttemptEntry>)>, ProjectionError> {
        self.read(delivery_log::NAME, move |c, t| match t {
            Some(t) => deliveries::get(c, &t, &webhook_id, &delivery_id),
            None => Ok(None),
        })
        .await
    }
}
