//! SIGKILL during projection: a real child process runs the live runner over a backlog and
//! is killed with SIGKILL mid-stream, several times; after a restart the read models equal
//! a fresh rebuild: nothing counted twice, nothing missed.
//!
//! The child is this test binary itself, started again on the ignored `projection_worker`
//! test with the data directory in an environment variable.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use packhooks_projections::db::{self, SetState};
use packhooks_projections::{Projections, RunnerOptions};
use packhooks_store::sqlite::SqliteStore;
use packhooks_store::EventStore;

const WORKER_DIR: &str = "PACKHOOKS_TEST_WORKER_DIR";

/// Not a test: the child process body. Runs the projections of the data directory in
/// `PACKHOOKS_TEST_WORKER_DIR` with small batches until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the body of the child process of sigkill_mid_projection_counts_nothing_twice_and_misses_nothing"]
async fn projection_worker() {
    let Ok(dir) = std::env::var(WORKER_DIR) else { return };
    let dir = std::path::PathBuf::from(dir);
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(dir.join("events.sqlite")).unwrap());
    let options = RunnerOptions { max_batch: 16, ..RunnerOptions::default() };
    let projections = Projections::new(store, &dir.join("read-models.sqlite"), options).unwrap();
    let _runner = projections.start();
    futures::future::pending::<()>().await;
}

fn spawn_worker(dir: &std::path::Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["projection_worker", "--exact", "--ignored", "--nocapture"])
        .env(WORKER_DIR, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn checkpoint(dbp: &std::path::Path, name: &str) -> u64 {
    if !dbp.exists() {
        return 0;
    }
    let conn = db::open(dbp).unwrap();
    db::set_in_state(&conn, name, SetState::Active).unwrap().and_then(|s| s.checkpoint).map(|c| c.commit).unwrap_or(0)
}

fn kill(child: &mut Child) {
    // SIGKILL: no destructor, no flush, no goodbye.
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_projection_counts_nothing_twice_and_misses_nothing() {
    let mut env = Env::new();
    let rounds = 1500;
    workload(env.store.as_ref(), 0, rounds).await;
    // One writer per store file: the worker processes open it for writing, so from here on
    // this process only reads it.
    env.store.close().await.unwrap();
    env.store = Arc::new(SqliteStore::open_read_only(env.dir.path().join("events.sqlite")).unwrap());
    let head = env.store.head().await.unwrap().unwrap().commit;
    let dbp = env.db();

    let mut kills = 0;
    for fraction in [0.2, 0.45, 0.7] {
        let mut child = spawn_worker(env.dir.path());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let at = checkpoint(&dbp, "delivery_log");
            if at as f64 >= fraction * head as f64 {
                assert!(at < head, "the worker finished before it could be killed");
                break;
            }
            assert!(Instant::now() < deadline, "worker made no progress");
            std::thread::sleep(Duration::from_millis(2));
        }
        kill(&mut child);
        kills += 1;
    }
    assert_eq!(kills, 3);

    // Restart and let it finish.
    let mut child = spawn_worker(env.dir.path());
    let projections = env.projections();
    wait_caught_up(&projections).await;
    kill(&mut child);

    let live = dump_all(&dbp);
    let fresh = env.dir.path().join("fresh.sqlite");
    env.projections_at(&fresh).rebuild(None, None).await.unwrap();
    assert_eq!(dump_all(&fresh), live, "the killed-and-restarted read models equal a fresh rebuild");

    let read = projections.read_models();
    let a = read.account_stats("acc_1".into()).await.unwrap();
    let b = read.account_stats("acc_2".into()).await.unwrap();
    assert_eq!(a.stats.interested + a.stats.declined + b.stats.interested + b.stats.declined, rounds);
    let h1 = read.webhook_health(webhook(1).to_string(), t0()).await.unwrap().unwrap();
    assert_eq!(h1.counts.attempts, rounds);
    let mut logged = 0;
    let mut before = None;
    loop {
        let page = read.deliveries(webhook(1).to_string(), before, 200).await.unwrap();
        logged += page.items.len() as u64;
        match page.next {
            Some(next) => before = Some(next.parse().unwrap()),
            None => break,
        }
    }
    assert_eq!(logged, rounds, "every attempt logged exactly once");
}
