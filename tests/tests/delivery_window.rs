//! The webhook actor's window (DESIGN.md, "Delivery guarantees"): an actor takes on at most
//! `WINDOW_PER_IN_FLIGHT` (4) × its in-flight limit routed events still owed a first attempt;
//! the rest wait in a backlog outside the checkpoint, and the resume position stops before
//! the backlog. Real SQLite store in a temp dir, the real dispatcher and actors, real HTTP to
//! a `TestReceiver` on 127.0.0.1; every wait is a bounded poll.

#[allow(dead_code)]
#[path = "delivery/harness.rs"]
mod harness;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use harness::{test_config, Env, Hook};
use packhooks_delivery::DeliveryConfig;
use packhooks_domain::account::Plan;
use packhooks_domain::submission::InterestedCandidate;
use packhooks_domain::webhook::EventType;
use packhooks_domain::DomainEvent;
use packhooks_store::sqlite::SqliteStore;
use packhooks_store::{AllPosition, Direction, EventStore, Position};
use packhooks_tests::packhooks_bin;
use packhooks_tests::process::{Launch, ServerProcess};
use packhooks_tests::receiver::{Reply, TestReceiver};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);
/// The actor's window per unit of in-flight limit (`WINDOW_PER_IN_FLIGHT`).
const WINDOW_PER_IN_FLIGHT: usize = 4;

fn msg_id(uuid: uuid::Uuid) -> String {
    format!("msg_{}", uuid.simple())
}

/// One attempt at a time and a checkpoint every few events, so a lag shows in checkpoints.
fn lagging_config() -> DeliveryConfig {
    DeliveryConfig { in_flight_per_webhook: 1, checkpoint_every: 5, ..test_config() }
}

/// Appends `n` submissions at once (the store commits them in groups), so the webhook lags
/// behind the log by about `n`; returns each message id with its position.
async fn submit_burst(env: &Env, account: &str, n: usize) -> Vec<(String, Position)> {
    let appends = (0..n).map(|_| env.interested(account, "pk_w", InterestedCandidate::default()));
    futures::future::join_all(appends)
        .await
        .into_iter()
        .map(|(e, position)| (msg_id(e.submission_id.uuid()), position))
        .collect()
}

/// What the checkpoints of a `deliveries-` stream showed.
#[derive(Debug, Default)]
struct CheckpointsSeen {
    count: usize,
    max_pending: usize,
    /// The most submissions a checkpoint left behind its resume position unattempted (the
    /// backlog it did not list).
    max_behind: usize,
    last_resume: Option<Position>,
}

/// Checks every checkpoint of a webhook's stream against the events before it:
/// - at most `window` of its pending deliveries still owe their first attempt;
/// - every pending retry (attempt ≥ 2) follows a recorded attempt of that delivery;
/// - every submission up to its resume position was attempted (or abandoned) before it or
///   is listed as pending: nothing up to the resume position can be forgotten.
fn check_checkpoints(events: &[DomainEvent], submissions: &[(String, Position)], window: usize) -> CheckpointsSeen {
    let mut seen = CheckpointsSeen::default();
    let mut attempted: HashSet<&str> = HashSet::new();
    for event in events {
        match event {
            DomainEvent::DeliveryAttempted(a) => {
                attempted.insert(a.source.message_id.as_str());
            }
            DomainEvent::DeliveryAbandoned(a) => {
                attempted.insert(a.source.message_id.as_str());
            }
            DomainEvent::DeliveryCheckpoint(cp) => {
                seen.count += 1;
                seen.max_pending = seen.max_pending.max(cp.pending.len());
                let first = cp.pending.iter().filter(|p| p.attempt == 1).count();
                assert!(first <= window, "a checkpoint lists {first} first attempts, the window is {window}: {cp:?}");
                for retry in cp.pending.iter().filter(|p| p.attempt > 1) {
                    assert!(
                        attempted.contains(retry.source.message_id.as_str()),
                        "pending retry {retry:?} has no recorded attempt before the checkpoint"
                    );
                }
                let listed: HashSet<&str> = cp.pending.iter().map(|p| p.source.message_id.as_str()).collect();
                let resume: Option<Position> = cp.resume_position;
                for (id, position) in submissions {
                    let covered = resume.is_some_and(|r| *position <= r);
                    assert!(
                        !covered || attempted.contains(id.as_str()) || listed.contains(id.as_str()),
                        "{id} at {position} is before the resume position {resume:?} but neither attempted nor pending"
                    );
                }
                let behind = submissions
                    .iter()
                    .filter(|(id, p)| resume.is_none_or(|r| *p > r) && !attempted.contains(id.as_str()))
                    .count();
                seen.max_behind = seen.max_behind.max(behind);
                seen.last_resume = resume;
            }
            _ => {}
        }
    }
    seen
}

/// The message ids each webhook path received, with how often.
fn arrivals(env: &Env, path: &str) -> HashMap<String, usize> {
    let mut got = HashMap::new();
    for r in env.receiver.requests_to(path) {
        *got.entry(r.webhook_id().expect("webhook-id").to_owned()).or_insert(0) += 1;
    }
    got
}

/// Whether the receiver failed the first attempt of this message (about 1 in 4).
fn fails_first(webhook_id: &str) -> bool {
    webhook_id.bytes().last().is_some_and(|b| b % 4 == 0)
}

/// Waits until `n` deliveries to `hook` are settled (attempted, or abandoned); its stream.
async fn wait_settled(env: &Env, hook: &Hook, n: usize) -> Vec<DomainEvent> {
    env.wait_stream(&hook.id.deliveries_stream(), WAIT, |events| {
        events
            .iter()
            .filter(|e| matches!(e, DomainEvent::DeliveryAttempted(_) | DomainEvent::DeliveryAbandoned(_)))
            .count()
            >= n
    })
    .await
}

/// Waits until every submission arrived at `hook`, stops delivery, and checks that none
/// arrived twice (graceful stops only) and the checkpoints.
async fn each_arrives_once(env: &mut Env, hook: &Hook, submissions: &[(String, Position)]) {
    let expected: BTreeSet<String> = submissions.iter().map(|(id, _)| id.clone()).collect();
    assert!(
        env.receiver.wait_for(Some(&hook.path), expected.len(), WAIT).await,
        "{} of {} arrived",
        env.receiver.count(),
        expected.len()
    );
    env.stop().await;
    let got = arrivals(env, &hook.path);
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), expected, "every submission arrived");
    let repeated: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "a graceful stop repeats nothing: {repeated:?}");
    check_checkpoints(&env.deliveries(hook.id).await, submissions, WINDOW_PER_IN_FLIGHT);
}

/// Whether some webhook's backlog overflowed (events were read back from the log).
fn overflowed(env: &Env) -> bool {
    env.config.metrics.backlog_overflows_total() >= 1
}

#[actix_rt::test]
async fn a_lagging_webhook_writes_checkpoints_bounded_by_its_window_not_by_its_lag() {
    const N: usize = 120;
    let mut env = Env::new(lagging_config());
    env.set_plan("acc_w", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_w", "/lag", &[EventType::Interested]).await;
    // Slow, and failing a quarter of first attempts, so retries mix with the backlog.
    env.receiver.on("/lag", |call| {
        let reply = match call.webhook_id {
            Some(id) if call.seen == 0 && fails_first(id) => Reply::status(500),
            _ => Reply::ok(),
        };
        reply.delayed(Duration::from_millis(10))
    });
    env.start();
    let submissions = submit_burst(&env, "acc_w", N).await;
    assert!(env.receiver.count() < N / 2, "the webhook should lag: {} of {N} already arrived", env.receiver.count());

    let expected: BTreeSet<String> = submissions.iter().map(|(id, _)| id.clone()).collect();
    let stream = hook.id.deliveries_stream();
    let events = env
        .wait_stream(&stream, WAIT, |events| {
            let delivered: HashSet<&str> = events
                .iter()
                .filter_map(|e| match e {
                    DomainEvent::DeliveryAttempted(a) if a.outcome.is_success() => Some(a.source.message_id.as_str()),
                    _ => None,
                })
                .collect();
            expected.iter().all(|id| delivered.contains(id.as_str()))
        })
        .await;
    env.stop().await;

    let window = WINDOW_PER_IN_FLIGHT * lagging_config().in_flight_per_webhook;
    let seen = check_checkpoints(&events, &submissions, window);
    assert!(seen.count >= 20, "checkpoints every 5 events over {} events: {seen:?}", events.len());
    assert!(seen.max_behind >= N / 2, "checkpoints were written while the webhook lagged: {seen:?}");
    assert!(seen.max_pending < N / 4, "pending stays far below the lag: {seen:?}");
    let got = arrivals(&env, "/lag");
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), expected);
    for (id, times) in &got {
        let allowed = if fails_first(id) { 2 } else { 1 };
        assert_eq!(*times, allowed, "{id} arrived {times} times");
    }
}

#[actix_rt::test]
async fn restarting_while_a_backlog_waits_loses_nothing_and_repeats_nothing() {
    let mut env = Env::new(lagging_config());
    env.set_plan("acc_w", Plan::Growth).await;
    let (hook, _): (Hook, _) = env.create_webhook("acc_w", "/r", &[EventType::Interested]).await;
    env.receiver.on("/r", |_| Reply::ok().delayed(Duration::from_millis(10)));
    env.start();
    let mut submissions = submit_burst(&env, "acc_w", 100).await;

    for (round, arrived) in [(0, 15), (1, 45)] {
        assert!(
            env.receiver.wait_for(Some("/r"), arrived, WAIT).await,
            "round {round}: {} arrived",
            env.receiver.count()
        );
        // A graceful stop: attempts in flight finish and their outcomes are appended.
        env.stop().await;
        let received = env.receiver.count();
        assert!(received < submissions.len(), "round {round}: a backlog is left ({received} arrived)");
        let events = env.deliveries(hook.id).await;
        let seen = check_checkpoints(&events, &submissions, WINDOW_PER_IN_FLIGHT);
        let last = submissions.iter().map(|(_, p)| *p).max().expect("submitted");
        assert!(
            seen.last_resume.is_some_and(|r| r < last),
            "round {round}: the resume point stops before the backlog: {seen:?}"
        );
        // More arrive while delivery is down.
        submissions.extend(submit_burst(&env, "acc_w", 10).await);
        env.start();
    }

    each_arrives_once(&mut env, &hook, &submissions).await;
}

#[actix_rt::test]
async fn disabling_a_webhook_with_a_backlog_abandons_all_of_it() {
    const N: usize = 60;
    let mut env = Env::new(lagging_config());
    env.set_plan("acc_w", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_w", "/d", &[EventType::Interested]).await;
    env.receiver.on("/d", |_| Reply::ok().delayed(Duration::from_millis(30)));
    env.start();
    let submissions = submit_burst(&env, "acc_w", N).await;
    assert!(env.receiver.wait_for(Some("/d"), 1, WAIT).await);
    env.disable(hook.id).await;

    // Every submission routed before the disable is settled: attempted, or abandoned
    // without an attempt (the window frees with nothing in flight to pull the backlog in).
    let events = wait_settled(&env, &hook, N).await;
    env.stop().await;
    let mut attempted = HashSet::new();
    let mut abandoned = HashSet::new();
    for event in &events {
        match event {
            DomainEvent::DeliveryAttempted(a) => assert!(attempted.insert(a.source.message_id.clone())),
            DomainEvent::DeliveryAbandoned(a) => {
                assert_eq!(a.attempts, 0, "abandoned without an attempt");
                assert!(abandoned.insert(a.source.message_id.clone()));
            }
            _ => {}
        }
    }
    assert!(attempted.is_disjoint(&abandoned));
    let all: BTreeSet<String> = attempted.union(&abandoned).cloned().collect();
    assert_eq!(all, submissions.iter().map(|(id, _)| id.clone()).collect::<BTreeSet<_>>());
    assert!(!abandoned.is_empty(), "the disable came while a backlog waited");
    let received: BTreeSet<String> = arrivals(&env, "/d").into_keys().collect();
    assert_eq!(received, attempted.into_iter().collect::<BTreeSet<_>>(), "only attempted ones arrived");
    check_checkpoints(&events, &submissions, WINDOW_PER_IN_FLIGHT);
}

const TOKEN: &str = "delivery-window-token-0123456789";

fn start_server(data_dir: &std::path::Path) -> ServerProcess {
    Launch::new(packhooks_bin!(), data_dir)
        .token_and_private_targets(TOKEN)
        .env("PACKHOOKS_IN_FLIGHT_PER_WEBHOOK", 1)
        .env("PACKHOOKS_CHECKPOINT_EVERY", 5)
        .env("PACKHOOKS_RETRY_DELAYS", "50ms,100ms")
        .start()
}

async fn post_ok(http: &reqwest::Client, url: String, body: serde_json::Value) -> serde_json::Value {
    let response = http.post(url).bearer_auth(TOKEN).json(&body).send().await.expect("request sent");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("a JSON answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_while_a_backlog_waits_loses_nothing_and_repeats_only_what_was_in_flight() {
    const N: usize = 150;
    let receiver = TestReceiver::start();
    receiver.on("/k", |_| Reply::ok().delayed(Duration::from_millis(10)));
    let data_dir = tempfile::tempdir().expect("temp dir");
    let http = reqwest::Client::new();
    let server = start_server(data_dir.path());
    server.wait_healthy(&http).await;
    server.set_plan(&http, TOKEN, "acc_k", "growth").await;
    post_ok(
        &http,
        server.url("/v1/accounts/acc_k/webhooks"),
        json!({"url": receiver.url("/k"), "events": ["interested"]}),
    )
    .await;
    let posts = (0..N).map(|i| {
        let body = json!({"account_id": "acc_k", "pack_name": "Kill pack",
                          "candidate": {"name": format!("Candidate {i}"), "email": "k@example.com"}});
        post_ok(&http, server.url("/v1/packs/pk_k/interest"), body)
    });
    let expected: BTreeSet<String> = futures::future::join_all(posts)
        .await
        .iter()
        .map(|answer| format!("msg_{}", answer["submission_id"].as_str().expect("an id").trim_start_matches("sub_")))
        .collect();
    assert_eq!(expected.len(), N);

    assert!(receiver.wait_for(Some("/k"), 20, WAIT).await, "deliveries began");
    server.kill();
    let killed_at = Instant::now();
    let before_kill = receiver.count();
    assert!(before_kill < N - 40, "a backlog waited at the kill ({before_kill} of {N} arrived)");

    let server = start_server(data_dir.path());
    let all_arrived = receiver
        .wait_until(WAIT, |log| {
            let got: HashSet<&str> = log.iter().filter_map(|r| r.webhook_id()).collect();
            expected.iter().all(|id| got.contains(id.as_str()))
        })
        .await;
    server.terminate();
    assert!(all_arrived, "every submission arrived after the restart");

    let mut by_id: HashMap<String, Vec<packhooks_tests::receiver::Received>> = HashMap::new();
    for r in receiver.requests() {
        by_id.entry(r.webhook_id().expect("webhook-id").to_owned()).or_default().push(r);
    }
    assert_eq!(by_id.keys().cloned().collect::<BTreeSet<_>>(), expected, "nothing unexpected arrived");

    let store = SqliteStore::open(data_dir.path().join("events.sqlite")).expect("store opens");
    let events = store.read_all(AllPosition::Start, Direction::Forwards, 1_000_000).await.expect("read $all");
    store.close().await.expect("closes");
    let mut recorded: HashMap<String, usize> = HashMap::new();
    for e in events.iter().filter(|e| e.stream.starts_with("deliveries-")) {
        match DomainEvent::decode(&e.event_type, &e.data).expect("decodes") {
            DomainEvent::DeliveryAttempted(a) => {
                assert!(a.outcome.is_success());
                *recorded.entry(a.source.message_id.clone()).or_insert(0) += 1;
            }
            DomainEvent::DeliveryCheckpoint(cp) => {
                let first = cp.pending.iter().filter(|p| p.attempt == 1).count();
                assert!(first <= WINDOW_PER_IN_FLIGHT, "a checkpoint lists {first} first attempts: {cp:?}");
            }
            _ => {}
        }
    }

    // A repeat is an attempt whose outcome the kill lost: it arrived before the kill, was
    // sent again after the restart with the same webhook-id and body, and is recorded once.
    let mut repeated = 0;
    for (id, got) in &by_id {
        assert_eq!(recorded.get(id), Some(&1), "{id}: one recorded attempt");
        if got.len() > 1 {
            repeated += 1;
            assert_eq!(got.len(), 2, "{id} arrived {} times", got.len());
            assert!(got[0].at <= killed_at && got[1].at > killed_at, "{id} was repeated without a kill between");
            assert_eq!(got[0].body, got[1].body, "{id}: the same body");
        }
    }
    // One attempt in flight, plus outcomes still waiting for their append at the kill.
    assert!(repeated <= 5, "{repeated} deliveries repeated; only those in flight at the kill may be");
    eprintln!("kill with a backlog: {before_kill} of {N} arrived before the kill, {repeated} repeated after it");
}

/// Past `backlog_cap` routed events waiting, an actor drops what is routed to it and reads it
/// back from the log once its backlog has drained: its memory stays bounded by the cap.
fn overflowing_config() -> DeliveryConfig {
    DeliveryConfig { backlog_cap: 8, ..lagging_config() }
}

#[actix_rt::test]
async fn a_webhook_lagging_past_its_backlog_cap_reads_the_rest_back_and_gets_each_once_in_order() {
    let mut env = Env::new(overflowing_config());
    env.set_plan("acc_w", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_w", "/o", &[EventType::Interested]).await;
    // Another webhook of the account, routed every other submission, keeps up.
    env.create_webhook("acc_w", "/other", &[EventType::Declined]).await;
    env.receiver.on("/o", |_| Reply::ok().delayed(Duration::from_millis(2)));
    env.start();
    let mut submissions = submit_burst(&env, "acc_w", 150).await;
    // More arrive while it reads back what it dropped.
    assert!(env.receiver.wait_for(Some("/o"), 20, WAIT).await);
    submissions.extend(submit_burst(&env, "acc_w", 50).await);

    assert!(
        env.receiver.wait_for(Some("/o"), submissions.len(), WAIT).await,
        "{} of {} arrived",
        env.receiver.requests_to("/o").len(),
        submissions.len()
    );
    env.stop().await;
    assert!(overflowed(&env), "the backlog never overflowed");
    let got: Vec<String> =
        env.receiver.requests_to("/o").iter().map(|r| r.webhook_id().expect("webhook-id").to_owned()).collect();
    submissions.sort_by_key(|(_, position)| *position);
    let expected: Vec<String> = submissions.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(got, expected, "each submission once, in log order");
    check_checkpoints(&env.deliveries(hook.id).await, &submissions, WINDOW_PER_IN_FLIGHT);
}

#[actix_rt::test]
async fn restarting_while_routed_events_wait_to_be_read_back_loses_nothing_and_repeats_nothing() {
    let mut env = Env::new(overflowing_config());
    env.set_plan("acc_w", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_w", "/ro", &[EventType::Interested]).await;
    env.receiver.on("/ro", |_| Reply::ok().delayed(Duration::from_millis(5)));
    env.start();
    let mut submissions = submit_burst(&env, "acc_w", 120).await;
    for arrived in [10, 40] {
        assert!(env.receiver.wait_for(Some("/ro"), arrived, WAIT).await);
        env.stop().await;
        submissions.extend(submit_burst(&env, "acc_w", 10).await);
        env.start();
    }
    each_arrives_once(&mut env, &hook, &submissions).await;
    assert!(overflowed(&env), "the backlog never overflowed");
}

#[actix_rt::test]
async fn disabling_a_webhook_while_routed_events_wait_to_be_read_back_abandons_them_all() {
    const N: usize = 80;
    let mut env = Env::new(overflowing_config());
    env.set_plan("acc_w", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_w", "/do", &[EventType::Interested]).await;
    env.receiver.on("/do", |_| Reply::ok().delayed(Duration::from_millis(30)));
    env.start();
    let submissions = submit_burst(&env, "acc_w", N).await;
    assert!(env.receiver.wait_for(Some("/do"), 1, WAIT).await);
    env.disable(hook.id).await;
    let events = wait_settled(&env, &hook, N).await;
    env.stop().await;
    let mut settled = BTreeSet::new();
    for event in &events {
        match event {
            DomainEvent::DeliveryAttempted(a) => assert!(settled.insert(a.source.message_id.clone())),
            DomainEvent::DeliveryAbandoned(a) => assert!(settled.insert(a.source.message_id.clone())),
            _ => {}
        }
    }
    assert_eq!(settled, submissions.iter().map(|(id, _)| id.clone()).collect::<BTreeSet<_>>(), "each settled once");
    assert!(overflowed(&env), "the backlog never overflowed");
}

#[actix_rt::test]
async fn an_undecodable_event_in_the_log_does_not_stop_reading_routed_events_back() {
    let mut env = Env::new(overflowing_config());
    env.set_plan("acc_w", Plan::Growth).await;
    env.create_webhook("acc_w", "/u", &[EventType::Interested]).await;
    env.receiver.on("/u", |_| Reply::ok().delayed(Duration::from_millis(2)));
    let mut submissions = submit_burst(&env, "acc_w", 40).await;
    // An event type this version does not know (a newer instance's, say), among submissions.
    let unknown = packhooks_store::EventData::json(
        uuid::Uuid::new_v4(),
        "CandidateWithdrawn",
        br#"{"submission_id":"x"}"#.to_vec(),
        br#"{}"#.to_vec(),
    );
    env.store.append("pack-pk_w", packhooks_store::ExpectedRevision::Any, vec![unknown]).await.expect("appended");
    submissions.extend(submit_burst(&env, "acc_w", 20).await);
    env.start();
    assert!(
        env.receiver.wait_for(Some("/u"), submissions.len(), WAIT).await,
        "{} of {} arrived",
        env.receiver.requests_to("/u").len(),
        submissions.len()
    );
    assert!(overflowed(&env), "the backlog never overflowed");
}

#[actix_rt::test]
async fn events_read_back_after_a_disable_and_a_quick_enable_are_given_up_like_the_backlog() {
    const N: usize = 60;
    let mut env = Env::new(overflowing_config());
    env.set_plan("acc_w", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_w", "/de", &[EventType::Interested]).await;
    env.receiver.on("/de", |_| Reply::ok().delayed(Duration::from_millis(20)));
    env.start();
    let submissions = submit_burst(&env, "acc_w", N).await;
    assert!(env.receiver.wait_for(Some("/de"), 1, WAIT).await);
    // Disabled and enabled again at once: everything routed before the disable and not yet
    // attempted is given up, whether it waited in memory or was still to be read back.
    // One append, so the actor hears both before the overflowed events are read back.
    let now = chrono::Utc::now();
    let off_and_on: Vec<packhooks_domain::DomainEvent> = vec![
        packhooks_domain::webhook::WebhookDisabled {
            webhook_id: hook.id,
            by: packhooks_domain::webhook::DisabledBy::Owner,
            reason: String::new(),
            recorded_at: now,
        }
        .into(),
        packhooks_domain::webhook::WebhookEnabled { webhook_id: hook.id, recorded_at: now }.into(),
    ];
    let data = off_and_on
        .iter()
        .map(|e| {
            let metadata = serde_json::to_vec(&packhooks_domain::EventMetadata::correlated("test")).expect("metadata");
            packhooks_store::EventData::json(uuid::Uuid::new_v4(), e.event_type(), e.to_json(), metadata)
        })
        .collect();
    env.store.append(&hook.id.stream(), packhooks_store::ExpectedRevision::Any, data).await.expect("appended");
    let stream = hook.id.deliveries_stream();
    // The actor knew of the disable once it gave something up; only an attempt in flight
    // then may still have arrived after.
    env.wait_stream(&stream, WAIT, |e| e.iter().any(|e| matches!(e, DomainEvent::DeliveryAbandoned(_)))).await;
    let arrived_before = env.receiver.requests_to("/de").len();
    let events = wait_settled(&env, &hook, N).await;
    let attempted = events.iter().filter(|e| matches!(e, DomainEvent::DeliveryAttempted(_))).count();
    assert!(
        attempted <= arrived_before + 1,
        "{attempted} attempted, {arrived_before} had arrived when the disable took effect (one more may have been in flight)"
    );
    let settled: BTreeSet<String> = events
        .iter()
        .filter_map(|e| match e {
            DomainEvent::DeliveryAttempted(a) => Some(a.source.message_id.clone()),
            DomainEvent::DeliveryAbandoned(a) => Some(a.source.message_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(settled, submissions.iter().map(|(id, _)| id.clone()).collect::<BTreeSet<_>>());
    assert!(overflowed(&env), "the backlog never overflowed");
}
