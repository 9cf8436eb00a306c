//! WAL checkpoints on a thread of their own, beside the writer.
//!
//! SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold, so the
//! writer thread stopped to copy thousands of pages into the database file and sync it,
//! and every append queued meanwhile waited (API latency spikes right after heavy load).
//! The writer's connection therefore never checkpoints. Instead, once it has written about
//! [`NUDGE_FRAMES`] WAL frames, it nudges this thread, which runs a PASSIVE checkpoint on
//! its own connection: that copies committed frames while the writer keeps committing, and
//! the writer starts the WAL over (from its beginning, at the same file size) at its next
//! commit that finds every frame copied.
//!
//! Under sustained load that moment may never come, so the WAL is bounded: when a passive
//! checkpoint leaves the WAL longer than the limit, a RESTART checkpoint follows, which
//! makes the writer wait (at its next transaction, see `Shared::wal_gate`) while it copies
//! what the passive one left (little) and until the readers leave the WAL, so the next
//! commit starts the WAL over.
//!
//! Crash safety is SQLite's: a checkpoint copies only committed frames, syncs the WAL
//! before and the database file after (`synchronous=FULL` on this connection too), and a
//! crash at any point leaves the WAL to be replayed at the next open.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use rusqlite::Connection;

use super::{schema, Shared};
use crate::StoreError;

/// WAL frames (pages) written between nudges: SQLite's default autocheckpoint is 1000 pages;
/// more means a busy index page rewritten by many commits is copied once per checkpoint.
pub(crate) const NUDGE_FRAMES: u64 = 2000;

/// The checkpoint thread, as the writer sees it.
pub(crate) struct Checkpointer {
    nudge: Option<mpsc::SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// WAL frames the writer wrote since the last nudge (an estimate, see
    /// [`Checkpointer::written`]).
    frames: u64,
    nudge_frames: u64,
}

impl Checkpointer {
    /// Opens the checkpoint connection to `path` and starts its thread. `wal_limit` is the
    /// WAL length (frames) above which a passive checkpoint is followed by a RESTART.
    pub(crate) fn start(
        path: &Path,
        nudge_frames: u64,
        wal_limit: u64,
        shared: Arc<Shared>,
    ) -> Result<Checkpointer, StoreError> {
        let conn = schema::open_checkpointer(path)?;
        let (nudge, nudges) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("packhooks-ckpt".into())
            .spawn(move || run(conn, nudges, wal_limit, &shared))
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(Checkpointer { nudge: Some(nudge), thread: Some(thread), frames: 0, nudge_frames: nudge_frames.max(1) })
    }

    /// Counts the WAL frames a commit wrote; nudges the thread when enough have been.
    /// Returns false once the thread is gone (it failed): the writer must then checkpoint
    /// by itself, or the WAL would grow until the store closes.
    pub(crate) fn written(&mut self, frames: u64) -> bool {
        self.frames += frames;
        if self.frames >= self.nudge_frames {
            self.frames = 0;
            if let Some(nudge) = &self.nudge {
                // Full: a nudge is already pending, which covers these frames too.
                if let Err(mpsc::TrySendError::Disconnected(())) = nudge.try_send(()) {
                    self.nudge = None;
                    return false;
                }
            }
        }
        true
    }

    /// Stops the thread (after the checkpoint it may be running).
    pub(crate) fn stop(&mut self) {
        self.nudge = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the WAL checkpoint thread panicked");
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The WAL's state after a checkpoint, as `PRAGMA wal_checkpoint` reports it.
struct Checkpointed {
    /// The checkpoint could not finish (a reader or the writer held on past the timeout).
    busy: bool,
    /// Frames in the WAL.
    log: i64,
    /// Frames of it copied into the database file.
    copied: i64,
}

fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<Checkpointed> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok(Checkpointed { busy: r.get::<_, i64>(0)? != 0, log: r.get(1)?, copied: r.get(2)? })
    })
}

/// Passive checkpoints that copy fewer new frames than this are close enough to the WAL's
/// end for the RESTART (which the writer waits for) to follow.
const RESTART_WITHIN_FRAMES: i64 = 64;

/// Extra passive checkpoints before a RESTART, at most.
const CATCH_UP_PASSES: usize = 3;

fn run(conn: Connection, nudges: mpsc::Receiver<()>, wal_limit: u64, shared: &Shared) {
    let passive = |conn: &Connection| match checkpoint(conn, "PASSIVE") {
        Ok(done) => {
            shared.checkpoints.fetch_add(1, Ordering::AcqRel);
            tracing::trace!(log = done.log, copied = done.copied, "passive WAL checkpoint");
            Some(done)
        }
        Err(error) => {
            tracing::warn!(%error, "passive WAL checkpoint failed");
            None
        }
    };
    let over_limit = |done: &Checkpointed| done.log >= 0 && done.log as u64 >= wal_limit;
    while nudges.recv().is_ok() {
        let Some(mut done) = passive(&conn).filter(over_limit) else { continue };
        // The writer kept committing meanwhile. Catch up without stopping it, so that the
        // RESTART it waits for copies and syncs only the last few frames.
        for _ in 0..CATCH_UP_PASSES {
            let Some(next) = passive(&conn) else { break };
            let newly_copied = next.copied - done.copied;
            done = next;
            // A smaller WAL: the writer started it over by itself.
            if !over_limit(&done) || newly_copied < RESTART_WITHIN_FRAMES {
                break;
            }
        }
        if !over_limit(&done) {
            continue;
        }
        let restarted = {
            let _writer_waits = shared.wal_gate.lock();
            checkpoint(&conn, "RESTART")
        };
        match restarted {
            // Busy: a reader stayed in the WAL past the busy timeout; the next nudge retries.
            Ok(done) if done.busy => tracing::debug!(log = done.log, "WAL over its limit, but busy: not restarted"),
            Ok(done) => {
                shared.wal_restarts.fetch_add(1, Ordering::AcqRel);
                tracing::debug!(log = done.log, copied = done.copied, "WAL over its limit: restarted it");
            }
            Err(error) => tracing::warn!(%error, "restarting the WAL failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use crate::sqlite::{SqliteOptions, SqliteStore};
    use crate::{AllPosition, Direction, EventData, EventStore, ExpectedRevision};

    /// Bytes of one WAL frame (a 4 KiB page and its header).
    const FRAME_BYTES: u64 = 4096 + 24;

    fn wal_bytes(path: &std::path::Path) -> u64 {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map_or(0, |m| m.len())
    }

    /// Appends from 16 tasks to 16 streams without pause while a reader keeps reading `$all`
    /// (so the writer seldom finds the WAL fully copied), and records the WAL's largest size.
    async fn sustained_appends(options: SqliteOptions) -> (u64, crate::sqlite::SqliteStats) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.sqlite");
        let store = SqliteStore::open_with(&path, options).unwrap();
        let body = format!(r#"{{"padding":"{}"}}"#, "x".repeat(1000));
        let writing = Arc::new(AtomicBool::new(true));
        let reader = {
            let (store, writing) = (store.clone(), writing.clone());
            tokio::spawn(async move {
                while writing.load(Ordering::Acquire) {
                    store.read_all(AllPosition::End, Direction::Backwards, 256).await.unwrap();
                }
            })
        };
        let appenders: Vec<_> = (0..16)
            .map(|i| {
                let (store, body, path) = (store.clone(), body.clone(), path.clone());
                tokio::spawn(async move {
                    let mut largest = 0;
                    for _ in 0..400 {
                        let event = EventData::json(uuid::Uuid::new_v4(), "Padded", body.clone(), "{}");
                        store.append(&format!("stream-{i}"), ExpectedRevision::Any, vec![event]).await.unwrap();
                        largest = largest.max(wal_bytes(&path));
                    }
                    largest
                })
            })
            .collect();
        let mut largest = 0;
        for appender in appenders {
            largest = largest.max(appender.await.unwrap());
        }
        writing.store(false, Ordering::Release);
        reader.await.unwrap();
        let stats = store.stats();
        store.close().await.unwrap();
        (largest, stats)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_sustained_appends() {
        let limit = 256;
        let options = SqliteOptions { checkpoint_pages: 32, wal_limit_pages: limit, ..SqliteOptions::default() };
        let (largest, stats) = sustained_appends(options).await;
        assert!(stats.checkpoints > 0, "checkpoints ran beside the writer: {stats:?}");
        // 6,400 events of 1 KiB in 16 streams: well over 6,400 pages went through the WAL.
        assert!(
            largest <= 4 * limit * FRAME_BYTES,
            "the WAL grew to {} pages (limit {limit}): {stats:?}",
            largest / FRAME_BYTES
        );
    }
}
