//! Projections: the read models packhooks serves (webhook health, pack statistics, delivery
//! log), the runner that keeps them current from `$all`, blue/green rebuilds, status, the
//! audit views of the event history, and the explanation of a submission.
//!
//! The read models live in their own SQLite file (`<data_dir>/read-models.sqlite`), apart
//! from the event store: they can always be thrown away and rebuilt from the log. Each
//! projection writes its tables and its checkpoint in one transaction, so it takes every
//! event exactly once over an at-least-once feed.

pub mod audit;
pub mod db;
pub mod deliveries;
pub mod delivery_log;
mod error;
pub mod event;
pub mod explain;
pub mod health;
pub mod pack_stats;
pub mod projection;
pub mod read;
pub mod rebuild;
pub mod runner;
pub mod status;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use packhooks_store::EventStore;

pub use error::ProjectionError;
pub use projection::{Envelope, Projection, ProjectionBatch, Tables};
pub use read::ReadModels;
pub use rebuild::{RebuildOptions, RebuildProgress, RebuildReport};
pub use runner::{Board, ProjectionRunner, RunnerOptions};
pub use status::ProjectionStatus;

/// Every projection's name, as `projections rebuild` and the ops API take it.
pub const NAMES: [&str; 3] = [health::NAME, pack_stats::NAME, delivery_log::NAME];

/// Every projection packhooks runs.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(health::WebhookHealthProjection),
        Arc::new(pack_stats::PackStatsProjection),
        Arc::new(delivery_log::DeliveryLogProjection),
    ]
}

/// The read-model database of a data directory.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(db::FILE_NAME)
}

/// The projections of one process: starts the live runner, rebuilds (in the foreground or
/// the background), reports status, and hands out the read side.
pub struct Projections {
    store: Arc<dyn EventStore>,
    db_path: PathBuf,
    projections: Vec<Arc<dyn Projection>>,
    options: RunnerOptions,
    board: Board,
    read: Arc<ReadModels>,
}

impl Projections {
    /// The projections of [`all`] over `store`, with read models in `db_path`.
    pub fn new(
        store: Arc<dyn EventStore>,
        db_path: &Path,
        options: RunnerOptions,
    ) -> Result<Arc<Self>, ProjectionError> {
        Ok(Arc::new(Projections {
            read: ReadModels::open(db_path)?,
            store,
            db_path: db_path.to_owned(),
            projections: all(),
            options,
            board: Board::default(),
        }))
    }

    pub fn read_models(&self) -> &Arc<ReadModels> {
        &self.read
    }

    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    pub fn projections(&self) -> &[Arc<dyn Projection>] {
        &self.projections
    }

    /// Starts the live runner (one task and one writer thread for all the projections).
    pub fn start(&self) -> ProjectionRunner {
        ProjectionRunner::start(
            self.store.clone(),
            &self.db_path,
            &self.projections,
            self.options.clone(),
            self.board.clone(),
        )
    }

    /// The projections named (`None`: all of them).
    pub fn select(&self, name: Option<&str>) -> Result<Vec<Arc<dyn Projection>>, ProjectionError> {
        match name {
            None => Ok(self.projections.clone()),
            Some(name) => self
                .projections
                .iter()
                .find(|p| p.name() == name)
                .map(|p| vec![p.clone()])
                .ok_or_else(|| ProjectionError::UnknownProjection(name.to_owned())),
        }
    }

    /// Rebuilds the named projections (all when `None`) and waits for the swap.
    pub async fn rebuild(
        &self,
        name: Option<&str>,
        progress: Option<rebuild::ProgressFn>,
    ) -> Result<RebuildReport, ProjectionError> {
        let selected = self.select(name)?;
        rebuild::rebuild(self.store.clone(), &self.db_path, selected, self.options.rebuild.clone(), progress).await
    }

    /// Starts a rebuild in the background; its progress shows in [`Projections::status`].
    /// Refuses at once if one of them is already being rebuilt, from this process or from
    /// another one on the same read-model file (`packhooks projections rebuild`).
    pub async fn spawn_rebuild(self: &Arc<Self>, name: Option<&str>) -> Result<Vec<String>, ProjectionError> {
        let selected = self.select(name)?;
        let names: Vec<String> = selected.iter().map(|p| p.name().to_owned()).collect();
        rebuild::refuse_if_running(&self.db_path, names.clone()).await?;
        {
            let mut board = self.board.lock();
            for n in &names {
                if board.get(n).and_then(|s| s.rebuild.as_ref()).is_some_and(|r| r.state == "running") {
                    return Err(ProjectionError::RebuildRunning(n.clone()));
                }
            }
            for n in &names {
                board.entry(n.clone()).or_default().rebuild = Some(RebuildProgress {
                    projections: names.clone(),
                    scanned: 0,
                    target: 0,
                    position: None,
                    events_per_second: 0.0,
                    elapsed_seconds: 0.0,
                    state: "running".into(),
                    error: None,
                });
            }
        }
        let this = self.clone();
        let board = self.board.clone();
        let tracked = names.clone();
        let progress: rebuild::ProgressFn = Arc::new(move |p: &RebuildProgress| {
            let mut board = board.lock();
            for n in &tracked {
                board.entry(n.clone()).or_default().rebuild = Some(p.clone());
            }
        });
        let done_names = names.clone();
        tokio::spawn(async move {
            let result = rebuild::rebuild(
                this.store.clone(),
                &this.db_path,
                selected,
                this.options.rebuild.clone(),
                Some(progress),
            )
            .await;
            runner::record_rebuild_end(&this.board, done_names.iter().map(String::as_str), &result);
        });
        Ok(names)
    }

    /// Checkpoints, lag and rebuild progress of every projection.
    pub async fn status(&self) -> Result<Vec<ProjectionStatus>, ProjectionError> {
        status::status(&self.store, &self.db_path, &self.projections, Some(&self.board)).await
    }
}

/// Every row of the active set of `projection`, table by table (base name → sorted rows),
/// for comparing two builds of the same log.
pub fn dump(db_path: &Path, projection: &dyn Projection) -> Result<BTreeMap<String, Vec<String>>, ProjectionError> {
    let conn = db::open(db_path)?;
    let mut out = BTreeMap::new();
    let Some(generation) = db::active_generation(&conn, projection.name())? else { return Ok(out) };
    let tables = Tables::new(generation);
    for base in projection.tables() {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {}", tables.name(base)))?;
        let columns = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                (0..columns)
                    .map(|i| r.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|cells| cells.join("|"))
            })?
            .collect::<Result<_, _>>()?;
        rows.sort();
        out.insert((*base).to_owned(), rows);
    }
    Ok(out)
}
