//! The live projection runner: one task follows `$all` once for every projection, from the
//! earliest of their checkpoints (filtered by the union of their streams), decodes each event
//! once, and writes the read models of every projection and their checkpoints in one
//! transaction per batch, on one long-lived thread that owns the read-model connection.
//! Under load a batch takes everything the subscription has ready, up to `max_batch` events,
//! so a backlog is worked off in big transactions; at low load one event is written at once.
//!
//! The feed is at least once (a restart resubscribes from the stored checkpoints, and each
//! projection skips events at or before its own), and a projection's checkpoint commits with
//! its read model, so every event takes effect exactly once. A rebuild may swap in a new
//! table set at any time, from this process or another: every batch checks, inside its write
//! transaction, that its sets are still the active ones, and an idle runner polls for a swap,
//! then resumes from the new sets' checkpoints. A projection whose stored version differs
//! from its code is rebuilt blue/green in the background (its old tables keep serving) while
//! the others keep following the log; it joins them once its new set is swapped in.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use packhooks_store::{
    EventStore, Position, RecordedEvent, SubscribeFrom, SubscriptionEvent, SubscriptionFilter, CHECKPOINT_INTERVAL,
};
use parking_lot::Mutex;
use rusqlite::{Connection, TransactionBehavior};
use serde::Serialize;
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinError, JoinHandle};

use crate::db::{self, SetState};
use crate::event::is_projected;
use crate::projection::{apply_batch_with, Envelope, Projection, ProjectionBatch};
use crate::rebuild::{self, RebuildOptions, RebuildProgress, RebuildReport};
use crate::ProjectionError;

/// Knobs of the live runner.
#[derive(Clone, Debug)]
pub struct RunnerOptions {
    /// Most events applied in one transaction.
    pub max_batch: usize,
    /// Under load, the shortest time from one write transaction to the next: a batch that
    /// starts sooner waits for the rest of it and takes everything that arrived meanwhile.
    /// An event after a quiet spell is written at once; under load a read model is at most
    /// about this much behind. Each transaction costs the same few pages of WAL and a
    /// thread hand-off whatever its size, so this is what keeps the runner's cost per event
    /// low when the log is busy.
    pub commit_interval: Duration,
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
            commit_interval: Duration::from_millis(5),
            swap_poll: Duration::from_millis(250),
            retry_delay: Duration::from_secs(1),
            rebuild: RebuildOptions::default(),
        }
    }
}

/// What the live runner of one projection is doing (in memory, this process only).
#[derive(Clone, Debug, Default, Serialize)]
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
    task: JoinHandle<()>,
}

impl ProjectionRunner {
    /// Starts the live task for `projections`. A projection whose stored version differs from
    /// its code is first rebuilt blue/green (its old tables keep serving meanwhile).
    pub fn start(
        store: Arc<dyn EventStore>,
        db_path: &Path,
        projections: &[Arc<dyn Projection>],
        options: RunnerOptions,
        board: Board,
    ) -> ProjectionRunner {
        assert!(projections.len() <= 64, "a batch marks each event's projections in a u64");
        let (stop, stopped) = watch::channel(false);
        let live = Live {
            store,
            db_path: db_path.to_owned(),
            projections: projections.to_vec(),
            options,
            board,
            stopped,
            rebuilding: None,
        };
        ProjectionRunner { stop, task: tokio::spawn(live.run()) }
    }

    /// Stops the runner after its current batch (and a rebuild on start, if one is running)
    /// and waits for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Why a live session ended.
enum Exit {
    Stop,
    /// An active set changed (a rebuild swapped): start over from the new sets.
    Restart,
}

/// A projection followed by the current session.
struct Member {
    projection: Arc<dyn Projection>,
    filter: SubscriptionFilter,
    generation: u64,
    /// The stored checkpoint: the events at or before it are in this set already.
    checkpoint: Option<Position>,
    /// Events scanned since the checkpoint was last stored, none of them this projection's.
    unsaved: u64,
}

/// A background rebuild of the projections whose stored version is not the code's.
struct Rebuilding {
    names: Vec<&'static str>,
    task: JoinHandle<Result<RebuildReport, ProjectionError>>,
}

struct Live {
    store: Arc<dyn EventStore>,
    db_path: PathBuf,
    projections: Vec<Arc<dyn Projection>>,
    options: RunnerOptions,
    board: Board,
    stopped: watch::Receiver<bool>,
    rebuilding: Option<Rebuilding>,
}

/// A job for the writer thread.
type Job = Box<dyn FnOnce(&mut WriterState) + Send>;

/// The thread that owns the read-model connection and the units of work of the current
/// session. One long-lived thread instead of a blocking-pool task per batch: the batches
/// keep their prepared statements and SQL text from one transaction to the next.
struct Writer {
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct WriterState {
    conn: Connection,
    /// The current session's projections, in the session's member order.
    members: Vec<WriterMember>,
}

struct WriterMember {
    name: &'static str,
    generation: u64,
    /// Opened once per session; a flushed batch is reused for the next transaction.
    batch: Box<dyn ProjectionBatch>,
}

impl Writer {
    fn start(conn: Connection) -> Result<Writer, ProjectionError> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let thread = std::thread::Builder::new().name("projections".into()).spawn(move || {
            let mut state = WriterState { conn, members: Vec::new() };
            while let Ok(job) = queue.recv() {
                // A job that panics drops its reply (its caller fails with `WriterFailed` and
                // starts a new session) and the session's batches, which may hold half a batch.
                if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut state))).is_err() {
                    state.members.clear();
                }
            }
        })?;
        Ok(Writer { jobs: Some(jobs), thread: Some(thread) })
    }

    /// Runs `f` on the writer thread and waits for its answer.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut WriterState) -> Result<T, ProjectionError> + Send + 'static,
    ) -> Result<T, ProjectionError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |state| {
            let _ = reply.send(f(state));
        });
        let jobs = self.jobs.as_ref().ok_or(ProjectionError::WriterFailed)?;
        jobs.send(job).map_err(|_| ProjectionError::WriterFailed)?;
        answer.await.map_err(|_| ProjectionError::WriterFailed)?
    }

    /// Ends the thread after its last job and waits for it (the connection closes with it).
    async fn stop(mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// One subscription filter for every member: their stream prefixes together, or none (the
/// runner then filters for each member) when one of them filters by event type.
fn union_filter<'a>(filters: impl IntoIterator<Item = &'a SubscriptionFilter>) -> Option<SubscriptionFilter> {
    let mut prefixes: Vec<String> = Vec::new();
    for filter in filters {
        match filter {
            SubscriptionFilter::StreamPrefix(p) => {
                for prefix in p {
                    if !prefixes.contains(prefix) {
                        prefixes.push(prefix.clone());
                    }
                }
            }
            SubscriptionFilter::EventTypePrefix(_) => return None,
        }
    }
    Some(SubscriptionFilter::StreamPrefix(prefixes))
}

/// Whether every `(name, generation)` is still the active set of its projection.
fn still_active<'a>(
    conn: &Connection,
    sets: impl IntoIterator<Item = (&'a str, u64)>,
) -> Result<bool, ProjectionError> {
    for (name, generation) in sets {
        if db::active_generation(conn, name)? != Some(generation) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A batch of the live feed, ready for the writer. Its events are still undecoded: the
/// writer thread decodes them, so the feed's thread (shared with the API and delivery in a
/// server) only checks stream names and types.
struct Batch {
    events: Vec<RecordedEvent>,
    /// For each event, which members read it (bit `i`: member `i`).
    readers: Vec<u64>,
    /// The members whose checkpoint this batch stores.
    due: u64,
    /// The furthest position the feed vouched for.
    scanned: Option<Position>,
}

/// The checkpoints a batch stored, by member index.
type Saved = Vec<(usize, Option<Position>)>;

/// Applies a batch to every due member and stores their checkpoints, in one transaction;
/// `None` when a set was swapped meanwhile (nothing is written then).
fn write_batch(w: &mut WriterState, batch: Batch) -> Result<Option<Saved>, ProjectionError> {
    let mut events = Vec::with_capacity(batch.events.len());
    let mut readers = Vec::with_capacity(batch.events.len());
    for (event, mask) in batch.events.into_iter().zip(batch.readers) {
        if let Some(envelope) = Envelope::decode_owned(event) {
            events.push(envelope);
            readers.push(mask);
        }
    }
    let WriterState { conn, members } = w;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !still_active(&tx, members.iter().map(|m| (m.name, m.generation)))? {
        return Ok(None);
    }
    let mut saved = Vec::with_capacity(members.len());
    let mut theirs: Vec<&Envelope> = Vec::with_capacity(events.len());
    for (i, m) in members.iter_mut().enumerate() {
        let bit = 1u64 << i;
        if batch.due & bit == 0 {
            continue;
        }
        theirs.clear();
        theirs.extend(events.iter().zip(&readers).filter(|(_, r)| *r & bit != 0).map(|(e, _)| e));
        let at = apply_batch_with(&tx, m.batch.as_mut(), m.name, m.generation, &theirs, batch.scanned, false)?;
        saved.push((i, at));
    }
    tx.commit()?;
    Ok(Some(saved))
}

/// Waits for the background rebuild, if there is one (forever otherwise).
async fn rebuild_done(
    rebuilding: &mut Option<Rebuilding>,
) -> Result<Result<RebuildReport, ProjectionError>, JoinError> {
    match rebuilding {
        Some(r) => (&mut r.task).await,
        None => futures::future::pending().await,
    }
}

impl Live {
    /// Applies `f` to the board entries of `names`.
    fn update<'a>(&self, names: impl IntoIterator<Item = &'a str>, mut f: impl FnMut(&mut LiveState)) {
        let mut board = self.board.lock();
        for name in names {
            match board.get_mut(name) {
                Some(state) => f(state),
                None => f(board.entry(name.to_owned()).or_default()),
            }
        }
    }

    fn all_names(&self) -> Vec<&'static str> {
        self.projections.iter().map(|p| p.name()).collect()
    }

    async fn run(mut self) {
        if self.projections.is_empty() {
            return;
        }
        let writer = match db::open(&self.db_path).and_then(Writer::start) {
            Ok(writer) => writer,
            Err(e) => {
                tracing::error!(error = &e as &dyn std::error::Error, "cannot open the read-model database");
                self.update(self.all_names(), |s| s.last_error = Some(error_chain(&e)));
                return;
            }
        };
        loop {
            if *self.stopped.borrow() {
                break;
            }
            match self.session(&writer).await {
                Ok(Exit::Stop) => break,
                Ok(Exit::Restart) => continue,
                Err(e) => {
                    tracing::warn!(error = &e as &dyn std::error::Error, "projections failed; retrying");
                    self.update(self.all_names(), |s| s.last_error = Some(error_chain(&e)));
                    let delay = self.options.retry_delay;
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.stopped.changed() => break,
                    }
                }
            }
        }
        // A rebuild on start runs to its end, as it would have in the foreground.
        if let Some(rebuilding) = self.rebuilding.take() {
            let _ = rebuilding.task.await;
        }
        writer.stop().await;
    }

    /// Follows the log from the active sets' checkpoints until stopped, swapped, or failed.
    async fn session(&mut self, writer: &Writer) -> Result<Exit, ProjectionError> {
        // Every projection's active set (created empty on the first start), and a unit of
        // work on the writer for each one whose stored version is the code's.
        let projections = self.projections.clone();
        let sets = writer
            .run(move |w| {
                w.members.clear();
                let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut sets = Vec::with_capacity(projections.len());
                for p in &projections {
                    sets.push(match db::set_in_state(&tx, p.name(), SetState::Active)? {
                        Some(set) => set,
                        None => db::create_set(&tx, p.as_ref(), SetState::Active, None)?,
                    });
                }
                tx.commit()?;
                for (p, set) in projections.iter().zip(&sets) {
                    if set.version == p.version() {
                        w.members.push(WriterMember {
                            name: p.name(),
                            generation: set.generation,
                            batch: p.batch(&set.tables()),
                        });
                    }
                }
                Ok(sets)
            })
            .await?;
        let mut members = Vec::new();
        let mut stale = Vec::new();
        for (p, set) in self.projections.iter().zip(sets) {
            if set.version == p.version() {
                members.push(Member {
                    projection: p.clone(),
                    filter: p.filter(),
                    generation: set.generation,
                    checkpoint: set.checkpoint,
                    unsaved: 0,
                });
            } else {
                if self.rebuilding.is_none() {
                    tracing::info!(
                        projection = p.name(),
                        stored = set.version,
                        code = p.version(),
                        "projection version changed; rebuilding beside the serving tables"
                    );
                }
                stale.push(p.clone());
            }
        }
        if !stale.is_empty() && self.rebuilding.is_none() {
            self.start_rebuild(stale);
        }
        let names: Vec<&'static str> = members.iter().map(|m| m.projection.name()).collect();
        self.update(names.iter().copied(), |s| s.caught_up = false);
        {
            let mut board = self.board.lock();
            for m in &members {
                let state = board.entry(m.projection.name().to_owned()).or_default();
                state.generation = Some(m.generation);
                state.checkpoint = m.checkpoint.map(|c| c.to_string());
            }
        }
        if members.is_empty() {
            // Nothing to follow until the rebuild is done.
            return tokio::select! {
                done = rebuild_done(&mut self.rebuilding) => self.rebuild_finished(done).await,
                _ = self.stopped.changed() => Ok(Exit::Stop),
            };
        }

        let from = members.iter().map(|m| m.checkpoint).min().flatten();
        let from = from.map(SubscribeFrom::After).unwrap_or(SubscribeFrom::Start);
        let filter = union_filter(members.iter().map(|m| &m.filter));
        let mut feed = self.store.subscribe_to_all(from, filter).await?;
        let mut poll = tokio::time::interval(self.options.swap_poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_write: Option<Instant> = None;
        // The furthest position the feed vouched for in this session: a member that had no
        // event in a batch had none up to there (it would have been due otherwise).
        let mut scanned: Option<Position> = None;
        loop {
            let first = tokio::select! {
                item = feed.next() => item,
                _ = poll.tick() => {
                    let sets: Vec<_> = members.iter().map(|m| (m.projection.name(), m.generation)).collect();
                    if !writer.run(move |w| still_active(&w.conn, sets)).await? {
                        return Ok(Exit::Restart);
                    }
                    continue;
                }
                done = rebuild_done(&mut self.rebuilding) => return self.rebuild_finished(done).await,
                _ = self.stopped.changed() => return Ok(Exit::Stop),
            };
            if let Some(next) = last_write.map(|at| at + self.options.commit_interval) {
                if Instant::now() < next {
                    tokio::select! {
                        _ = tokio::time::sleep_until(next.into()) => {}
                        _ = self.stopped.changed() => return Ok(Exit::Stop),
                    }
                }
            }
            let mut batch = Batch { events: Vec::new(), readers: Vec::new(), due: 0, scanned: None };
            // Members that saw an event of theirs (decoded or skipped by type), and whether
            // every member's checkpoint is due anyway (the store vouched for events it filtered
            // out, or the history is done).
            let mut matched = 0u64;
            let mut save_all = false;
            let mut seen = 0u64;
            let mut item = first;
            let mut taken = 0usize;
            loop {
                match item {
                    None => return Err(ProjectionError::FeedEnded),
                    Some(Err(e)) => return Err(e.into()),
                    Some(Ok(SubscriptionEvent::Event(e))) => {
                        seen += 1;
                        scanned = scanned.max(Some(e.position));
                        let readers = members
                            .iter()
                            .enumerate()
                            .filter(|(_, m)| Some(e.position) > m.checkpoint && m.filter.matches(&e))
                            .fold(0u64, |mask, (i, _)| mask | 1 << i);
                        if readers != 0 {
                            matched |= readers;
                            if is_projected(&e.event_type) {
                                batch.events.push(e);
                                batch.readers.push(readers);
                            }
                        }
                    }
                    Some(Ok(SubscriptionEvent::Checkpoint(at))) => {
                        scanned = scanned.max(Some(at));
                        save_all = true;
                    }
                    Some(Ok(SubscriptionEvent::CaughtUp)) => {
                        save_all = true;
                        self.update(names.iter().copied(), |s| s.caught_up = true);
                    }
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
            batch.scanned = scanned;
            // A member's checkpoint is stored with every batch that has events of its streams;
            // past events of other streams only every `CHECKPOINT_INTERVAL` of them, as a
            // filtered subscription would (a restart rescans at most that many).
            for (i, m) in members.iter_mut().enumerate() {
                let bit = 1u64 << i;
                let ahead = batch.scanned > m.checkpoint;
                if ahead && (matched & bit != 0 || save_all || m.unsaved + seen >= CHECKPOINT_INTERVAL) {
                    batch.due |= bit;
                } else {
                    m.unsaved += seen;
                }
            }
            if batch.due == 0 {
                continue;
            }
            // A full batch cannot grow by waiting: the next one starts at once.
            last_write = (taken < self.options.max_batch).then(Instant::now);
            let written = writer.run(move |w| write_batch(w, batch)).await?;
            let Some(saved) = written else { return Ok(Exit::Restart) };
            let mut board = self.board.lock();
            for (i, at) in saved {
                let m = &mut members[i];
                m.checkpoint = at;
                m.unsaved = 0;
                if let Some(state) = board.get_mut(m.projection.name()) {
                    state.checkpoint = at.map(|c| c.to_string());
                    state.batches += 1;
                    state.last_error = None;
                }
            }
        }
    }

    /// Rebuilds `stale` blue/green in the background; the session notices when it is done.
    fn start_rebuild(&mut self, stale: Vec<Arc<dyn Projection>>) {
        let names: Vec<&'static str> = stale.iter().map(|p| p.name()).collect();
        let board = self.board.clone();
        let tracked = names.clone();
        let progress: rebuild::ProgressFn = Arc::new(move |p: &RebuildProgress| {
            let mut board = board.lock();
            for name in &tracked {
                board.entry((*name).to_owned()).or_default().rebuild = Some(p.clone());
            }
        });
        let (store, path, options) = (self.store.clone(), self.db_path.clone(), self.options.rebuild.clone());
        let task = tokio::spawn(async move { rebuild::rebuild(store, &path, stale, options, Some(progress)).await });
        self.rebuilding = Some(Rebuilding { names, task });
    }

    /// The background rebuild ended: start over with its projections swapped in, or (when it
    /// failed) record why and try again after the retry delay.
    async fn rebuild_finished(
        &mut self,
        done: Result<Result<RebuildReport, ProjectionError>, JoinError>,
    ) -> Result<Exit, ProjectionError> {
        let names = self.rebuilding.take().map(|r| r.names).unwrap_or_default();
        let done = done.map_err(ProjectionError::from).and_then(|r| r);
        record_rebuild_end(&self.board, names.iter().copied(), &done);
        match done {
            Ok(_) => Ok(Exit::Restart),
            Err(e) => {
                tracing::warn!(
                    projections = ?names,
                    error = &e as &dyn std::error::Error,
                    "rebuild on start failed; retrying"
                );
                self.update(names.iter().copied(), |s| s.last_error = Some(error_chain(&e)));
                let delay = self.options.retry_delay;
                tokio::select! {
                    _ = tokio::time::sleep(delay) => Ok(Exit::Restart),
                    _ = self.stopped.changed() => Ok(Exit::Stop),
                }
            }
        }
    }
}

/// Marks the board's rebuild of `names` `done` (with the report's numbers) or `failed` (with
/// the error), so status views stop showing it as running and a new one may start.
pub(crate) fn record_rebuild_end<'a>(
    board: &Board,
    names: impl IntoIterator<Item = &'a str>,
    result: &Result<RebuildReport, ProjectionError>,
) {
    let mut board = board.lock();
    for name in names {
        if let Some(r) = board.entry(name.to_owned()).or_default().rebuild.as_mut() {
            match result {
                Ok(report) => {
                    r.state = "done".into();
                    r.scanned = report.scanned;
                    r.elapsed_seconds = report.elapsed.as_secs_f64();
                    r.events_per_second = report.events_per_second();
                    r.position = report.checkpoint.map(|c| c.to_string());
                }
                Err(e) => {
                    r.state = "failed".into();
                    r.error = Some(error_chain(e));
                }
            }
        }
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
