//! Delivery across a restart, when the webhook changed after the position the dispatcher
//! replays from: retries restored from a `deliveries-` stream (and replayed first attempts) go
//! where the webhook points now, or are abandoned if it is off now; deliveries abandoned
//! before the restart stay abandoned. Real SQLite store, real actors, real HTTP to a
//! `TestReceiver` on 127.0.0.1; every wait is a bounded poll on a condition.
//!
//! Each scenario keeps some webhook's resume point behind the change: a webhook that owes a
//! retry writes no idle checkpoint when delivery stops, just as after a kill -9.

#[allow(dead_code)]
#[path = "delivery/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use chrono::Utc;
use harness::{test_config, Env, Hook};
use packhooks_delivery::DeliveryConfig;
use packhooks_domain::account::Plan;
use packhooks_domain::submission::{DeclineReason, InterestedCandidate, StandardReason};
use packhooks_domain::webhook::{EventType, WebhookEnabled, WebhookUpdated};
use packhooks_domain::{DomainEvent, WebhookId};
use packhooks_tests::faults::{Faulty, FlakyReads};
use packhooks_tests::receiver::Reply;

const WAIT: Duration = Duration::from_secs(20);

fn count(events: &[DomainEvent], event_type: &str) -> usize {
    events.iter().filter(|e| e.event_type() == event_type).count()
}

/// Retries due 300 ms after a failure: long enough to stop delivery before one is due.
fn config() -> DeliveryConfig {
    let mut config = test_config();
    config.retry.delays = vec![Duration::from_millis(300), Duration::from_millis(300)];
    config.retry.jitter = 0.0;
    config
}

/// Waits (a bounded poll) until the retry the webhook's first failed attempt scheduled is due.
async fn until_the_retry_is_due(env: &Env, webhook: WebhookId) {
    let events = env.deliveries(webhook).await;
    let due = events
        .iter()
        .find_map(|e| match e {
            DomainEvent::DeliveryAttempted(a) => a.next_attempt_at,
            _ => None,
        })
        .expect("a retry was scheduled");
    let deadline = Instant::now() + WAIT;
    while Utc::now() < due && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the delivery stream shows the restored retry handled: attempted again or
/// abandoned.
async fn retry_handled(env: &Env, webhook: WebhookId) -> Vec<DomainEvent> {
    env.wait_stream(&webhook.deliveries_stream(), WAIT, |e| {
        count(e, "DeliveryAttempted") >= 2 || count(e, "DeliveryAbandoned") >= 1
    })
    .await
}

/// A webhook at `path` whose first attempt failed (its endpoint answers 500 once, then 200),
/// with delivery still running: its retry is owed.
async fn a_first_attempt_failed(path: &'static str) -> (Env, Hook) {
    let mut env = Env::new(config());
    env.set_plan("acc_1", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_1", path, &[EventType::Interested]).await;
    env.receiver.on(path, |call| if call.seen == 0 { Reply::status(500) } else { Reply::ok() });
    env.start();
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    env.wait_stream(&hook.id.deliveries_stream(), WAIT, |e| count(e, "DeliveryAttempted") == 1).await;
    (env, hook)
}

#[actix_rt::test]
async fn a_webhook_created_after_the_replay_start_gets_its_restored_retry() {
    let mut env = Env::new(config());
    env.set_plan("acc_1", Plan::Growth).await;
    // An older webhook that owes a retry keeps the replay start before the young one exists.
    let (old, _) = env.create_webhook("acc_1", "/old", &[EventType::Declined]).await;
    env.receiver.on("/old", |_| Reply::status(500));
    env.start();
    env.declined("acc_1", "pk_1", DeclineReason::Standard(StandardReason::Timing), None).await;
    env.wait_stream(&old.id.deliveries_stream(), WAIT, |e| count(e, "DeliveryAttempted") >= 1).await;
    let (young, _) = env.create_webhook("acc_1", "/young", &[EventType::Interested]).await;
    env.receiver.on("/young", |call| if call.seen == 0 { Reply::status(500) } else { Reply::ok() });
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    env.wait_stream(&young.id.deliveries_stream(), WAIT, |e| count(e, "DeliveryAttempted") == 1).await;
    env.stop().await;
    until_the_retry_is_due(&env, young.id).await;

    env.start();
    let events = retry_handled(&env, young.id).await;
    assert_eq!(count(&events, "DeliveryAbandoned"), 0, "the retry was abandoned, not attempted: {events:#?}");
    assert_eq!(env.receiver.requests_to("/young").len(), 2);
}

#[actix_rt::test]
async fn a_webhook_disabled_before_a_restart_gets_no_restored_retry() {
    let (mut env, hook) = a_first_attempt_failed("/h").await;
    env.stop().await;
    env.disable(hook.id).await;
    until_the_retry_is_due(&env, hook.id).await;

    env.start();
    let events = retry_handled(&env, hook.id).await;
    assert_eq!(count(&events, "DeliveryAbandoned"), 1, "{events:#?}");
    assert_eq!(env.receiver.requests_to("/h").len(), 1, "the disabled webhook got the retry");
}

#[actix_rt::test]
async fn a_webhook_deleted_before_a_restart_gets_no_restored_retry() {
    let (mut env, hook) = a_first_attempt_failed("/d").await;
    env.delete(hook.id).await;
    env.stop().await;
    until_the_retry_is_due(&env, hook.id).await;

    env.start();
    let events = retry_handled(&env, hook.id).await;
    assert_eq!(count(&events, "DeliveryAbandoned"), 1, "{events:#?}");
    assert_eq!(env.receiver.requests_to("/d").len(), 1, "the deleted webhook got the retry");
}

#[actix_rt::test]
async fn a_restored_retry_goes_to_the_url_the_webhook_has_now() {
    let (mut env, hook) = a_first_attempt_failed("/before").await;
    env.stop().await;
    let updated = WebhookUpdated {
        webhook_id: hook.id,
        url: env.receiver.url("/after"),
        events: vec![EventType::Interested],
        description: None,
        format: Default::default(),
        recorded_at: Utc::now(),
    };
    env.append(&hook.id.stream(), updated).await;
    until_the_retry_is_due(&env, hook.id).await;

    env.start();
    retry_handled(&env, hook.id).await;
    assert_eq!(env.receiver.requests_to("/before").len(), 1);
    assert_eq!(env.receiver.requests_to("/after").len(), 1, "the retry did not go to the new URL");
}

#[actix_rt::test]
async fn deliveries_abandoned_by_a_disable_stay_abandoned_after_a_restart() {
    let mut config = config();
    config.in_flight_per_webhook = 1;
    config.retry.delays = vec![Duration::from_secs(60)];
    let mut env = Env::new(config);
    env.set_plan("acc_1", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_1", "/q", &[EventType::Interested]).await;
    // The first attempt is still in flight (a slow endpoint) when the webhook is disabled;
    // the two queued behind it are abandoned without an attempt.
    env.receiver.on("/q", |_| Reply::status(500).delayed(Duration::from_secs(5)));
    env.start();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (s, _) = env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
        ids.push(format!("msg_{}", s.submission_id.uuid().simple()));
    }
    assert!(env.receiver.wait_for(Some("/q"), 1, WAIT).await);
    env.disable(hook.id).await;
    env.wait_stream(&hook.id.deliveries_stream(), WAIT, |e| count(e, "DeliveryAbandoned") == 2).await;
    env.wait_stream(&hook.id.deliveries_stream(), WAIT, |e| count(e, "DeliveryAttempted") == 1).await;
    env.stop().await;
    let enabled = WebhookEnabled { webhook_id: hook.id, recorded_at: Utc::now() };
    env.append(&hook.id.stream(), enabled).await;
    env.receiver.on("/q", |_| Reply::ok());

    env.start();
    // A later submission to the enabled webhook shows the replay has passed the three.
    let (last, _) = env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    let last = format!("msg_{}", last.submission_id.uuid().simple());
    env.wait_stream(&hook.id.deliveries_stream(), WAIT, |e| {
        e.iter().any(|e| matches!(e, DomainEvent::DeliveryAttempted(a) if a.source.message_id == last))
    })
    .await;
    let got: Vec<String> =
        env.receiver.requests_to("/q").iter().filter_map(|r| r.webhook_id().map(str::to_owned)).collect();
    assert!(
        !got.contains(&ids[1]) && !got.contains(&ids[2]),
        "abandoned deliveries were sent after a restart: {got:?}"
    );
}

/// Starts delivery on a store whose first `failures` reads of streams starting with `prefix`
/// fail (the test's own helpers keep reading the real store).
fn start_on_flaky_store(env: &mut Env, prefix: &str, failures: usize) -> std::sync::Arc<Faulty<FlakyReads>> {
    let flaky = Faulty::new(env.store.clone(), FlakyReads::new(prefix, failures));
    let real = std::mem::replace(&mut env.store, flaky.clone());
    env.start();
    env.store = real;
    flaky
}

#[actix_rt::test]
async fn an_actor_loads_after_injected_read_failures_of_its_stream() {
    let mut env = Env::new(config());
    env.set_plan("acc_1", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_1", "/h", &[EventType::Interested]).await;
    let flaky = start_on_flaky_store(&mut env, "deliveries-", 3);
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    assert!(env.receiver.wait_for(Some(&hook.path), 1, WAIT).await, "the webhook lost its actor to a passing outage");
    assert_eq!(flaky.failures_given(), 3);
}

#[actix_rt::test]
async fn an_actor_whose_committed_appends_lose_their_injected_answers_keeps_delivering_and_records_each_once() {
    let mut env = Env::new(config());
    env.set_plan("acc_1", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_1", "/h", &[EventType::Interested]).await;
    let flaky = Faulty::new(env.store.clone(), FlakyReads::new("none", 0).losing_append_answers("deliveries-", 2));
    let real = std::mem::replace(&mut env.store, flaky.clone());
    env.start();
    env.store = real;
    // More outcomes arrive while the first batch's answer is lost, so a retry that took them
    // in would no longer be the batch that committed.
    for _ in 0..3 {
        env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    }
    assert!(env.receiver.wait_for(Some(&hook.path), 3, WAIT).await, "the first deliveries did not arrive");
    for _ in 0..3 {
        env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    }
    let events = env.wait_stream(&hook.id.deliveries_stream(), WAIT, |e| count(e, "DeliveryAttempted") >= 6).await;
    assert_eq!(flaky.answers_lost(), 2);
    let stopped = env.config.metrics.stopped_on_conflict_total();
    assert_eq!(stopped, 0, "a lost answer stopped the actor as if another one wrote its stream");
    let mut recorded: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            DomainEvent::DeliveryAttempted(a) => Some(a.delivery_id),
            _ => None,
        })
        .collect();
    let attempts = recorded.len();
    recorded.sort();
    recorded.dedup();
    assert_eq!((attempts, recorded.len()), (6, 6), "each delivery's attempt is recorded once: {events:#?}");
    assert_eq!(env.receiver.requests_to("/h").len(), 6, "a delivery was sent twice");
}

#[actix_rt::test]
async fn a_restored_retry_is_attempted_after_injected_read_failures_of_its_body() {
    let (mut env, hook) = a_first_attempt_failed("/h").await;
    env.stop().await;
    until_the_retry_is_due(&env, hook.id).await;

    // The restored retry has no body in memory: it reads the submission from its pack stream.
    let flaky = start_on_flaky_store(&mut env, "pack-", 2);
    let events = retry_handled(&env, hook.id).await;
    assert_eq!(count(&events, "DeliveryAbandoned"), 0, "abandoned on a passing read error: {events:#?}");
    assert_eq!(env.receiver.requests_to("/h").len(), 2);
    assert_eq!(flaky.failures_given(), 2);
}

#[actix_rt::test]
async fn a_webhook_whose_stream_stays_unreadable_holds_neither_the_others_nor_a_stop_up_for_long() {
    let mut env = Env::new(config());
    env.set_plan("acc_1", Plan::Growth).await;
    let (stuck, _) = env.create_webhook("acc_1", "/stuck", &[EventType::Interested]).await;
    let (fine, _) = env.create_webhook("acc_1", "/fine", &[EventType::Interested]).await;
    let flaky = start_on_flaky_store(&mut env, &stuck.id.deliveries_stream(), usize::MAX);
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    assert!(env.receiver.wait_for(Some(&fine.path), 1, WAIT).await, "one unreadable stream held every webhook up");
    assert!(tokio::time::timeout(WAIT, env.stop()).await.is_ok(), "the stop waited on the unreadable stream");
    assert!(flaky.failures_given() >= 2, "the stream load was not tried again");
    assert!(env.receiver.requests_to("/stuck").is_empty());
}
