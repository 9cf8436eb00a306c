//! Delivery on the injected clock, and its bounds: retry schedules and auto-disable played
//! out on a `ManualClock` with no real waiting; the outcome buffer capped while appends do
//! not go through; the dispatcher waiting for room in a full actor mailbox. Real SQLite
//! store, real actors, real HTTP to a `TestReceiver` on 127.0.0.1; the store stand-ins are
//! the fault injections of `packhooks_tests::faults`, named where used.

#[allow(dead_code)]
#[path = "delivery/harness.rs"]
mod harness;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use harness::{test_config, Env};
use packhooks_domain::account::Plan;
use packhooks_domain::clock::{Clock, ManualClock, SystemClock};
use packhooks_domain::submission::InterestedCandidate;
use packhooks_domain::webhook::{DisabledBy, EventType};
use packhooks_domain::DomainEvent;
use packhooks_tests::faults::{Faulty, FlakyReads, GatedAppends};
use packhooks_tests::receiver::Reply;

const WAIT: Duration = Duration::from_secs(20);

fn count(events: &[DomainEvent], event_type: &str) -> usize {
    events.iter().filter(|e| e.event_type() == event_type).count()
}

#[actix_rt::test]
async fn retries_and_auto_disable_follow_a_manual_clock_with_no_real_waiting() {
    let mut config = test_config();
    // The production schedule: a minute, ten minutes, and a week of failing.
    config.retry.delays = vec![Duration::from_secs(60), Duration::from_secs(600)];
    config.auto_disable_after = Duration::from_secs(7 * 24 * 3600);
    let mut env = Env::new(config);
    env.set_plan("acc_1", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_1", "/down", &[EventType::Interested]).await;
    env.receiver.on("/down", |_| Reply::status(503));
    let start = Utc::now();
    let clock = Arc::new(ManualClock::new(start));
    env.start_on(env.store.clone(), clock.clone());
    let began = Instant::now();
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    let stream = hook.id.deliveries_stream();

    let events = env.wait_stream(&stream, WAIT, |e| count(e, "DeliveryAttempted") == 1).await;
    let first = events.iter().find_map(|e| match e {
        DomainEvent::DeliveryAttempted(a) => Some(a.clone()),
        _ => None,
    });
    let first = first.expect("the first attempt");
    assert_eq!(first.recorded_at, start, "recorded at the injected clock's time");
    let due = first.next_attempt_at.expect("a retry is scheduled");
    let after = (due - start).num_seconds();
    assert!((54..=66).contains(&after), "the retry is due {after} s after the first attempt");

    // The clock moves a minute and a bit: the retry goes out at once, not a real minute later.
    clock.set(due);
    let events = env.wait_stream(&stream, WAIT, |e| count(e, "DeliveryAttempted") == 2).await;
    let second = events.iter().rev().find_map(|e| match e {
        DomainEvent::DeliveryAttempted(a) => Some(a.clone()),
        _ => None,
    });
    let second = second.expect("second attempt");
    assert_eq!(second.recorded_at, due);
    clock.set(second.next_attempt_at.expect("a last retry is scheduled"));
    let events = env.wait_stream(&stream, WAIT, |e| count(e, "WebhookFlaggedFailing") == 1).await;
    assert_eq!(count(&events, "DeliveryAttempted"), 3);
    assert_eq!(count(&events, "DeliveryAbandoned"), 1);
    assert_eq!(env.receiver.requests_to("/down").len(), 3);
    let failing_since = clock.now();

    // A week of failing, on the clock: disabled by the auto-disable timer.
    clock.advance(chrono::Duration::days(7));
    let events = env.wait_stream(&hook.id.stream(), WAIT, |e| count(e, "WebhookDisabled") == 1).await;
    let Some(DomainEvent::WebhookDisabled(disabled)) = events.last() else { panic!("{events:?}") };
    assert_eq!(disabled.by, DisabledBy::Auto);
    assert_eq!(disabled.recorded_at, failing_since + chrono::Duration::days(7));
    assert!(disabled.reason.contains("no successful delivery for 604800 s"), "{}", disabled.reason);
    assert!(began.elapsed() < Duration::from_secs(15), "a week and eleven minutes took {:?}", began.elapsed());
}

#[actix_rt::test]
async fn a_retry_does_not_go_out_before_the_injected_clock_reaches_it() {
    let mut config = test_config();
    // Due 50 ms after the failure: on the wall clock it would long have gone out.
    config.retry.delays = vec![Duration::from_millis(50)];
    let mut env = Env::new(config);
    env.set_plan("acc_1", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_1", "/flaky", &[EventType::Interested]).await;
    env.receiver.on("/flaky", |_| Reply::status(500));
    let clock = Arc::new(ManualClock::new(Utc::now()));
    env.start_on(env.store.clone(), clock.clone());
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    assert!(env.receiver.wait_for(Some("/flaky"), 1, WAIT).await);
    // A marker webhook's delivery, a while of real time after, shows the actors kept going.
    let (marker, _) = env.create_webhook("acc_1", "/marker", &[EventType::Interested]).await;
    env.receiver.on("/marker", |_| Reply::ok());
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    assert!(env.receiver.wait_for(Some(&marker.path), 1, WAIT).await);
    assert_eq!(env.receiver.requests_to("/flaky").len(), 2, "only the second submission's first attempt");
    clock.advance(chrono::Duration::milliseconds(60));
    assert!(env.receiver.wait_for(Some(&hook.path), 4, WAIT).await, "both retries go out once the clock moved");
}

#[actix_rt::test]
async fn attempts_stop_while_outcomes_cannot_be_appended_and_go_on_once_they_can() {
    let mut config = test_config();
    config.in_flight_per_webhook = 2;
    config.batch_max = 4;
    let mut env = Env::new(config);
    env.set_plan("acc_1", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_1", "/h", &[EventType::Interested]).await;
    // Stand-in: appends of outcomes are held (a store that does not answer) while armed.
    let gated = Faulty::new(env.store.clone(), GatedAppends::new("deliveries-"));
    gated.armed.store(true, Ordering::SeqCst);
    env.start_on(gated.clone(), Arc::new(SystemClock));
    let n = 200;
    for _ in 0..n {
        env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    }
    // The first outcome's append is held; the next ones collect in the buffer, up to four
    // batches of 4, plus what was in flight when it filled.
    let cap = 1 + 4 * 4 + 2;
    assert!(env.receiver.wait_for(Some(&hook.path), 4 * 4, WAIT).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = env.receiver.requests_to(&hook.path).len();
    assert!(sent <= cap, "{sent} attempts while no outcome could be appended (at most {cap})");
    gated.gate.open();
    assert!(env.receiver.wait_for(Some(&hook.path), n, WAIT).await, "the rest went out once appends went through");
    let events = env.wait_stream(&hook.id.deliveries_stream(), WAIT, |e| count(e, "DeliveryAttempted") == n).await;
    assert_eq!(count(&events, "DeliveryAttempted"), n, "each recorded once");
}

#[actix_rt::test]
async fn routing_waits_for_room_in_a_full_actor_mailbox_and_loses_nothing() {
    let mut config = test_config();
    config.mailbox_capacity = 4;
    let mut env = Env::new(config);
    env.set_plan("acc_1", Plan::Growth).await;
    // Stand-in: the first reads of a deliveries stream fail. A webhook created while
    // delivery runs gets its actor at its first routed event, and that actor loads for a
    // while (100, 200, 400 and 800 ms of backoff) as events routed to it queue in its mailbox.
    let flaky = Faulty::new(env.store.clone(), FlakyReads::new("deliveries-", 4));
    env.start_on(flaky.clone(), Arc::new(SystemClock));
    let (hook, _) = env.create_webhook("acc_1", "/h", &[EventType::Interested]).await;
    let n = 40;
    for _ in 0..n {
        env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    }
    assert!(env.receiver.wait_for(Some(&hook.path), n, WAIT).await);
    let events = env.wait_stream(&hook.id.deliveries_stream(), WAIT, |e| count(e, "DeliveryAttempted") == n).await;
    assert_eq!(count(&events, "DeliveryAttempted"), n);
    assert_eq!(flaky.failures_given(), 4);
    let waits = env.config.metrics.mailbox_waits_total();
    assert!(waits > 0, "the dispatcher never found the loading actor's mailbox of 4 full");
}
