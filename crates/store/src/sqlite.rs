//! The embedded SQLite backend: one database file, one writer thread with group commit, a
//! small pool of read-only connections, and live subscriptions fed from committed batches.
//!
//! Appends from any number of tasks queue on a channel. The writer thread takes everything
//! queued, checks and writes each command inside one transaction (a failing command writes
//! nothing, so its batch neighbours still commit), commits once (one fsync with
//! `synchronous=FULL` in WAL mode), then feeds the committed events to live subscribers and
//! answers every caller. Readers use their own read-only connections, so they never wait
//! for the writer. WAL checkpoints run on a thread of their own (see `checkpointer`), so
//! the writer never stops to copy the WAL.
//!
//! One store writes to a file at a time, enforced: [`SqliteStore::open`] takes an OS lock on
//! `<file>.lock` (see `lock`) and fails with [`StoreError::Locked`] while another store, in
//! this process or another, holds it. Any number of [`SqliteStore::open_read_only`] stores
//! may read beside the writer (the CLI's audit and projection commands do, while `serve`
//! runs): no lock, no writer or checkpoint thread, no scan of event ids; only the read pool.

mod checkpointer;
mod lock;
mod reader;
mod schema;
mod seen_ids;
mod subscription;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::{
    validate_stream_name, AllPosition, AppendResult, Direction, EventData, EventStore, ExpectedRevision, Position,
    RecordedEvent, StoreError, StreamPosition, SubscribeFrom, Subscription, SubscriptionFilter,
};

use lock::WriterLock;
use reader::ReadPool;
use writer::Command;

/// Knobs of the SQLite backend; [`SqliteOptions::default`] suits production.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Most commands the writer puts into one transaction (one fsync).
    pub max_batch: usize,
    /// Commands that may wait for the writer before appenders are made to wait.
    pub queue_capacity: usize,
    /// Committed batches buffered per live subscriber; a subscriber further behind than this
    /// goes back to reading history from the database and catches up again.
    pub live_buffer: usize,
    /// Rows per history page that subscriptions read.
    pub page_size: usize,
    /// Idle read-only connections kept open.
    pub read_pool: usize,
    /// WAL pages (frames) the writer writes between two passive checkpoints, which run on
    /// a thread beside the writer.
    pub checkpoint_pages: u64,
    /// WAL length (pages) past which a checkpoint makes the writer wait until the WAL is
    /// copied and starts over: the bound on the WAL under sustained load.
    pub wal_limit_pages: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            max_batch: 4096,
            queue_capacity: 8192,
            live_buffer: 1024,
            page_size: 2048,
            read_pool: 4,
            checkpoint_pages: checkpointer::NUDGE_FRAMES,
            // 16 MiB of 4 KiB pages, the size SQLite's automatic checkpoint kept it at before:
            // a WAL reused from its start is cheaper to sync than a growing one (the file
            // size need not be synced).
            wal_limit_pages: 4096,
        }
    }
}

/// Counters of what the writer has done since the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SqliteStats {
    /// Transactions committed (each one fsync).
    pub commits: u64,
    /// Successful append commands (including idempotent ones that wrote nothing).
    pub appends: u64,
    /// Events written.
    pub events: u64,
    /// Time the writer spent in `COMMIT` (writing the WAL and syncing it), in microseconds.
    pub commit_micros: u64,
    /// Passive WAL checkpoints run beside the writer.
    pub checkpoints: u64,
    /// Times the WAL grew past its limit and was restarted (the writer waited meanwhile).
    pub wal_restarts: u64,
}

/// State the writer publishes and the handles read.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Position of the last committed event; 0 when the store is empty. Kept by the writer
    /// only: a read-only store asks the file instead.
    head: AtomicU64,
    commits: AtomicU64,
    appends: AtomicU64,
    events: AtomicU64,
    commit_micros: AtomicU64,
    checkpoints: AtomicU64,
    wal_restarts: AtomicU64,
    /// Held by the checkpoint thread while it restarts the WAL; the writer passes it before
    /// each transaction. SQLite's locks are not fair: a writer that begins its next
    /// transaction as soon as one commits would keep a RESTART checkpoint waiting.
    wal_gate: parking_lot::Mutex<()>,
}

/// A batch of events as committed by the writer, in position order.
pub(crate) type LiveBatch = Arc<[RecordedEvent]>;

/// The embedded event store. Cheap to clone; all clones share one writer (or none, when
/// opened with [`SqliteStore::open_read_only`]).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    readers: Arc<ReadPool>,
    shared: Arc<Shared>,
    page_size: usize,
    /// `None` for a read-only store.
    writing: Option<Writing>,
}

/// The writing half of a store: the queue to the writer thread and its live feed.
struct Writing {
    commands: mpsc::Sender<Command>,
    /// Weak, so that the live feed ends (and subscriptions finish) when the writer stops.
    live: broadcast::WeakSender<LiveBatch>,
    /// Declared after `commands`, so it is dropped after it: the queue closes first, then
    /// the drop waits for the writer thread to finish what was queued and release the lock.
    thread: WriterThread,
}

/// The writer thread; it owns the [`WriterLock`] and releases it as it ends, after its last
/// commit and checkpoint, so no other writer can open while it still writes.
struct WriterThread(parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>);

impl Drop for WriterThread {
    /// Waits for the writer to stop (its queue is closed by now), so that once the last
    /// handle of a store is dropped, the file is free for another writer.
    fn drop(&mut self) {
        if let Some(handle) = self.0.get_mut().take() {
            let _ = handle.join();
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store in the SQLite file at `path` for writing.
    ///
    /// Fails at once with [`StoreError::Locked`] while another store (in any process) has the
    /// file open for writing.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens the store for writing with explicit options (see [`SqliteStore::open`]).
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let started = std::time::Instant::now();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Backend(Box::new(e)))?;
        }
        // Before anything reads the file: what is read next (head, seen ids) must stay true.
        let lock = WriterLock::acquire(&path)?;
        create_owner_only(&lock::database_file(&path))?;
        let conn = schema::open_writer(&path)?;
        let head = schema::head(&conn)?;
        let seen = schema::seen_ids(&conn)?;
        let shared = Arc::new(Shared { head: AtomicU64::new(head), ..Shared::default() });
        let (commands, rx) = mpsc::channel(options.queue_capacity.max(1));
        let (live_tx, _) = broadcast::channel(options.live_buffer.max(1));
        let live = live_tx.downgrade();
        let checkpointer = checkpointer::Checkpointer::start(
            &path,
            options.checkpoint_pages,
            options.wal_limit_pages,
            shared.clone(),
        )?;
        let writer =
            writer::Writer::new(conn, head, seen, options.max_batch.max(1), checkpointer, live_tx, shared.clone());
        let handle = std::thread::Builder::new()
            .name("packhooks-store-writer".into())
            .spawn(move || {
                // `run` closes the database before it returns; only then is the lock let go.
                writer.run(rx);
                drop(lock);
            })
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        tracing::info!(path = %path.display(), head, elapsed_ms = started.elapsed().as_millis() as u64, "opened sqlite event store");
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                readers: Arc::new(ReadPool::new(path.clone(), options.read_pool)),
                path,
                shared,
                page_size: options.page_size.max(1),
                writing: Some(Writing { commands, live, thread: WriterThread(parking_lot::Mutex::new(Some(handle))) }),
            }),
        })
    }

    /// Opens an existing store for reading only, beside a writer (another process's, or
    /// none): no lock, no writer or checkpoint thread, and nothing is read at open beyond
    /// the layout version. Reads see everything the writer has committed, including what it
    /// commits later; [`EventStore::head`] asks the file each time.
    ///
    /// Appends, deletes and subscriptions answer [`StoreError::ReadOnly`] (a live feed
    /// comes from the writer's commits; page with [`EventStore::read_all`] instead). Fails
    /// with [`StoreError::NoStore`] when there is no store at `path`, and creates nothing.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let options = SqliteOptions::default();
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(StoreError::NoStore { path });
        }
        let conn = schema::open_reader(&path)?;
        if !schema::check_readable(&conn, &path)? {
            return Err(StoreError::NoStore { path });
        }
        drop(conn);
        tracing::debug!(path = %path.display(), "opened sqlite event store read-only");
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                readers: Arc::new(ReadPool::new(path.clone(), options.read_pool)),
                path,
                shared: Arc::new(Shared::default()),
                page_size: options.page_size.max(1),
                writing: None,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// True for a store opened with [`SqliteStore::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.inner.writing.is_none()
    }

    /// What the writer has done since open; shows whether group commit batches. All zero for
    /// a read-only store.
    pub fn stats(&self) -> SqliteStats {
        let s = &self.inner.shared;
        SqliteStats {
            commits: s.commits.load(Ordering::Acquire),
            appends: s.appends.load(Ordering::Acquire),
            events: s.events.load(Ordering::Acquire),
            commit_micros: s.commit_micros.load(Ordering::Acquire),
            checkpoints: s.checkpoints.load(Ordering::Acquire),
            wal_restarts: s.wal_restarts.load(Ordering::Acquire),
        }
    }

    /// The writing half, or [`StoreError::ReadOnly`] naming what needed it.
    fn writing(&self, operation: &'static str) -> Result<&Writing, StoreError> {
        self.inner.writing.as_ref().ok_or_else(|| StoreError::ReadOnly { path: self.inner.path.clone(), operation })
    }

    async fn send<T>(
        &self,
        operation: &'static str,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        let writing = self.writing(operation)?;
        let (reply, answer) = oneshot::channel();
        writing.commands.send(make(reply)).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// Creates the database file, if there is none yet, readable and writable by its owner
/// only: the log holds webhook signing secrets. SQLite gives the WAL and shared-memory files
/// the database file's mode. An existing file keeps the mode it has. `path` is the file
/// itself, not a link to it (creating through a link, even a dangling one, fails).
fn create_owner_only(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Backend(Box::new(e))),
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        validate_stream_name(stream)?;
        if events.is_empty() {
            return Err(StoreError::InvalidArgument("an append needs at least one event".into()));
        }
        let stream = stream.to_owned();
        self.send("an append", |reply| Command::Append { stream, expected, events, reply }).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: StreamPosition,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        validate_stream_name(stream)?;
        let stream = stream.to_owned();
        self.inner.readers.with(move |conn| reader::read_stream(conn, &stream, from, direction, max_count)).await
    }

    async fn read_all(
        &self,
        from: AllPosition,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.readers.with(move |conn| reader::read_all(conn, from, direction, max_count)).await
    }

    async fn subscribe_to_all(
        &self,
        from: SubscribeFrom,
        filter: Option<SubscriptionFilter>,
    ) -> Result<Subscription, StoreError> {
        let inner = &self.inner;
        let writing = self.writing("a subscription")?;
        subscription::subscribe(
            inner.readers.clone(),
            writing.live.clone(),
            inner.shared.clone(),
            inner.page_size,
            from,
            filter,
        )
    }

    async fn delete_stream(&self, stream: &str, expected: ExpectedRevision) -> Result<Position, StoreError> {
        validate_stream_name(stream)?;
        let stream = stream.to_owned();
        self.send("a delete", |reply| Command::Delete { stream, expected, tombstone: false, reply }).await
    }

    async fn tombstone_stream(&self, stream: &str, expected: ExpectedRevision) -> Result<Position, StoreError> {
        validate_stream_name(stream)?;
        let stream = stream.to_owned();
        self.send("a tombstone", |reply| Command::Delete { stream, expected, tombstone: true, reply }).await
    }

    async fn head(&self) -> Result<Option<Position>, StoreError> {
        let head = match self.inner.writing {
            Some(_) => self.inner.shared.head.load(Ordering::Acquire),
            // Another process writes: only the file knows.
            None => self.inner.readers.with(|conn| schema::head(conn)).await?,
        };
        Ok((head > 0).then(|| Position::at(head)))
    }

    async fn close(&self) -> Result<(), StoreError> {
        let Some(writing) = &self.inner.writing else {
            // Read-only: nothing to flush, nothing to stop.
            self.inner.readers.clear();
            return Ok(());
        };
        // A second close finds the writer gone: nothing left to flush.
        let closed = match self.send("close", |reply| Command::Close { reply }).await {
            Err(StoreError::Closed) => Ok(()),
            other => other,
        };
        let handle = writing.thread.0.lock().take();
        if let Some(handle) = handle {
            tokio::task::spawn_blocking(move || handle.join())
                .await
                .map_err(|e| StoreError::Backend(Box::new(e)))?
                .map_err(|_| StoreError::Backend("the store writer thread panicked".into()))?;
            let stats = self.stats();
            tracing::info!(
                path = %self.inner.path.display(),
                commits = stats.commits,
                appends = stats.appends,
                events = stats.events,
                commit_ms = stats.commit_micros / 1000,
                checkpoints = stats.checkpoints,
                wal_restarts = stats.wal_restarts,
                "closed sqlite event store"
            );
        }
        self.inner.readers.clear();
        closed
    }
}
