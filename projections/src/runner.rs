//! The live projection runner: one task per projection, each following `$all` from its
//! checkpoint (filtered by stream prefix) and writing read model and checkpoint in one
//! transaction per batch. Under load a batch takes everything the subscription has ready,
//! up to `max_batch` events, so a backlog is worked off in big transactions.
//!
//! The feed is at least once (a restart resubscribes from the stored checkpoint, and events
//! at or before it are skipped), and the checkpoint commits with the read model, so every
//! event takes effect exactly once. A rebuild may swap in a new table set at any time, from
//! this process or another: every batch checks, inside its write transaction, that its set
//! is still the active one, and an idle runner polls for the swap, then resumes from the new
//! set's checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use packhooks_store::{EventStore, Position, SubscribeFrom, SubscriptionEvent};
use parking_lot::Mutex;
use rusqlite::{Connection, TransactionBehavior};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::db::{self, SetState};
use crate::projection::{apply_batch, stream_matches, Envelope, Projection};
use crate::rebuild::{self, RebuildOptions, RebuildProgress};
use crate::ProjectionError;

/// Knobs of the live runner.
#[derive(Clone, Debug)]
pub struct RunnerOptions {
    /// Most events applied in one transaction.
    pub max_batch: usize,
    /// How often an idle runner checks whether a rebuild swapped its table set.
    pub swap_poll: Duration,
    /// Wait before retrying after an error.
    pub retry_delay: Duration,
    pub rebuild: RebuildOptions,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            max_batch: 8192,
            swap_poll: Duration::from_millis(250),
            retry_delay: Duration::from_secs(1),
            rebuild: RebuildOptions::default(),
        }
    }
}

/// What the live runner of one projection is doing (in memory, this process only).
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct LiveState {
    pub generation: Option<u64>,
    pub checkpoint: Option<String>,
    /// The subscription has delivered all history and is live.
    pub caught_up: bool,
    pub batches: u64,
    pub last_error: Option<String>,
    /// A rebuild of this projection started from this process, with its progress.
    pub rebuild: Option<RebuildProgress>,
}

/// Live states by projection name, shared with status views.
pub type Board = Arc<Mutex<BTreeMap<String, LiveState>>>;

/// The running projections; dropping it does not stop them, [`ProjectionRunner::shutdown`] does.
pub struct ProjectionRunner {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ProjectionRunner {
    /// Starts one live task per projection. A projection whose stored version differs from
    /// its code is first rebuilt blue/green (its old tables keep serving meanwhile).
    pub fn start(
        store: Arc<dyn EventStore>,
        db_path: &Path,
        projections: &[Arc<dyn Projection>],
        options: RunnerOptions,
        board: Board,
    ) -> ProjectionRunner {
        let (stop, stopped) = watch::channel(false);
        let tasks = projections
            .iter()
            .map(|p| {
                let live = Live {
                    store: store.clone(),
                    db_path: db_path.to_owned(),
                    projection: p.clone(),
                    options: options.clone(),
                    board: board.clone(),
                    stopped: stopped.clone(),
                };
                tokio::spawn(live.run())
            })
            .collect();
        ProjectionRunner { stop, tasks }
    }

    /// Stops every task after its current batch and waits for them.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Why a live session ended.
enum Exit {
    Stop,
    /// The active set changed (a rebuild swapped): start over from the new set.
    Restart,
}

struct Live {
    store: Arc<dyn EventStore>,
    db_path: PathBuf,
    projection: Arc<dyn Projection>,
    options: RunnerOptions,
    board: Board,
    stopped: watch::Receiver<bool>,
}

/// Runs `f` on the connection in the blocking pool.
async fn blocking<T: Send + 'static>(
    conn: &Arc<Mutex<Connection>>,
    f: impl FnOnce(&mut Connection) -> Result<T, ProjectionError> + Send + 'static,
) -> Result<T, ProjectionError> {
    let conn = conn.clone();
    tokio::task::spawn_blocking(move || f(&mut conn.lock())).await?
}

impl Live {
    fn name(&self) -> &'static str {
        self.projection.name()
    }

    fn update(&self, f: impl FnOnce(&mut LiveState)) {
        f(self.board.lock().entry(self.name().to_owned()).or_default());
    }

    async fn run(mut self) {
        let conn = match db::open(&self.db_path) {
            Ok(conn) => Arc::new(Mutex::new(conn)),
            Err(e) => {
                tracing::error!(
                    projection = self.name(),
                    error = &e as &dyn std::error::Error,
                    "cannot open the read-model database"
                );
                self.update(|s| s.last_error = Some(format!("{e}")));
                return;
            }
        };
        loop {
            if *self.stopped.borrow() {
                return;
            }
            match self.session(&conn).await {
                Ok(Exit::Stop) => return,
                Ok(Exit::Restart) => continue,
                Err(e) => {
                    tracing::warn!(
                        projection = self.name(),
                        error = &e as &dyn std::error::Error,
                        "projection failed; retrying"
                    );
                    self.update(|s| s.last_error = Some(error_chain(&e)));
                    let delay = self.options.retry_delay;
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.stopped.changed() => return,
                    }
                }
            }
        }
    }

    /// Follows the log from the active set's checkpoint until stopped, swapped, or failed.
    async fn session(&mut self, conn: &Arc<Mutex<Connection>>) -> Result<Exit, ProjectionError> {
        let p = self.projection.clone();
        let set = blocking(conn, move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let set = match db::set_in_state(&tx, p.name(), SetState::Active)? {
                Some(set) => set,
                None => db::create_set(&tx, p.as_ref(), SetState::Active, None)?,
            };
            tx.commit()?;
            Ok(set)
        })
        .await?;
        if set.version != self.projection.version() {
            tracing::info!(
                projection = self.name(),
                stored = set.version,
                code = self.projection.version(),
                "projection version changed; rebuilding beside the serving tables"
            );
            self.rebuild_on_start().await?;
            return Ok(Exit::Restart);
        }
        let generation = set.generation;
        let mut checkpoint = set.checkpoint;
        self.update(|s| {
            s.generation = Some(generation);
            s.checkpoint = checkpoint.map(|c| c.to_string());
            s.caught_up = false;
        });
        let from = checkpoint.map(SubscribeFrom::After).unwrap_or(SubscribeFrom::Start);
        let filter = self.projection.filter();
        let mut feed = self.store.subscribe_to_all(from, Some(filter.clone())).await?;
        let mut poll = tokio::time::interval(self.options.swap_poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let first = tokio::select! {
                item = feed.next() => item,
                _ = poll.tick() => {
                    let name = self.name();
                    if blocking(conn, move |c| db::active_generation(c, name)).await? != Some(generation) {
                        return Ok(Exit::Restart);
                    }
                    continue;
                }
                _ = self.stopped.changed() => return Ok(Exit::Stop),
            };
            let mut events: Vec<Envelope> = Vec::new();
            let mut scanned: Option<Position> = None;
            let mut item = first;
            let mut taken = 0usize;
            loop {
                match item {
                    None => return Err(ProjectionError::FeedEnded),
                    Some(Err(e)) => return Err(e.into()),
                    Some(Ok(SubscriptionEvent::Event(e))) if Some(e.position) > checkpoint => {
                        scanned = scanned.max(Some(e.position));
                        // The store filters too; this keeps `apply_batch`'s contract whatever
                        // the store does.
                        if stream_matches(&filter, &e.stream) {
                            events.extend(Envelope::decode_owned(e));
                        }
                    }
                    Some(Ok(SubscriptionEvent::Event(_))) => {}
                    Some(Ok(SubscriptionEvent::Checkpoint(at))) => scanned = scanned.max(Some(at)),
                    Some(Ok(SubscriptionEvent::CaughtUp)) => self.update(|s| s.caught_up = true),
                }
                taken += 1;
                if taken >= self.options.max_batch {
                    break;
                }
                match feed.next().now_or_never() {
                    Some(next) => item = next,
                    None => break,
                }
            }
            if scanned <= checkpoint {
                continue;
            }
            let p = self.projection.clone();
            let written = blocking(conn, move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                if db::active_generation(&tx, p.name())? != Some(generation) {
                    return Ok(None);
                }
                let refs: Vec<&Envelope> = events.iter().collect();
                let at = apply_batch(&tx, p.as_ref(), generation, &refs, scanned, false)?;
                tx.commit()?;
                Ok(Some(at))
            })
            .await?;
            match written {
                None => return Ok(Exit::Restart),
                Some(at) => {
                    checkpoint = at;
                    self.update(|s| {
                        s.checkpoint = at.map(|c| c.to_string());
                        s.batches += 1;
                        s.last_error = None;
                    });
                }
            }
        }
    }

    async fn rebuild_on_start(&self) -> Result<(), ProjectionError> {
        let board = self.board.clone();
        let name = self.name().to_owned();
        let progress: rebuild::ProgressFn = Arc::new(move |p: &RebuildProgress| {
            board.lock().entry(name.clone()).or_default().rebuild = Some(p.clone());
        });
        rebuild::rebuild(
            self.store.clone(),
            &self.db_path,
            vec![self.projection.clone()],
            self.options.rebuild.clone(),
            Some(progress),
        )
        .await?;
        Ok(())
    }
}

/// An error and its causes on one line, for status views.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
