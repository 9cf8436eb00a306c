//! After a projection is rebuilt on start because its stored version is not the code's (an
//! upgrade), its rebuild shows as done and ops can start another one.

mod common;

use std::time::{Duration, Instant};

use common::*;
use packhooks_projections::db::{self, SetState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_on_start_ends_as_done_and_ops_can_rebuild_again() {
    let env = Env::new();
    workload(env.store.as_ref(), 0, 20).await;
    let projections = env.projections();
    let runner = projections.start();
    wait_caught_up(&projections).await;
    runner.shutdown().await;

    // The release before wrote webhook health with another version.
    let changed = db::open(&env.db())
        .unwrap()
        .execute("UPDATE projection_versions SET version = 0 WHERE name = 'webhook_health' AND state = 'active'", [])
        .unwrap();
    assert_eq!(changed, 1);

    let runner = projections.start();
    let deadline = Instant::now() + Duration::from_secs(20);
    while db::set_in_state(&db::open(&env.db()).unwrap(), "webhook_health", SetState::Active).unwrap().unwrap().version
        != 1
    {
        assert!(Instant::now() < deadline, "the rebuild on start never swapped in");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_caught_up(&projections).await;

    let rebuild_state = |status: &[packhooks_projections::ProjectionStatus]| {
        let health = status.iter().find(|s| s.name == "webhook_health").unwrap();
        health.live.as_ref().and_then(|l| l.rebuild.as_ref()).map(|r| r.state.clone())
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state = rebuild_state(&projections.status().await.unwrap());
        if state.as_deref() == Some("done") {
            break;
        }
        assert!(Instant::now() < deadline, "the rebuild on start still shows as {state:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Ops can rebuild it again (POST /v1/ops/projections/webhook_health/rebuild).
    let started = projections.spawn_rebuild(Some("webhook_health")).await;
    assert_eq!(started.unwrap(), ["webhook_health"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while rebuild_state(&projections.status().await.unwrap()).as_deref() != Some("done") {
        assert!(Instant::now() < deadline, "the ops rebuild never finished");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    runner.shutdown().await;
}
