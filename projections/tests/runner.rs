//! The live runner's batching and checkpoints: events of a type no projection reads still
//! move the checkpoints, a lone event is written at once even with a long commit interval,
//! a backlog is worked off in full batches without waiting for it, a stop does not wait for
//! the interval either, and a projection rebuilt on start joins the others once swapped in.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use packhooks_domain::delivery::DeliveryCheckpoint;
use packhooks_domain::DomainEvent;
use packhooks_projections::db::{self, SetState};
use packhooks_projections::{Board, Projection, ProjectionRunner, RunnerOptions};

/// The stored checkpoint (commit position) of `name`'s active set.
fn checkpoint(env: &Env, name: &str) -> Option<u64> {
    let conn = db::open(&env.db()).unwrap();
    db::set_in_state(&conn, name, SetState::Active).unwrap().and_then(|s| s.checkpoint).map(|c| c.commit)
}

/// Waits (bounded) until `name`'s stored checkpoint is at least `at`.
async fn wait_checkpoint(env: &Env, name: &str, at: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        if checkpoint(env, name).is_some_and(|c| c >= at) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never reached {at}: {:?}", checkpoint(env, name));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn delivery_checkpoint(n: u32) -> DomainEvent {
    DeliveryCheckpoint {
        webhook_id: webhook(1),
        resume_position: Some(packhooks_domain::Position::at(n.into())),
        pending: Vec::new(),
        failing_since: None,
        recorded_at: t0(),
    }
    .into()
}

fn start(env: &Env, options: RunnerOptions) -> ProjectionRunner {
    ProjectionRunner::start(env.store.clone(), &env.db(), &packhooks_projections::all(), options, Board::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_no_projection_reads_still_move_the_checkpoints() {
    let env = Env::new();
    let wh = webhook(1);
    append(env.store.as_ref(), &wh.stream(), &[created(wh, &account(1), t0())]).await;
    let runner = start(&env, RunnerOptions::default());
    let first = env.store.head().await.unwrap().unwrap().commit;
    for name in ["webhook_health", "delivery_log", "pack_stats"] {
        wait_checkpoint(&env, name, first, Duration::from_secs(10)).await;
    }

    // Live: only checkpoints of the delivery actor (a type no projection reads, in a stream
    // that two of them follow).
    for n in 0..5 {
        append(env.store.as_ref(), &wh.deliveries_stream(), &[delivery_checkpoint(n)]).await;
    }
    let head = env.store.head().await.unwrap().unwrap().commit;
    wait_checkpoint(&env, "delivery_log", head, Duration::from_secs(10)).await;
    wait_checkpoint(&env, "webhook_health", head, Duration::from_secs(10)).await;
    runner.shutdown().await;

    // From history: after a restart, catching up brings every checkpoint to the head, the
    // one of a projection none of whose streams had anything too.
    for n in 5..10 {
        append(env.store.as_ref(), &wh.deliveries_stream(), &[delivery_checkpoint(n)]).await;
    }
    let head = env.store.head().await.unwrap().unwrap().commit;
    let runner = start(&env, RunnerOptions::default());
    for name in ["webhook_health", "delivery_log", "pack_stats"] {
        wait_checkpoint(&env, name, head, Duration::from_secs(10)).await;
    }
    runner.shutdown().await;
    let dump =
        packhooks_projections::dump(&env.db(), &packhooks_projections::delivery_log::DeliveryLogProjection).unwrap();
    assert!(dump["delivery_log"].is_empty(), "a checkpoint is not an attempt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_event_is_written_at_once_and_a_stop_does_not_wait_for_the_commit_interval() {
    let env = Env::new();
    // An interval far longer than any deadline below: if the runner waited for it, they fail.
    let options = RunnerOptions { commit_interval: Duration::from_secs(600), ..RunnerOptions::default() };
    let runner = start(&env, options.clone());
    let wh = webhook(1);
    let at = append(env.store.as_ref(), &wh.stream(), &[created(wh, &account(1), t0())]).await;
    wait_checkpoint(&env, "webhook_health", at.commit, Duration::from_secs(10)).await;

    // The next event arrives within the interval: it waits for it, and a stop does not.
    append(env.store.as_ref(), &wh.deliveries_stream(), &[attempted(wh, 1, 1, 200, false, t0())]).await;
    let stopping = Instant::now();
    runner.shutdown().await;
    assert!(stopping.elapsed() < Duration::from_secs(60), "the stop waited for the commit interval");

    // A restart writes it at once: the last write was in another session.
    let head = env.store.head().await.unwrap().unwrap().commit;
    let runner = start(&env, options);
    wait_checkpoint(&env, "delivery_log", head, Duration::from_secs(10)).await;
    runner.shutdown().await;
    let dump =
        packhooks_projections::dump(&env.db(), &packhooks_projections::delivery_log::DeliveryLogProjection).unwrap();
    assert_eq!(dump["delivery_log"].len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_goes_in_full_batches_without_waiting_for_the_commit_interval() {
    let env = Env::new();
    workload(env.store.as_ref(), 0, 40).await;
    let head = env.store.head().await.unwrap().unwrap().commit;
    // Ten full batches at least; each would wait ten minutes if full batches waited.
    assert!(head > 160);
    let options =
        RunnerOptions { max_batch: 16, commit_interval: Duration::from_secs(600), ..RunnerOptions::default() };
    let board = Board::default();
    let runner = ProjectionRunner::start(
        env.store.clone(),
        &env.db(),
        &packhooks_projections::all(),
        options,
        Arc::clone(&board),
    );
    // Every event of every projection applied (a projection's checkpoint may stay a few
    // events of other streams short of the head until the next batch; that is no lag).
    wait_caught_up(&env.projections()).await;
    assert!(board.lock()["delivery_log"].batches >= 10, "the backlog went in batches of at most 16");
    runner.shutdown().await;

    let fresh = env.dir.path().join("fresh.sqlite");
    env.projections_at(&fresh).rebuild(None, None).await.unwrap();
    assert_eq!(dump_all(&fresh), dump_all(&env.db()), "the live read models equal a rebuild");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_projection_rebuilt_on_start_beside_the_others_live_ends_equal_to_a_rebuild() {
    let env = Env::new();
    workload(env.store.as_ref(), 0, 60).await;
    let health: Arc<dyn Projection> = Arc::new(packhooks_projections::health::WebhookHealthProjection);
    let with_health = |version: u32| -> Vec<Arc<dyn Projection>> {
        vec![
            Arc::new(Versioned(health.clone(), version)),
            Arc::new(packhooks_projections::pack_stats::PackStatsProjection),
            Arc::new(packhooks_projections::delivery_log::DeliveryLogProjection),
        ]
    };
    let options = RunnerOptions { swap_poll: Duration::from_millis(20), ..RunnerOptions::default() };
    let runner =
        ProjectionRunner::start(env.store.clone(), &env.db(), &with_health(1), options.clone(), Board::default());
    wait_caught_up(&env.projections()).await;
    runner.shutdown().await;
    let first = checkpoint_set(&env, "webhook_health");

    // Version 2 of health: rebuilt beside version 1 while the log keeps growing and the other
    // two follow it.
    let runner = ProjectionRunner::start(env.store.clone(), &env.db(), &with_health(2), options, Board::default());
    workload(env.store.as_ref(), 60, 60).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let set = checkpoint_set(&env, "webhook_health");
        if set.version == 2 {
            assert!(set.generation > first.generation, "a new table set was built");
            break;
        }
        assert!(Instant::now() < deadline, "version 2 never became active");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_caught_up(&env.projections()).await;
    runner.shutdown().await;

    let fresh = env.dir.path().join("fresh.sqlite");
    env.projections_at(&fresh).rebuild(None, None).await.unwrap();
    assert_eq!(dump_all(&fresh), dump_all(&env.db()), "the live read models equal a rebuild");
}

fn checkpoint_set(env: &Env, name: &str) -> db::TableSet {
    let conn = db::open(&env.db()).unwrap();
    db::set_in_state(&conn, name, SetState::Active).unwrap().expect("an active set")
}
