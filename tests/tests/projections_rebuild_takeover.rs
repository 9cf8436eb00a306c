//! A rebuild that another one takes over as stale (its heartbeat older than the stale limit:
//! it wrote nothing for that long, e.g. its store reads stalled) must never write into, or
//! swap in, a table set that is not its own, whatever it does when it wakes up.
//!
//! Each rebuild reads the real SQLite store through a gate (the `GatedReads` fault injector)
//! that lets a set number of `read_all` pages through and holds the next until released, so
//! the two rebuilds can be interleaved exactly; "older than the stale limit" is the stored heartbeat set back in time
//! (the limit is 30 s, not a setting).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use packhooks_domain::submission::{CandidateInterested, InterestedCandidate};
use packhooks_domain::{AccountId, DomainEvent, EventMetadata, PackId, SubmissionId};
use packhooks_projections::db::{self, SetState};
use packhooks_projections::pack_stats::PackStatsProjection;
use packhooks_projections::rebuild::{self, RebuildOptions, RebuildReport};
use packhooks_projections::{Projection, ProjectionError, ReadModels};
use packhooks_store::sqlite::SqliteStore;
use packhooks_store::{EventData, EventStore, ExpectedRevision};
use packhooks_tests::faults::{Faulty, GatedReads};
use tokio::task::JoinHandle;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

struct Env {
    dir: tempfile::TempDir,
    store: Arc<dyn EventStore>,
}

impl Env {
    /// A store holding `submissions` interested submissions to `pk_1` of `acc_1`.
    async fn with_submissions(submissions: u128) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(dir.path().join("events.sqlite")).unwrap());
        let pack = PackId::parse("pk_1").unwrap();
        for n in 0..submissions {
            let event: DomainEvent = CandidateInterested {
                submission_id: SubmissionId::from_uuid(Uuid::from_u128(n + 1)),
                account_id: AccountId::parse("acc_1").unwrap(),
                pack_id: pack.clone(),
                pack_name: "Backend".into(),
                candidate: InterestedCandidate { name: Some("Ada".into()), ..Default::default() },
                submitted_at: Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap(),
            }
            .into();
            let data = EventData::json(
                Uuid::new_v4(),
                event.event_type(),
                event.to_json(),
                serde_json::to_vec(&EventMetadata::default()).unwrap(),
            );
            store.append(&pack.stream(), ExpectedRevision::Any, vec![data]).await.unwrap();
        }
        Env { dir, store }
    }

    fn db(&self) -> std::path::PathBuf {
        self.dir.path().join("read-models.sqlite")
    }

    /// A rebuild of pack statistics reading through `store`, ten events a page (the first
    /// event of each later page repeats the last of the one before, so it brings nine new
    /// ones), each page a batch of its own.
    fn rebuild(&self, store: Arc<dyn EventStore>) -> JoinHandle<Result<RebuildReport, ProjectionError>> {
        let projections: Vec<Arc<dyn Projection>> = vec![Arc::new(PackStatsProjection)];
        let options = RebuildOptions { page_size: 10, batch_events: 1 };
        let db = self.db();
        tokio::spawn(async move { rebuild::rebuild(store, &db, projections, options, None).await })
    }

    fn building(&self) -> Option<db::TableSet> {
        db::set_in_state(&db::open(&self.db()).unwrap(), "pack_stats", SetState::Building).unwrap()
    }

    fn active(&self) -> Option<db::TableSet> {
        db::set_in_state(&db::open(&self.db()).unwrap(), "pack_stats", SetState::Active).unwrap()
    }

    /// Sets the building set's heartbeat a minute back: its rebuild now looks dead.
    fn age_heartbeat(&self) {
        let old = (Utc::now() - chrono::Duration::seconds(60)).to_rfc3339();
        let changed = db::open(&self.db())
            .unwrap()
            .execute(
                "UPDATE projection_versions SET heartbeat_at = ?1 WHERE name = 'pack_stats' AND state = 'building'",
                [old],
            )
            .unwrap();
        assert_eq!(changed, 1);
    }

    async fn interested(&self) -> u64 {
        let read = ReadModels::open(&self.db()).unwrap();
        read.pack_stats("pk_1".into()).await.unwrap().stats.interested
    }
}

/// Waits (bounded) for `what` to hold.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn finish(task: JoinHandle<Result<RebuildReport, ProjectionError>>) -> Result<RebuildReport, ProjectionError> {
    tokio::time::timeout(WAIT, task).await.expect("the rebuild ends").expect("the rebuild task does not panic")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_taken_over_as_stale_never_writes_into_its_successors_tables() {
    let env = Env::with_submissions(40).await;
    finish(env.rebuild(env.store.clone())).await.unwrap();
    assert_eq!(env.interested().await, 40);

    // A: one page applied, then its reads stall.
    let a_store = Faulty::new(env.store.clone(), GatedReads::new(1));
    let a = env.rebuild(a_store.clone());
    until("A's first batch", || env.building().is_some_and(|s| s.events_applied == 10)).await;
    until("A's reads to stall", || a_store.held.load(Ordering::SeqCst) == 1).await;

    // B takes A's place as stale and applies two pages, then its reads stall too.
    env.age_heartbeat();
    let b_store = Faulty::new(env.store.clone(), GatedReads::new(2));
    let b = env.rebuild(b_store.clone());
    until("B's two batches", || env.building().is_some_and(|s| s.events_applied == 19)).await;
    until("B's reads to stall", || b_store.held.load(Ordering::SeqCst) == 1).await;

    // A wakes up: it has lost its set and must stop, writing nothing anywhere.
    a_store.gate.open();
    let lost = finish(a).await;
    assert_eq!(env.interested().await, 40, "nothing counted twice, nothing missed (A: {lost:?})");
    assert!(matches!(lost, Err(ProjectionError::RebuildLost(_))), "A: {lost:?}");

    b_store.gate.open();
    finish(b).await.unwrap();
    assert_eq!(env.interested().await, 40, "every submission counted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_taken_over_as_stale_at_its_end_swaps_nothing_in() {
    // Ten events: one full page, and a second read that finds nothing new (the end).
    let env = Env::with_submissions(10).await;
    finish(env.rebuild(env.store.clone())).await.unwrap();
    let serving = env.active().unwrap().generation;

    // A: its one page applied, then the read that would tell it the log ended stalls.
    let a_store = Faulty::new(env.store.clone(), GatedReads::new(1));
    let a = env.rebuild(a_store.clone());
    until("A's batch", || env.building().is_some_and(|s| s.events_applied == 10)).await;
    until("A's reads to stall", || a_store.held.load(Ordering::SeqCst) == 1).await;

    // B takes over as stale and stalls before its first page: its set is empty.
    env.age_heartbeat();
    let b_store = Faulty::new(env.store.clone(), GatedReads::new(0));
    let b = env.rebuild(b_store.clone());
    until("B's reads to stall", || b_store.held.load(Ordering::SeqCst) == 1).await;

    // A wakes up at the end of the log: it must not swap anything in.
    a_store.gate.open();
    let lost = finish(a).await;
    assert_eq!(env.interested().await, 10, "the serving set still serves (A: {lost:?})");
    assert_eq!(env.active().map(|s| s.generation), Some(serving), "the serving set still serves");
    assert!(matches!(lost, Err(ProjectionError::RebuildLost(_))), "A: {lost:?}");

    b_store.gate.open();
    finish(b).await.unwrap();
    assert_eq!(env.interested().await, 10);
}
