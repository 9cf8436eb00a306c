//! Delivery end to end: real SQLite store, the real dispatcher and webhook actors, real HTTP
//! to a `TestReceiver` on 127.0.0.1. Time-dependent rules run on short configured delays and
//! every wait is a bounded poll.

#[path = "delivery/harness.rs"]
mod harness;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use harness::{test_config, Env, Hook};
use packhooks_domain::account::Plan;
use packhooks_domain::delivery::{AttemptOutcome, FailureCode};
use packhooks_domain::payload::timestamp;
use packhooks_domain::submission::{DeclineReason, InterestedCandidate, StandardReason};
use packhooks_domain::webhook::{DisabledBy, EventType};
use packhooks_domain::DomainEvent;
use packhooks_tests::receiver::{Received, Reply};
use packhooks_tests::signatures::verify_with_reference_library;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

fn msg_id(uuid: uuid::Uuid) -> String {
    format!("msg_{}", uuid.simple())
}

fn attempts(events: &[DomainEvent]) -> Vec<&packhooks_domain::delivery::DeliveryAttempted> {
    events.iter().filter_map(|e| if let DomainEvent::DeliveryAttempted(a) = e { Some(a) } else { None }).collect()
}

fn count(events: &[DomainEvent], event_type: &str) -> usize {
    events.iter().filter(|e| e.event_type() == event_type).count()
}

fn signature_case(hook: &Hook, r: &Received) -> serde_json::Value {
    json!({
        "secret": hook.secret.expose(),
        "id": r.header("webhook-id"),
        "timestamp": r.header("webhook-timestamp"),
        "signature": r.header("webhook-signature"),
        "body": String::from_utf8(r.body.to_vec()).expect("utf-8 body"),
    })
}

#[actix_rt::test]
async fn every_expected_pair_arrives_once_with_exact_bodies_and_valid_signatures() {
    let mut env = Env::new(test_config());
    env.set_plan("acc_7", Plan::Growth).await;
    let (a, _) = env.create_webhook("acc_7", "/a", &[EventType::Interested]).await;
    let (b, _) = env.create_webhook("acc_7", "/b", &[EventType::Interested]).await;
    let (c, _) = env.create_webhook("acc_7", "/c", &[EventType::Declined]).await;
    let (d, _) = env.create_webhook("acc_7", "/d", &[EventType::Interested, EventType::Declined]).await;
    env.start();

    let mut expected_pairs = BTreeSet::new();
    let mut expected_bodies = HashMap::new();
    for i in 0..1_000 {
        if i % 2 == 0 {
            let candidate = InterestedCandidate {
                name: Some(format!("Ada {i}")),
                email: Some("ada@example.com".into()),
                phone: (i % 4 == 0).then(|| "+31 6 1234 5678".to_owned()),
                ..InterestedCandidate::default()
            };
            let (e, _) = env.interested("acc_7", "pk_42", candidate).await;
            let id = msg_id(e.submission_id.uuid());
            for hook in ["/a", "/b", "/d"] {
                expected_pairs.insert((hook.to_owned(), id.clone()));
            }
            let at = timestamp(e.submitted_at);
            expected_bodies.insert(id.clone(), json!({
                "type": "candidate.interested", "id": id, "timestamp": at, "test": false,
                "data": {"account_id": "acc_7", "submission_id": e.submission_id.to_string(), "submitted_at": at,
                         "pack": {"id": "pk_42", "name": "Pack pk_42"},
                         "candidate": {"name": format!("Ada {i}"), "email": "ada@example.com",
                                       "phone": if i % 4 == 0 { json!("+31 6 1234 5678") } else { json!(null) },
                                       "linkedin_url": null, "resume_url": null, "message": null}}
            }));
        } else {
            let (reason, reason_json) = if i % 3 == 0 {
                (DeclineReason::Custom(format!("Reason #{i}")), json!({"code": null, "label": format!("Reason #{i}"), "custom": true}))
            } else {
                (DeclineReason::Standard(StandardReason::NotLooking), json!({"code": "not_looking", "label": "Not looking right now", "custom": false}))
            };
            let feedback = (i % 5 == 0).then_some("Thanks, but no.");
            let (e, _) = env.declined("acc_7", "pk_42", reason, feedback).await;
            let id = msg_id(e.submission_id.uuid());
            for hook in ["/c", "/d"] {
                expected_pairs.insert((hook.to_owned(), id.clone()));
            }
            let at = timestamp(e.submitted_at);
            expected_bodies.insert(id.clone(), json!({
                "type": "candidate.declined", "id": id, "timestamp": at, "test": false,
                "data": {"account_id": "acc_7", "submission_id": e.submission_id.to_string(), "submitted_at": at,
                         "pack": {"id": "pk_42", "name": "Pack pk_42"},
                         "candidate": {"name": "Ada", "email": null},
                         "reason": reason_json, "feedback": feedback}
            }));
        }
    }
    assert!(env.receiver.wait_for(None, expected_pairs.len(), WAIT).await, "only {} of {} arrived", env.receiver.count(), expected_pairs.len());
    // A graceful stop lets anything still in flight land before the exact comparison.
    env.stop().await;
    let requests = env.receiver.requests();
    let got: Vec<(String, String)> =
        requests.iter().map(|r| (r.path.clone(), r.webhook_id().expect("webhook-id").to_owned())).collect();
    let got_set: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(got.len(), got_set.len(), "a pair arrived twice");
    assert_eq!(got_set, expected_pairs);

    let hooks: HashMap<&str, &Hook> = [("/a", &a), ("/b", &b), ("/c", &c), ("/d", &d)].into_iter().collect();
    let mut cases = Vec::new();
    for r in &requests {
        let id = r.webhook_id().expect("webhook-id");
        assert_eq!(r.json(), expected_bodies[id], "body of {id}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.header("user-agent").is_some_and(|ua| ua.starts_with("packhooks/")));
        let ts: i64 = r.header("webhook-timestamp").expect("timestamp").parse().expect("unix seconds");
        assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
        cases.push(signature_case(hooks[r.path.as_str()], r));
    }
    verify_with_reference_library(&cases);
}

#[actix_rt::test]
async fn a_failing_endpoint_gets_three_attempts_then_is_flagged_failing_and_recovers() {
    let config = test_config();
    let metrics = config.metrics.clone();
    let mut env = Env::new(config);
    env.set_plan("acc_1", Plan::Scale).await;
    let (hook, _) = env.create_webhook("acc_1", "/fail", &[EventType::Interested]).await;
    env.receiver.on("/fail", |_| Reply::status(500).body("boom"));
    env.start();
    let (first, _) = env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    let (second, _) = env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;

    let stream = hook.id.deliveries_stream();
    let events = env.wait_stream(&stream, WAIT, |e| count(e, "DeliveryAbandoned") == 2).await;
    let tries = attempts(&events);
    assert_eq!(tries.len(), 6, "exactly 3 attempts per delivery");
    assert_eq!(count(&events, "WebhookFlaggedFailing"), 1, "flagged once");
    for submission in [&first, &second] {
        let id = msg_id(submission.submission_id.uuid());
        let arrivals: Vec<Instant> =
            env.receiver.requests_to("/fail").iter().filter(|r| r.webhook_id() == Some(id.as_str())).map(|r| r.at).collect();
        assert_eq!(arrivals.len(), 3, "3 POSTs for {id}");
        // Delays 50 ms then 100 ms, jitter ±10 %.
        assert!(arrivals[1] - arrivals[0] >= Duration::from_millis(44), "{:?}", arrivals[1] - arrivals[0]);
        assert!(arrivals[2] - arrivals[1] >= Duration::from_millis(89), "{:?}", arrivals[2] - arrivals[1]);
        let mine: Vec<_> = tries.iter().filter(|a| a.source.message_id == id).collect();
        assert_eq!(mine.iter().map(|a| a.attempt).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(mine[..2].iter().all(|a| a.next_attempt_at.is_some()) && mine[2].next_attempt_at.is_none());
        assert!(mine.iter().all(|a| matches!(a.outcome, AttemptOutcome::Failure { code: FailureCode::Status, status: Some(500), .. })));
        assert_eq!(mine[0].response_body.as_deref(), Some("boom"));
    }

    env.receiver.on("/fail", |_| Reply::ok());
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    let events = env.wait_stream(&stream, WAIT, |e| count(e, "WebhookRecovered") == 1).await;
    assert_eq!(count(&events, "WebhookFlaggedFailing"), 1);
    assert!(matches!(events.iter().rev().find(|e| e.event_type() == "DeliveryAttempted"),
        Some(DomainEvent::DeliveryAttempted(a)) if a.outcome.is_success()));
    // The counters behind /metrics saw the same.
    assert_eq!(metrics.attempts("failure"), 6);
    assert_eq!(metrics.attempts("success"), 1);
    assert_eq!(metrics.abandoned_total(), 2);
}

#[actix_rt::test]
async fn failing_longer_than_the_auto_disable_period_disables_the_webhook_with_a_reason() {
    let mut config = test_config();
    config.auto_disable_after = Duration::from_millis(300);
    let mut env = Env::new(config);
    env.set_plan("acc_1", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_1", "/down", &[EventType::Interested]).await;
    env.receiver.on("/down", |_| Reply::status(503));
    env.start();
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    let events = env
        .wait_stream(&hook.id.stream(), WAIT, |e| e.iter().any(|e| e.event_type() == "WebhookDisabled"))
        .await;
    let Some(DomainEvent::WebhookDisabled(disabled)) = events.last() else { panic!("{events:?}") };
    assert_eq!(disabled.by, DisabledBy::Auto);
    assert!(disabled.reason.contains("no successful delivery"), "{}", disabled.reason);
    let flagged = env.deliveries(hook.id).await.into_iter().find_map(|e| match e {
        DomainEvent::WebhookFlaggedFailing(f) => Some(f.failing_since),
        _ => None,
    });
    assert!(disabled.recorded_at - flagged.expect("flagged first") >= chrono::Duration::milliseconds(300));

    // Disabled: a new submission is not delivered.
    let before = env.receiver.count();
    let (later, _) = env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    let marker = env.create_webhook("acc_1", "/marker", &[EventType::Interested]).await.0;
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    assert!(env.receiver.wait_for(Some(&marker.path), 1, WAIT).await);
    assert_eq!(env.receiver.requests_to("/down").len(), before);
    assert!(!env.receiver.requests().iter().any(|r| r.webhook_id() == Some(msg_id(later.submission_id.uuid()).as_str()) && r.path == "/down"));
}

/// A `410 Gone` ends the delivery at its first attempt: no retry is scheduled (no
/// `next_attempt_at`), the delivery is abandoned after that one attempt, and the webhook is
/// disabled at once, so a later submission is not sent to it.
#[actix_rt::test]
async fn gone_disables_the_webhook_at_once() {
    let mut env = Env::new(test_config());
    env.set_plan("acc_1", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_1", "/gone", &[EventType::Interested]).await;
    env.receiver.on("/gone", |_| Reply::status(410));
    env.start();
    let (submission, _) = env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    let events = env
        .wait_stream(&hook.id.stream(), WAIT, |e| e.iter().any(|e| e.event_type() == "WebhookDisabled"))
        .await;
    let Some(DomainEvent::WebhookDisabled(disabled)) = events.last() else { panic!("{events:?}") };
    assert_eq!(disabled.by, DisabledBy::Auto);
    assert!(disabled.reason.contains("410"), "{}", disabled.reason);

    let deliveries =
        env.wait_stream(&hook.id.deliveries_stream(), WAIT, |e| count(e, "DeliveryAbandoned") == 1).await;
    let tries = attempts(&deliveries);
    assert_eq!(tries.len(), 1, "one attempt, no retry after 410: {deliveries:#?}");
    assert_eq!(tries[0].source.message_id, msg_id(submission.submission_id.uuid()));
    assert_eq!(tries[0].attempt, 1);
    assert!(matches!(tries[0].outcome, AttemptOutcome::Failure { code: FailureCode::Status, status: Some(410), .. }));
    assert_eq!(tries[0].next_attempt_at, None, "no retry is scheduled after 410");
    let abandoned = deliveries.iter().find_map(|e| if let DomainEvent::DeliveryAbandoned(a) = e { Some(a) } else { None });
    assert_eq!(abandoned.expect("abandoned").attempts, 1, "abandoned after its one attempt");

    // Disabled: the next submission goes to another webhook of the account, not to this one.
    let marker = env.create_webhook("acc_1", "/marker", &[EventType::Interested]).await.0;
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    assert!(env.receiver.wait_for(Some(&marker.path), 1, WAIT).await);
    assert_eq!(env.receiver.requests_to("/gone").len(), 1, "nothing more after 410");
}

/// With `PACKHOOKS_DISABLE_ON_GONE=false` a 410 is a failure like any other: retried on the
/// schedule, abandoned after the last attempt, the webhook flagged failing and never disabled.
#[actix_rt::test]
async fn gone_is_an_ordinary_failure_when_disable_on_gone_is_off() {
    let mut config = test_config();
    config.disable_on_gone = false;
    let mut env = Env::new(config);
    env.set_plan("acc_1", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_1", "/gone", &[EventType::Interested]).await;
    env.receiver.on("/gone", |_| Reply::status(410));
    env.start();
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    let deliveries =
        env.wait_stream(&hook.id.deliveries_stream(), WAIT, |e| count(e, "WebhookFlaggedFailing") == 1).await;
    let tries = attempts(&deliveries);
    assert_eq!(tries.iter().map(|a| a.attempt).collect::<Vec<_>>(), vec![1, 2, 3], "{deliveries:#?}");
    assert!(tries.iter().all(|a| matches!(a.outcome, AttemptOutcome::Failure { status: Some(410), .. })));
    assert!(tries[..2].iter().all(|a| a.next_attempt_at.is_some()) && tries[2].next_attempt_at.is_none());
    assert_eq!(count(&deliveries, "DeliveryAbandoned"), 1);
    assert_eq!(env.receiver.requests_to("/gone").len(), 3);

    // Still enabled: the next submission is sent to it.
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    assert!(env.receiver.wait_for(Some("/gone"), 4, WAIT).await, "a webhook answering 410 stays enabled");
    assert_eq!(count(&env.stream(&hook.id.stream()).await, "WebhookDisabled"), 0);
}

#[actix_rt::test]
async fn retry_after_on_429_is_honoured() {
    let mut env = Env::new(test_config());
    env.set_plan("acc_1", Plan::Growth).await;
    env.create_webhook("acc_1", "/busy", &[EventType::Interested]).await;
    env.receiver.on("/busy", |call| if call.seen == 0 { Reply::status(429).retry_after("1") } else { Reply::ok() });
    env.start();
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    assert!(env.receiver.wait_for(Some("/busy"), 2, WAIT).await);
    let got = env.receiver.requests_to("/busy");
    let waited = got[1].at - got[0].at;
    assert!(waited >= Duration::from_millis(990), "retried after {waited:?}, asked 1 s");
    assert!(waited < Duration::from_millis(1900), "retried after {waited:?}, not at the 2 s cap");
}

#[actix_rt::test]
async fn a_retry_after_longer_than_the_cap_waits_the_cap() {
    let mut config = test_config();
    config.retry.max_retry_after = Duration::from_millis(400);
    let mut env = Env::new(config);
    env.set_plan("acc_1", Plan::Growth).await;
    env.create_webhook("acc_1", "/busy", &[EventType::Interested]).await;
    env.receiver.on("/busy", |call| if call.seen == 0 { Reply::status(503).retry_after("3600") } else { Reply::ok() });
    env.start();
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    assert!(env.receiver.wait_for(Some("/busy"), 2, WAIT).await, "retried within the cap, not after the hour asked");
    let got = env.receiver.requests_to("/busy");
    let waited = got[1].at - got[0].at;
    assert!(waited >= Duration::from_millis(390), "retried after {waited:?}, before the 400 ms cap");
}

#[actix_rt::test]
async fn a_slow_endpoint_does_not_slow_another_webhook() {
    let mut env = Env::new(test_config());
    env.set_plan("acc_1", Plan::Growth).await;
    env.create_webhook("acc_1", "/slow", &[EventType::Interested]).await;
    env.create_webhook("acc_1", "/fast", &[EventType::Interested]).await;
    env.receiver.on("/slow", |_| Reply::ok().delayed(Duration::from_secs(5)));
    env.start();
    // 200 submissions/s for 2 s.
    let started = Instant::now();
    let mut sent = HashMap::new();
    for i in 0..400u32 {
        let due = started + Duration::from_millis(5 * u64::from(i));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let (e, _) = env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
        sent.insert(msg_id(e.submission_id.uuid()), Instant::now());
    }
    assert!(env.receiver.wait_for(Some("/fast"), 400, WAIT).await);
    let mut latencies: Vec<Duration> = env
        .receiver
        .requests_to("/fast")
        .iter()
        .map(|r| r.at.saturating_duration_since(sent[r.webhook_id().expect("id")]))
        .collect();
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    assert!(p99 < Duration::from_millis(100), "fast webhook p99 {p99:?}");
    assert!(env.receiver.requests_to("/slow").len() <= 16 + 16, "the slow one is held to its in-flight limit");
}

#[actix_rt::test]
async fn routing_follows_the_log_and_a_restart_changes_nothing() {
    let mut env = Env::new(test_config());
    env.set_plan("acc_1", Plan::Growth).await;
    env.set_plan("acc_s", Plan::Growth).await;
    let (early, _) = env.create_webhook("acc_1", "/early", &[EventType::Interested]).await;
    env.create_webhook("acc_s", "/starter", &[EventType::Interested]).await;
    env.set_plan("acc_s", Plan::Starter).await;
    let mut sent = Vec::new();
    for _ in 0..5 {
        sent.push(env.interested("acc_1", "pk_1", InterestedCandidate::default()).await);
        env.interested("acc_s", "pk_s", InterestedCandidate::default()).await;
    }
    env.start();
    let (late, created_at) = env.create_webhook("acc_1", "/late", &[EventType::Interested]).await;
    for _ in 0..5 {
        sent.push(env.interested("acc_1", "pk_1", InterestedCandidate::default()).await);
    }
    assert!(env.receiver.wait_for(Some("/late"), 5, WAIT).await);
    assert!(env.receiver.wait_for(Some("/early"), 10, WAIT).await);
    env.stop().await;

    // Changes while delivery is down, then a restart in the middle of it all.
    let disabled_at = env.disable(early.id).await;
    for _ in 0..5 {
        sent.push(env.interested("acc_1", "pk_1", InterestedCandidate::default()).await);
    }
    env.start();
    let deleted_at = env.delete(late.id).await;
    for _ in 0..5 {
        sent.push(env.interested("acc_1", "pk_1", InterestedCandidate::default()).await);
    }
    let (marker, _) = env.create_webhook("acc_1", "/marker", &[EventType::Interested]).await;
    sent.push(env.interested("acc_1", "pk_1", InterestedCandidate::default()).await);
    assert!(env.receiver.wait_for(Some(&marker.path), 1, WAIT).await);
    env.stop().await;

    let ids_to = |path: &str| -> Vec<String> {
        env.receiver.requests_to(path).iter().map(|r| r.webhook_id().expect("id").to_owned()).collect()
    };
    let expect = |from: Option<_>, until: Option<_>| -> Vec<String> {
        sent.iter()
            .filter(|(_, p)| from.is_none_or(|f| *p > f) && until.is_none_or(|u| *p < u))
            .map(|(e, _)| msg_id(e.submission_id.uuid()))
            .collect()
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(ids_to("/early")), sorted(expect(None, Some(disabled_at))), "early: everything until disabled, once");
    assert_eq!(sorted(ids_to("/late")), sorted(expect(Some(created_at), Some(deleted_at))), "late: after creation, until deleted, once");
    assert!(ids_to("/starter").is_empty(), "a starter account receives nothing");
}

#[actix_rt::test]
async fn test_events_are_delivered_once_marked_test_and_never_change_health() {
    let mut env = Env::new(test_config());
    env.set_plan("acc_1", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_1", "/t", &[EventType::Declined]).await;
    env.receiver.on("/t", |_| Reply::status(500));
    env.start();
    let test_id = env.request_test(&hook, "acc_1").await;
    let stream = hook.id.deliveries_stream();
    let events = env.wait_stream(&stream, WAIT, |e| !attempts(e).is_empty()).await;
    let got = env.receiver.requests_to("/t");
    assert_eq!(got.len(), 1);
    let body = got[0].json();
    assert_eq!(body["test"], json!(true));
    assert_eq!(body["id"], json!(msg_id(test_id.uuid())));
    let tries = attempts(&events);
    assert!(tries[0].source.test && tries[0].next_attempt_at.is_none());
    // Nothing else follows: no retry, no abandon, no health change (bounded check).
    let marker = env.create_webhook("acc_1", "/m", &[EventType::Declined]).await.0;
    env.declined("acc_1", "pk", DeclineReason::Standard(StandardReason::Timing), None).await;
    assert!(env.receiver.wait_for(Some(&marker.path), 1, WAIT).await);
    let events = env.deliveries(hook.id).await;
    assert_eq!(count(&events, "WebhookFlaggedFailing") + count(&events, "DeliveryAbandoned"), 0, "{events:?}");
    assert_eq!(env.receiver.requests_to("/t").iter().filter(|r| r.json()["test"] == json!(true)).count(), 1);
}

#[actix_rt::test]
async fn private_targets_are_refused_at_delivery_time() {
    let mut config = test_config();
    config.allow_private_targets = false;
    config.retry.max_attempts = 1;
    let mut env = Env::new(config);
    env.set_plan("acc_1", Plan::Growth).await;
    let (literal, _) = env.create_webhook("acc_1", "/x", &[EventType::Interested]).await;
    // The same receiver by a name that resolves to loopback.
    let named = {
        let (hook, _) = env.create_webhook("acc_1", "/y", &[EventType::Interested]).await;
        let url = env.receiver.url("/y").replace("127.0.0.1", "localhost");
        env.append(
            &hook.id.stream(),
            packhooks_domain::webhook::WebhookUpdated {
                webhook_id: hook.id,
                url,
                events: vec![EventType::Interested],
                description: None,
                format: Default::default(),
                recorded_at: chrono::Utc::now(),
            },
        )
        .await;
        hook
    };
    env.start();
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    for hook in [&literal, &named] {
        let events = env.wait_stream(&hook.id.deliveries_stream(), WAIT, |e| !attempts(e).is_empty()).await;
        assert!(
            matches!(&attempts(&events)[0].outcome, AttemptOutcome::Failure { code: FailureCode::RefusedTarget, .. }),
            "{events:?}"
        );
    }
    assert_eq!(env.receiver.count(), 0, "nothing reached the private address");
}

#[actix_rt::test]
async fn the_test_endpoint_sends_a_test_event_and_waits_for_its_outcome() {
    let app = packhooks_tests::app::spawn_app().await;
    let receiver = packhooks_tests::receiver::TestReceiver::start();
    receiver.on("/bad", |_| Reply::status(500));
    let good = app.given_webhook("acc_t", &receiver.url("/good")).await;
    let bad = app.given_webhook("acc_t", &receiver.url("/bad")).await;
    let test_path = |hook: &serde_json::Value, wait: bool| {
        format!("/v1/webhooks/{}/test{}", hook["id"].as_str().expect("id"), if wait { "?wait=true" } else { "" })
    };

    let answer = app.post_json(&test_path(&good, true), &json!({"event": "declined"})).await;
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.expect("json");
    assert_eq!(body["status"], "delivered", "{body}");
    assert_eq!(body["outcome"]["status_code"], 200);
    assert_eq!(body["outcome"].get("error_code"), Some(&serde_json::Value::Null), "{body}");
    let got = receiver.requests_to("/good");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["test"], json!(true));
    assert_eq!(got[0].json()["type"], "candidate.declined");
    assert_eq!(got[0].webhook_id(), body["message_id"].as_str());

    let answer = app.post_json(&test_path(&bad, true), &json!({"event": "interested"})).await;
    let body: serde_json::Value = answer.json().await.expect("json");
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(body["outcome"]["status_code"], 500);
    assert_eq!(body["outcome"]["error_code"], "status");

    let answer = app.post_json(&test_path(&good, false), &json!({"event": "interested"})).await;
    assert_eq!(answer.status(), 202);
    assert!(receiver.wait_for(Some("/good"), 2, WAIT).await);
    let answer = app.post_json(&test_path(&good, false), &json!({"event": "maybe"})).await;
    assert_eq!(answer.status(), 400);
    let answer = app.post_json("/v1/webhooks/wh_00000000000000000000000000000000/test", &json!({"event": "interested"})).await;
    assert_eq!(answer.status(), 404);
}

#[actix_rt::test]
async fn a_test_event_retried_with_its_idempotency_key_is_sent_once_and_answers_the_same() {
    let app = packhooks_tests::app::spawn_app().await;
    let receiver = packhooks_tests::receiver::TestReceiver::start();
    let hook = app.given_webhook("acc_k", &receiver.url("/k")).await;
    let path = format!("/v1/webhooks/{}/test?wait=true", hook["id"].as_str().expect("id"));
    let send = |key: &'static str, event: &'static str| {
        app.request(reqwest::Method::POST, &path).header("idempotency-key", key).json(&json!({ "event": event })).send()
    };

    let first = send("test-1", "declined").await.expect("sent");
    assert_eq!(first.status(), 200);
    let first: serde_json::Value = first.json().await.expect("json");
    assert_eq!(first["status"], "delivered", "{first}");
    // The retry sends nothing new and answers with the first outcome, read back.
    let again = send("test-1", "declined").await.expect("sent");
    assert_eq!(again.status(), 200);
    let again: serde_json::Value = again.json().await.expect("json");
    assert_eq!(again["test_id"], first["test_id"]);
    assert_eq!(again["message_id"], first["message_id"]);
    assert_eq!(again["status"], "delivered");
    assert_eq!(again["outcome"]["status_code"], 200);
    assert_eq!(receiver.requests_to("/k").len(), 1, "the retry sent the test event again");
    let requested = app
        .stream_events(&packhooks_domain::WebhookId::parse(hook["id"].as_str().expect("id")).expect("a webhook id").stream())
        .await
        .iter()
        .filter(|r| r.event_type == "TestEventRequested")
        .count();
    assert_eq!(requested, 1);

    // The key with another request is refused; another key sends another test event.
    let other = send("test-1", "interested").await.expect("sent");
    assert_eq!(other.status(), 422);
    let other: serde_json::Value = other.json().await.expect("json");
    assert_eq!(other["code"], "idempotency_key_reused", "{other}");
    let second = send("test-2", "declined").await.expect("sent");
    let second: serde_json::Value = second.json().await.expect("json");
    assert_ne!(second["test_id"], first["test_id"]);
    assert_eq!(receiver.requests_to("/k").len(), 2);
}

#[actix_rt::test]
async fn during_a_secret_rotation_both_secrets_sign() {
    let mut env = Env::new(test_config());
    env.set_plan("acc_r", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_r", "/rot", &[EventType::Interested]).await;
    let new_secret = packhooks_domain::webhook::Secret::from_bytes(&rand::random::<[u8; 32]>());
    let now = chrono::Utc::now();
    env.append(
        &hook.id.stream(),
        packhooks_domain::webhook::WebhookSecretRotated {
            webhook_id: hook.id,
            secret: new_secret.clone(),
            secret_version: 2,
            previous_valid_until: now + chrono::Duration::hours(24),
            recorded_at: now,
        },
    )
    .await;
    env.start();
    env.interested("acc_r", "pk_1", InterestedCandidate::default()).await;
    assert!(env.receiver.wait_for(Some("/rot"), 1, WAIT).await);
    let got = &env.receiver.requests_to("/rot")[0];
    assert_eq!(got.header("webhook-signature").expect("signature").split(' ').count(), 2);
    let rotated = Hook { id: hook.id, secret: new_secret, path: hook.path.clone() };
    // Each secret alone verifies the request (a receiver may know either one).
    verify_with_reference_library(&[signature_case(&hook, got), signature_case(&rotated, got)]);
}

#[actix_rt::test]
async fn https_targets_go_through_tls_and_a_failed_handshake_is_a_tls_failure() {
    let mut config = test_config();
    config.retry.max_attempts = 1;
    let mut env = Env::new(config);
    env.set_plan("acc_1", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_1", "/tls", &[EventType::Interested]).await;
    env.append(
        &hook.id.stream(),
        packhooks_domain::webhook::WebhookUpdated {
            webhook_id: hook.id,
            // The receiver speaks plain HTTP, so the handshake cannot succeed.
            url: env.receiver.url("/tls").replace("http://", "https://"),
            events: vec![EventType::Interested],
            description: None,
            format: Default::default(),
            recorded_at: chrono::Utc::now(),
        },
    )
    .await;
    env.start();
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    let events = env.wait_stream(&hook.id.deliveries_stream(), WAIT, |e| !attempts(e).is_empty()).await;
    assert!(
        matches!(&attempts(&events)[0].outcome, AttemptOutcome::Failure { code: FailureCode::Tls, .. }),
        "{events:?}"
    );
}

#[actix_rt::test]
async fn an_idle_webhook_moves_its_resume_point_on_so_a_restart_does_not_replay_from_far_back() {
    let mut env = Env::new(test_config());
    env.set_plan("acc_1", Plan::Growth).await;
    let (idle, _) = env.create_webhook("acc_1", "/idle", &[EventType::Declined]).await;
    env.create_webhook("acc_1", "/busy", &[EventType::Interested]).await;
    env.start();
    let mut last = None;
    for _ in 0..30 {
        last = Some(env.interested("acc_1", "pk_1", InterestedCandidate::default()).await.1);
    }
    assert!(env.receiver.wait_for(Some("/busy"), 30, WAIT).await);
    env.stop().await;
    let last = last.expect("submitted");
    let resume = env.deliveries(idle.id).await.into_iter().rev().find_map(|e| match e {
        DomainEvent::DeliveryCheckpoint(cp) => cp.resume_position,
        _ => None,
    });
    let resume = resume.expect("the idle webhook wrote a checkpoint");
    assert!(resume >= last, "resume point {resume} is behind the last submission {last}");
    assert!(env.receiver.requests_to("/idle").is_empty());
}

/// The owner enables an auto-disabled webhook whose endpoint still fails.
async fn auto_disabled_then_enabled_again(path: &'static str) -> (Env, Hook) {
    let mut config = test_config();
    config.auto_disable_after = Duration::from_secs(1);
    let mut env = Env::new(config);
    env.set_plan("acc_1", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_1", path, &[EventType::Interested]).await;
    env.receiver.on(path, |_| Reply::status(503));
    env.start();
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    env.wait_stream(&hook.id.stream(), WAIT, |e| count(e, "WebhookDisabled") == 1).await;
    let enabled = packhooks_domain::webhook::WebhookEnabled { webhook_id: hook.id, recorded_at: chrono::Utc::now() };
    env.append(&hook.id.stream(), enabled).await;
    (env, hook)
}

#[actix_rt::test]
async fn enabling_a_webhook_again_starts_its_auto_disable_period_over() {
    let (env, hook) = auto_disabled_then_enabled_again("/again").await;
    // A failing test event, then a failing submission: neither may disable it at once (the
    // webhook was failing for longer than the period before the owner enabled it).
    env.request_test(&hook, "acc_1").await;
    let (s, _) = env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    let id = msg_id(s.submission_id.uuid());
    let events = env
        .wait_stream(&hook.id.deliveries_stream(), WAIT, |e| {
            e.iter().any(|e| matches!(e, DomainEvent::DeliveryAbandoned(a) if a.source.message_id == id))
        })
        .await;
    let tries = attempts(&events).iter().filter(|a| a.source.message_id == id).count();
    assert_eq!(tries, 3, "the submission after the enable got {tries} attempts of 3");
    assert_eq!(count(&env.stream(&hook.id.stream()).await, "WebhookDisabled"), 1, "disabled again at once");
    // Still failing a whole period after the enable: disabled again.
    let events = env.wait_stream(&hook.id.stream(), WAIT, |e| count(e, "WebhookDisabled") == 2).await;
    let enabled_at = events.iter().find_map(|e| match e {
        DomainEvent::WebhookEnabled(e) => Some(e.recorded_at),
        _ => None,
    });
    let disabled_again_at = events.iter().rev().find_map(|e| match e {
        DomainEvent::WebhookDisabled(e) => Some(e.recorded_at),
        _ => None,
    });
    let (enabled_at, disabled_again_at) = (enabled_at.expect("enabled"), disabled_again_at.expect("disabled"));
    assert!(disabled_again_at - enabled_at >= chrono::Duration::milliseconds(990), "disabled again before a period passed");
}

#[actix_rt::test]
async fn checkpoints_of_a_webhook_owing_many_retries_stay_linear_in_the_deliveries() {
    let mut config = test_config();
    config.retry.delays = vec![Duration::from_secs(60), Duration::from_secs(600)];
    config.checkpoint_every = 20;
    let mut env = Env::new(config);
    env.set_plan("acc_1", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_1", "/down", &[EventType::Interested]).await;
    env.receiver.on("/down", |_| Reply::status(500));
    env.start();
    let n = 1_000;
    for _ in 0..n / 100 {
        futures::future::join_all((0..100).map(|_| env.interested("acc_1", "pk_1", InterestedCandidate::default())))
            .await;
    }
    let stream = hook.id.deliveries_stream();
    let events = env.wait_stream(&stream, Duration::from_secs(60), |e| count(e, "DeliveryAttempted") >= n).await;
    // Every delivery owes a retry, so each checkpoint lists all attempted so far; written
    // every 20 events that would be about n²/40 entries in all.
    let listed: usize = events
        .iter()
        .filter_map(|e| match e {
            DomainEvent::DeliveryCheckpoint(cp) => Some(cp.pending.len()),
            _ => None,
        })
        .sum();
    assert!(listed <= 4 * n, "the checkpoints listed {listed} owed deliveries in all for {n} deliveries");
}

#[actix_rt::test]
async fn a_deleted_webhooks_actor_gives_up_what_it_owes_and_retires() {
    let mut config = test_config();
    config.retry.delays = vec![Duration::from_secs(60)];
    let mut env = Env::new(config);
    let metrics = env.config.metrics.clone();
    let actors = move || metrics.actors_running();
    env.set_plan("acc_1", Plan::Growth).await;
    let (doomed, _) = env.create_webhook("acc_1", "/doomed", &[EventType::Interested]).await;
    let (kept, _) = env.create_webhook("acc_1", "/kept", &[EventType::Interested]).await;
    env.receiver.on("/doomed", |_| Reply::status(500));
    env.start();
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    let stream = doomed.id.deliveries_stream();
    env.wait_stream(&stream, WAIT, |e| count(e, "DeliveryAttempted") == 1).await;
    assert_eq!(actors(), 2);

    // Its retry is due in a minute; the deletion gives it up at once and records how far
    // routing got, then the actor stops.
    let deleted_at = env.delete(doomed.id).await;
    env.wait_stream(&stream, WAIT, |e| count(e, "DeliveryAbandoned") == 1).await;
    env.wait_stream(&stream, WAIT, |e| {
        e.iter().any(|e| {
            matches!(e, DomainEvent::DeliveryCheckpoint(cp) if cp.pending.is_empty()
                && cp.resume_position >= Some(deleted_at))
        })
    })
    .await;
    let deadline = Instant::now() + WAIT;
    while actors() != 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(actors(), 1, "the deleted webhook's actor still runs");
    let events = env.stream(&stream).await.len();

    // After a restart, no actor for it at all, and nothing more in its stream.
    env.stop().await;
    env.start();
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    assert!(env.receiver.wait_for(Some(&kept.path), 2, WAIT).await);
    assert_eq!(actors(), 1, "a restart started an actor for the deleted webhook");
    assert_eq!(env.stream(&stream).await.len(), events, "the deleted webhook's stream grew after its last checkpoint");
    assert_eq!(env.receiver.requests_to("/doomed").len(), 1);
}

#[actix_rt::test]
async fn deleting_a_webhook_during_a_failing_attempt_abandons_that_delivery_too() {
    let mut config = test_config();
    config.retry.delays = vec![Duration::from_secs(60)];
    let mut env = Env::new(config);
    env.set_plan("acc_1", Plan::Growth).await;
    let (hook, _) = env.create_webhook("acc_1", "/slow", &[EventType::Interested]).await;
    env.receiver.on("/slow", |_| Reply::status(500).delayed(Duration::from_millis(300)));
    env.start();
    env.interested("acc_1", "pk_1", InterestedCandidate::default()).await;
    assert!(env.receiver.wait_for(Some("/slow"), 1, WAIT).await);
    let deleted_at = env.delete(hook.id).await;
    let stream = hook.id.deliveries_stream();
    let events = env
        .wait_stream(&stream, WAIT, |e| {
            e.iter().any(|e| {
                matches!(e, DomainEvent::DeliveryCheckpoint(cp)
                    if cp.resume_position >= Some(deleted_at))
            })
        })
        .await;
    let last = events.iter().rev().find_map(|e| match e {
        DomainEvent::DeliveryCheckpoint(cp) => Some(cp),
        _ => None,
    });
    assert!(last.expect("a last checkpoint").pending.is_empty(), "retired owing a retry: {events:#?}");
    assert_eq!(count(&events, "DeliveryAttempted"), 1);
    assert_eq!(count(&events, "DeliveryAbandoned"), 1, "{events:#?}");
}
