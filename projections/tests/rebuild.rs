//! Rebuilds: determinism (live = rebuilt, row for row), online blue/green rebuild under
//! load, and version-triggered rebuilds on start.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use packhooks_domain::delivery::HealthStatus;
use packhooks_projections::db::{self, SetState};
use packhooks_projections::{Board, Projection, ProjectionRunner, RunnerOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_rebuild_gives_the_live_read_models_row_for_row() {
    let env = Env::new();
    workload(env.store.as_ref(), 0, 70).await;
    let projections = env.projections();
    let runner = projections.start();
    wait_caught_up(&projections).await;
    // A restart in the middle: the second runner resumes from the stored checkpoints while
    // the rest of the workload arrives live.
    runner.shutdown().await;
    let runner = projections.start();
    workload(env.store.as_ref(), 70, 70).await;
    wait_caught_up(&projections).await;
    runner.shutdown().await;
    let live = dump_all(&env.db());
    assert!(live.iter().all(|(_, tables)| tables.values().any(|rows| !rows.is_empty())), "every read model has rows");

    // The story the workload tells is in the read models.
    let read = projections.read_models();
    let now = t0() + chrono::Duration::days(5);
    let h2 = read.webhook_health(webhook(2).to_string(), now).await.unwrap().unwrap();
    assert_eq!(h2.status, HealthStatus::Healthy, "webhook 2 recovered after its last failing streak");
    assert!(h2.counts.abandoned > 0);
    let h3 = read.webhook_health(webhook(3).to_string(), now).await.unwrap().unwrap();
    assert_eq!((h3.status, h3.counts.attempts), (HealthStatus::Healthy, 0), "test events never touch health");
    assert!(!read.deliveries(webhook(3).to_string(), None, 10).await.unwrap().items.is_empty(), "but they are logged");
    let totals: u64 = {
        let a = read.account_stats("acc_1".into()).await.unwrap();
        let b = read.account_stats("acc_2".into()).await.unwrap();
        a.stats.interested + a.stats.declined + b.stats.interested + b.stats.declined
    };
    assert_eq!(totals, 140, "every submission counted once");

    // Blue/green rebuild in the same file: new generations, same rows.
    let before = db::set_in_state(&db::open(&env.db()).unwrap(), "pack_stats", SetState::Active).unwrap().unwrap();
    let report = projections.rebuild(None, None).await.unwrap();
    assert!(report.scanned > 600);
    let after = db::set_in_state(&db::open(&env.db()).unwrap(), "pack_stats", SetState::Active).unwrap().unwrap();
    assert!(after.generation > before.generation);
    assert!(after.checkpoint >= before.checkpoint);
    assert_eq!(dump_all(&env.db()), live);
    let conn = db::open(&env.db()).unwrap();
    let old: i64 = conn
        .query_row(
            &format!("SELECT COUNT(*) FROM sqlite_schema WHERE name = 'pack_stats_g{}'", before.generation),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old, 0, "the replaced tables are dropped");

    // And a fresh offline rebuild into another file agrees too.
    let fresh = env.dir.path().join("fresh.sqlite");
    env.projections_at(&fresh).rebuild(None, None).await.unwrap();
    assert_eq!(dump_all(&fresh), live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_rebuild_under_load_matches_an_offline_one_and_reads_never_fail() {
    let env = Env::new();
    workload(env.store.as_ref(), 0, 150).await;
    let projections = env.projections();
    let runner = projections.start();
    wait_caught_up(&projections).await;

    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (store, stop, writes) = (env.store.clone(), stop.clone(), writes.clone());
        tokio::spawn(async move {
            let mut n = 0u128;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let p = pack((n % 3) as u32 + 1);
                let at = t0() + chrono::Duration::seconds(n as i64);
                append(store.as_ref(), &p.stream(), &[interested(&p, &account(1), 5_000_000 + n, at)]).await;
                append(
                    store.as_ref(),
                    &webhook(1).deliveries_stream(),
                    &[attempted(webhook(1), 5_000_000 + n, 1, 200, false, at)],
                )
                .await;
                writes.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (read, stop, reads) = (projections.read_models().clone(), stop.clone(), reads.clone());
        tokio::spawn(async move {
            let mut last_total = 0;
            while !stop.load(Ordering::Relaxed) {
                let a = read.account_stats("acc_1".into()).await.expect("account stats during the swap");
                assert!(read.pack_stats("pk_1".into()).await.expect("pack stats during the swap").stats.interested > 0);
                let h = read
                    .webhook_health(webhook(1).to_string(), t0())
                    .await
                    .expect("health during the swap")
                    .expect("row");
                assert!(h.counts.attempts >= 150);
                let page = read.deliveries(webhook(1).to_string(), None, 20).await.expect("deliveries during the swap");
                assert_eq!(page.items.len(), 20);
                last_total = last_total.max(a.stats.interested + a.stats.declined);
                assert!(last_total >= 75);
                reads.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Two rebuilds in a row while writes and reads go on.
    for _ in 0..2 {
        projections.rebuild(None, None).await.unwrap();
    }
    // Make sure writes kept arriving after the last swap.
    let seen = writes.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while writes.load(Ordering::Relaxed) < seen + 20 {
        assert!(Instant::now() < deadline, "writer stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    reader.await.expect("no read failed during the swaps");
    assert!(reads.load(Ordering::Relaxed) > 0);
    wait_caught_up(&projections).await;
    runner.shutdown().await;
    let online = dump_all(&env.db());

    let fresh = env.dir.path().join("offline.sqlite");
    env.projections_at(&fresh).rebuild(None, None).await.unwrap();
    assert_eq!(dump_all(&fresh), online);
    let a = projections.read_models().account_stats("acc_1".into()).await.unwrap();
    let written = writes.load(Ordering::Relaxed);
    assert_eq!(a.stats.interested + a.stats.declined, 75 + written, "nothing lost or doubled across the swaps");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_projection_version_rebuilds_blue_green_on_start() {
    let env = Env::new();
    workload(env.store.as_ref(), 0, 40).await;
    let health: Arc<dyn Projection> = Arc::new(packhooks_projections::health::WebhookHealthProjection);
    let options = RunnerOptions { swap_poll: Duration::from_millis(20), ..RunnerOptions::default() };
    let v1: Vec<Arc<dyn Projection>> = vec![Arc::new(Versioned(health.clone(), 1))];
    let runner = ProjectionRunner::start(env.store.clone(), &env.db(), &v1, options.clone(), Board::default());
    let active = |projections: Vec<Arc<dyn Projection>>| {
        let (db, store) = (env.db(), env.store.clone());
        async move {
            let version = projections[0].version();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let status = packhooks_projections::status::status(&store, &db, &projections, None).await.unwrap();
                let caught_up = status[0].lag.as_ref().is_some_and(|l| l.events == 0);
                if let Some(set) = status[0].active.clone().filter(|s| s.version == version && caught_up) {
                    return set;
                }
                assert!(Instant::now() < deadline, "version {version} never became active and caught up");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let first = active(v1.clone()).await;
    runner.shutdown().await;
    let rows = packhooks_projections::dump(&env.db(), health.as_ref()).unwrap();

    let v2: Vec<Arc<dyn Projection>> = vec![Arc::new(Versioned(health.clone(), 2))];
    let runner = ProjectionRunner::start(env.store.clone(), &env.db(), &v2, options, Board::default());
    let second = active(v2.clone()).await;
    assert!(second.generation > first.generation, "a new table set was built");
    assert_eq!(packhooks_projections::dump(&env.db(), health.as_ref()).unwrap(), rows);
    runner.shutdown().await;
}
