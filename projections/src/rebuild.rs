//! Blue/green rebuilds: new table sets built from position 0 beside the serving ones, caught
//! up, then swapped in one transaction; the old sets keep serving reads until the swap.
//!
//! One reader task pages through `$all` and decodes each event once; a blocking writer
//! applies big batches to every projection being rebuilt, each batch with the checkpoints in
//! one transaction. Reading and writing overlap, so the two cores are both busy. The same
//! [`apply_batch`] as the live runner does the work, so a rebuild equals a live build.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use packhooks_store::{AllPosition, Direction, EventStore, Position, RecordedEvent};
use rusqlite::TransactionBehavior;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::db::{self, SetState};
use crate::projection::{apply_batch, Envelope, Projection};
use crate::ProjectionError;

/// A set still `building` whose heartbeat is older than this belongs to a rebuild that died;
/// a new rebuild takes its place.
const STALE_BUILD: Duration = Duration::from_secs(30);

/// Knobs of a rebuild.
#[derive(Clone, Debug)]
pub struct RebuildOptions {
    /// Events per `read_all` page.
    pub page_size: usize,
    /// Events (scanned) per read-model transaction.
    pub batch_events: usize,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        RebuildOptions { page_size: 4096, batch_events: 32_768 }
    }
}

/// How far a rebuild has got; shown by the progress bar and `GET /v1/ops/projections`.
#[derive(Clone, Debug, Serialize)]
pub struct RebuildProgress {
    pub projections: Vec<String>,
    /// Events of `$all` scanned so far.
    pub scanned: u64,
    /// The head of `$all` when the rebuild started (the bar's length on SQLite, whose
    /// positions are dense).
    pub target: u64,
    /// The last position applied.
    pub position: Option<String>,
    pub events_per_second: f64,
    pub elapsed_seconds: f64,
    /// `running`, `done` or `failed`.
    pub state: String,
    pub error: Option<String>,
}

/// What a finished rebuild did.
#[derive(Clone, Debug, Serialize)]
pub struct RebuildReport {
    pub projections: Vec<String>,
    pub scanned: u64,
    pub applied: u64,
    pub elapsed: Duration,
    /// Time the writer spent applying and committing (the rest it waited for decoded pages).
    pub writer_busy: Duration,
    pub checkpoint: Option<Position>,
}

impl RebuildReport {
    pub fn events_per_second(&self) -> f64 {
        self.scanned as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Called with progress after every batch.
pub type ProgressFn = Arc<dyn Fn(&RebuildProgress) + Send + Sync>;

/// A page of decoded events, with the last scanned position of the page.
struct Page {
    events: Vec<Envelope>,
    /// For each event, which projections read it (bit `i`: projection `i`), worked out from
    /// the stream name in the decoding stage so the writer does not have to.
    readers: Vec<u32>,
    scanned: u64,
    last: Position,
}

/// Whether `name` has a set being built whose heartbeat is fresh: a rebuild is running,
/// maybe in another process.
fn building_now(conn: &rusqlite::Connection, name: &str) -> Result<bool, ProjectionError> {
    let Some(set) = db::set_in_state(conn, name, SetState::Building)? else { return Ok(false) };
    let beat = chrono::DateTime::parse_from_rfc3339(&set.heartbeat_at).map(|t| t.with_timezone(&Utc));
    Ok(beat.is_ok_and(|t| Utc::now() - t < chrono::Duration::from_std(STALE_BUILD).expect("small")))
}

/// Fails with `RebuildLost` unless `generation` is still the set of `p` being built.
fn still_ours(conn: &rusqlite::Connection, p: &dyn Projection, generation: u64) -> Result<(), ProjectionError> {
    match db::set_in_state(conn, p.name(), SetState::Building)? {
        Some(set) if set.generation == generation => Ok(()),
        _ => Err(ProjectionError::RebuildLost(p.name().into())),
    }
}

/// Refuses with `RebuildRunning` when one of `names` is being rebuilt, by this process or
/// another one on the same read-model file. A quick check before a rebuild is started in
/// the background; the rebuild's own claim stays the authority (a race between two
/// starts still ends with one of them failing at its claim).
pub async fn refuse_if_running(db_path: &Path, names: Vec<String>) -> Result<(), ProjectionError> {
    let path = db_path.to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = db::open(&path)?;
        for name in names {
            if building_now(&conn, &name)? {
                return Err(ProjectionError::RebuildRunning(name));
            }
        }
        Ok(())
    })
    .await?
}

/// Rebuilds `projections` from position 0 into new table sets and swaps them in.
pub async fn rebuild(
    store: Arc<dyn EventStore>,
    db_path: &Path,
    projections: Vec<Arc<dyn Projection>>,
    options: RebuildOptions,
    progress: Option<ProgressFn>,
) -> Result<RebuildReport, ProjectionError> {
    let started = Instant::now();
    let names: Vec<String> = projections.iter().map(|p| p.name().to_owned()).collect();
    let target = store.head().await?.map(|p| p.commit).unwrap_or(0);
    let path: PathBuf = db_path.to_owned();

    // Claim: one building set per projection, created empty.
    let claim_projections = projections.clone();
    let (mut conn, generations) = tokio::task::spawn_blocking(move || -> Result<_, ProjectionError> {
        let mut conn = db::open(&path)?;
        // The writer does not checkpoint the WAL itself (each checkpoint copies pages and
        // waits for the disk): a checkpointer thread on its own connection does, beside it.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut generations = Vec::new();
        for p in &claim_projections {
            if building_now(&tx, p.name())? {
                return Err(ProjectionError::RebuildRunning(p.name().into()));
            }
            // The new set first, then the stale one dropped: its generation number is then
            // never given again, so a rebuild taken for dead that wakes up finds no set of its
            // number and stops (`RebuildLost`) instead of writing into this one.
            let stale = db::set_in_state(&tx, p.name(), SetState::Building)?;
            generations.push(db::create_set(&tx, p.as_ref(), SetState::Building, Some(target))?.generation);
            if let Some(stale) = stale {
                db::drop_set(&tx, p.as_ref(), stale.generation)?;
            }
        }
        tx.commit()?;
        Ok((conn, generations))
    })
    .await??;

    let filters: Vec<_> = projections.iter().map(|p| p.filter()).collect();
    assert!(filters.len() <= 32, "a page marks its readers in a u32");
    // Three stages, so that reading, decoding and writing overlap: the reader pages through
    // `$all`, the decoder turns pages into envelopes (in the blocking pool, so it runs beside
    // the reader even on a single-threaded runtime), the writer applies them.
    let page_size = options.page_size.max(2);
    // The decoded queue holds more than a whole write batch, so the reader and decoder keep
    // working while the writer commits one (with a smaller queue they stalled, and the writer
    // then waited for them: a quarter of its time).
    let queued_pages = (options.batch_events.max(1) / page_size).max(1) * 2 + 2;
    let (raw_tx, raw_rx) = mpsc::channel::<Result<(Vec<RecordedEvent>, u64, Position), ProjectionError>>(4);
    let (pages_tx, mut pages_rx) = mpsc::channel::<Result<Page, ProjectionError>>(queued_pages);
    let reader_store = store.clone();
    let reader = tokio::spawn(async move {
        let mut from = AllPosition::Start;
        let mut last: Option<Position> = None;
        loop {
            let events = match reader_store.read_all(from, Direction::Forwards, page_size).await {
                Ok(events) => events,
                Err(e) => {
                    let _ = raw_tx.send(Err(e.into())).await;
                    return;
                }
            };
            let full = events.len() == page_size;
            let fresh: Vec<_> = events.into_iter().filter(|e| Some(e.position) > last).collect();
            let Some(page_last) = fresh.last().map(|e| e.position) else { return };
            let scanned = fresh.len() as u64;
            if raw_tx.send(Ok((fresh, scanned, page_last))).await.is_err() {
                return;
            }
            last = Some(page_last);
            from = AllPosition::Position(page_last);
            if !full {
                return;
            }
        }
    });
    let filters = Arc::new(filters);
    let decoder = tokio::spawn(async move {
        // Two pages decode at once (in order), so decoding, the costliest stage, can use
        // both cores while the reader and the writer wait on I/O.
        let raw = futures::stream::unfold(raw_rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
        let mut pages = std::pin::pin!(raw
            .map(|raw| {
                let filters = filters.clone();
                async move {
                    let (events, scanned, last) = raw?;
                    let (events, readers) = tokio::task::spawn_blocking(move || {
                        let mut decoded = Vec::with_capacity(events.len());
                        let mut readers = Vec::with_capacity(events.len());
                        for e in events {
                            let mask = filters
                                .iter()
                                .enumerate()
                                .filter(|(_, f)| f.matches(&e))
                                .fold(0u32, |mask, (i, _)| mask | 1 << i);
                            if mask == 0 {
                                continue;
                            }
                            if let Some(envelope) = Envelope::decode_owned(e) {
                                decoded.push(envelope);
                                readers.push(mask);
                            }
                        }
                        (decoded, readers)
                    })
                    .await?;
                    Ok(Page { events, readers, scanned, last })
                }
            })
            .buffered(2));
        while let Some(page) = pages.next().await {
            if pages_tx.send(page).await.is_err() {
                return;
            }
        }
    });

    // The checkpointer: after each committed batch, a passive checkpoint on another
    // connection, so the writer never waits for one. It ends
    // when the writer drops its sender. Durability is unchanged (same `synchronous`).
    let (wal_tx, wal_rx) = std::sync::mpsc::channel::<()>();
    let checkpoint_path = db_path.to_owned();
    let checkpointer = std::thread::spawn(move || {
        let conn = match db::open(&checkpoint_path) {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = &e as &dyn std::error::Error, "rebuild checkpointer cannot open the database");
                return;
            }
        };
        while wal_rx.recv().is_ok() {
            while wal_rx.try_recv().is_ok() {}
            let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            if let Err(e) = result {
                tracing::warn!(error = &e as &dyn std::error::Error, "rebuild checkpoint failed");
            }
        }
    });
    let batch_events = options.batch_events.max(1);
    let writer_projections = projections.clone();
    let writer_names = names.clone();
    let writer =
        tokio::task::spawn_blocking(move || -> Result<(u64, u64, Option<Position>, Duration), ProjectionError> {
            let mut busy = Duration::ZERO;
            let mut scanned = 0u64;
            let mut applied = 0u64;
            let mut checkpoint = None;
            let mut pending: Vec<Page> = Vec::new();
            let mut pending_scanned = 0usize;
            let mut done = false;
            while !done {
                match pages_rx.blocking_recv() {
                    Some(page) => {
                        let page = page?;
                        pending_scanned += page.scanned as usize;
                        pending.push(page);
                    }
                    None => done = true,
                }
                if pending.is_empty() || (!done && pending_scanned < batch_events) {
                    continue;
                }
                let began = Instant::now();
                let last = pending.last().map(|p| p.last);
                let events = pending.iter().map(|p| p.events.len()).sum::<usize>();
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                for (i, (p, generation)) in writer_projections.iter().zip(&generations).enumerate() {
                    let events: Vec<&Envelope> = pending
                        .iter()
                        .flat_map(|p| p.events.iter().zip(&p.readers))
                        .filter(|(_, readers)| *readers & (1 << i) != 0)
                        .map(|(e, _)| e)
                        .collect();
                    still_ours(&tx, p.as_ref(), *generation)?;
                    apply_batch(&tx, p.as_ref(), *generation, &events, last, true)?;
                }
                tx.commit()?;
                busy += began.elapsed();
                let _ = wal_tx.send(());
                applied += events as u64;
                scanned += pending_scanned as u64;
                checkpoint = last;
                // Freeing a batch's envelopes is a lot of small frees: do it off the writer.
                let applied_pages = std::mem::take(&mut pending);
                std::thread::spawn(move || drop(applied_pages));
                pending_scanned = 0;
                if let Some(progress) = &progress {
                    let elapsed = started.elapsed().as_secs_f64();
                    progress(&RebuildProgress {
                        projections: writer_names.clone(),
                        scanned,
                        target,
                        position: checkpoint.map(|p| p.to_string()),
                        events_per_second: scanned as f64 / elapsed.max(1e-9),
                        elapsed_seconds: elapsed,
                        state: "running".into(),
                        error: None,
                    });
                }
            }
            // Swap every rebuilt set in at once, then drop the sets they replace. Readers that
            // began before the swap keep their snapshot of the old tables until they finish.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut retired = Vec::new();
            for (p, generation) in writer_projections.iter().zip(&generations) {
                // Taken over meanwhile (its last page may have come after a long stall): swap
                // nothing in, neither another rebuild's set nor none at all.
                still_ours(&tx, p.as_ref(), *generation)?;
                if let Some(old) = db::swap(&tx, p.name(), *generation)? {
                    retired.push((p.clone(), old));
                }
            }
            tx.commit()?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for (p, old) in retired {
                db::drop_set(&tx, p.as_ref(), old)?;
            }
            tx.commit()?;
            Ok((scanned, applied, checkpoint, busy))
        });

    let written = writer.await?;
    let _ = tokio::task::spawn_blocking(move || checkpointer.join()).await;
    reader.abort();
    decoder.abort();
    let (scanned, applied, checkpoint, writer_busy) = written?;
    let report =
        RebuildReport { projections: names, scanned, applied, elapsed: started.elapsed(), writer_busy, checkpoint };
    tracing::info!(
        projections = ?report.projections,
        scanned,
        events_per_second = report.events_per_second() as u64,
        "rebuild finished"
    );
    Ok(report)
}
