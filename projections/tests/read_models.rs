//! The three read models, fed by a live runner over a real SQLite store.

mod common;

use chrono::Duration;
use common::*;
use packhooks_domain::delivery::HealthStatus;
use packhooks_domain::submission::{DeclineReason, StandardReason};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_failures_recoveries_and_ignores_test_events() {
    let env = Env::new();
    let store = env.store.as_ref();
    let (wh, acc) = (webhook(1), account(1));
    let at = t0();
    append(store, &wh.stream(), &[created(wh, &acc, at)]).await;
    let d = wh.deliveries_stream();
    append(store, &d, &[attempted(wh, 1, 1, 200, false, at)]).await;
    append(
        store,
        &d,
        &[
            attempted(wh, 2, 1, 500, false, at + Duration::minutes(1)),
            attempted(wh, 2, 2, 0, false, at + Duration::minutes(2)),
            attempted(wh, 2, 3, 503, false, at + Duration::minutes(12)),
            abandoned(wh, 2, at + Duration::minutes(12)),
            flagged(wh, 2, at + Duration::minutes(12)),
        ],
    )
    .await;
    // A test event that succeeds must not make the failing webhook healthy.
    append(store, &wh.stream(), &[test_requested(wh, &acc, 3, at + Duration::minutes(13))]).await;
    append(store, &d, &[attempted(wh, 3, 1, 200, true, at + Duration::minutes(13))]).await;

    let projections = env.projections();
    let runner = projections.start();
    wait_caught_up(&projections).await;
    let read = projections.read_models();
    let now = at + Duration::minutes(30);
    let h = read.webhook_health(wh.to_string(), now).await.unwrap().expect("health row");
    assert_eq!(h.status, HealthStatus::Failing);
    assert_eq!(h.failing_since, Some(at + Duration::minutes(12)));
    assert_eq!(h.consecutive_failures, 3);
    assert_eq!(h.counts.attempts, 4, "the test attempt is not counted");
    assert_eq!(h.counts.successes, 1);
    assert_eq!(h.counts.deliveries, 2);
    assert_eq!(h.counts.abandoned, 1);
    assert_eq!(h.last_success_at, Some(at));
    let failure = h.last_failure.expect("last failure");
    assert_eq!((failure.code.as_str(), failure.status), ("status", Some(503)));
    assert_eq!(h.last_status_change.unwrap().delivery_id, Some(delivery(wh, 2).to_string()));
    assert_eq!(h.success_rate_24h, Some(0.25));
    assert_eq!(h.account_id.as_deref(), Some("acc_1"));

    // The log shows every attempt, the test one included, newest first, paged.
    let page = read.deliveries(wh.to_string(), None, 3).await.unwrap();
    assert_eq!(page.items.len(), 3);
    assert!(page.items[0].test && page.items[0].success);
    assert_eq!(page.items[1].code.as_deref(), Some("status"));
    let next: packhooks_store::Position = page.next.clone().expect("a second page").parse().unwrap();
    let rest = read.deliveries(wh.to_string(), Some(next), 3).await.unwrap();
    assert_eq!(rest.items.len(), 2);
    assert_eq!(rest.next, None);
    assert_eq!(rest.items[1].attempt, 1);
    assert!(rest.items[1].success);

    // Recovery, then an owner disable and enable.
    append(
        store,
        &d,
        &[attempted(wh, 4, 1, 200, false, at + Duration::minutes(40)), recovered(wh, 4, at + Duration::minutes(40))],
    )
    .await;
    wait_caught_up(&projections).await;
    let h = read.webhook_health(wh.to_string(), now).await.unwrap().unwrap();
    assert_eq!(h.status, HealthStatus::Healthy);
    assert_eq!(h.failing_since, None);
    assert_eq!(h.consecutive_failures, 0);
    assert_eq!(h.last_status_change.unwrap().delivery_id, Some(delivery(wh, 4).to_string()));
    append(store, &wh.stream(), &[disabled(wh, at + Duration::minutes(50))]).await;
    wait_caught_up(&projections).await;
    let h = read.webhook_health(wh.to_string(), now).await.unwrap().unwrap();
    assert_eq!(h.status, HealthStatus::Disabled);
    assert_eq!(h.disabled.unwrap().reason, "maintenance");
    // A day later the 24-hour window is empty.
    let later = read.webhook_health(wh.to_string(), at + Duration::hours(26)).await.unwrap().unwrap();
    assert_eq!(later.success_rate_24h, None);
    runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pack_statistics_count_submissions_reasons_and_days_but_never_tests() {
    let env = Env::new();
    let store = env.store.as_ref();
    let (p1, p2, acc) = (pack(1), pack(2), account(7));
    let day1 = t0();
    let day2 = t0() + Duration::days(1);
    append(store, &p1.stream(), &[interested(&p1, &acc, 1, day1), interested(&p1, &acc, 2, day2)]).await;
    append(
        store,
        &p1.stream(),
        &[
            declined(&p1, &acc, 3, DeclineReason::Standard(StandardReason::Compensation), day2),
            declined(&p1, &acc, 4, DeclineReason::Custom("Reason #2".into()), day2),
            declined(&p1, &acc, 5, DeclineReason::Standard(StandardReason::Compensation), day2),
        ],
    )
    .await;
    append(store, &p2.stream(), &[interested(&p2, &acc, 6, day1)]).await;
    // Test events live in webhook streams: they must not count anywhere.
    let wh = webhook(9);
    append(store, &wh.stream(), &[created(wh, &acc, day1), test_requested(wh, &acc, 7, day2)]).await;
    append(store, &wh.deliveries_stream(), &[attempted(wh, 7, 1, 200, true, day2)]).await;

    let projections = env.projections();
    let runner = projections.start();
    wait_caught_up(&projections).await;
    let read = projections.read_models();
    let s = read.pack_stats("pk_1".into()).await.unwrap();
    assert_eq!((s.stats.interested, s.stats.declined), (2, 3));
    assert_eq!(s.account_id.as_deref(), Some("acc_7"));
    let reasons: Vec<_> =
        s.stats.decline_reasons.iter().map(|r| (r.code.as_deref(), r.label.as_str(), r.custom, r.count)).collect();
    assert_eq!(reasons, vec![(Some("compensation"), "Compensation", false, 2), (None, "Reason #2", true, 1)]);
    let days: Vec<_> = s.stats.per_day.iter().map(|d| (d.day.as_str(), d.interested, d.declined)).collect();
    assert_eq!(days, vec![("2026-11-27", 1, 0), ("2026-11-28", 1, 3)]);
    assert_eq!(s.stats.last_submission.unwrap().at, day2);
    let a = read.account_stats("acc_7".into()).await.unwrap();
    assert_eq!((a.packs, a.stats.interested, a.stats.declined), (2, 3, 3));
    assert_eq!(a.stats.per_day[0].interested, 2);
    let none = read.pack_stats("pk_404".into()).await.unwrap();
    assert_eq!((none.account_id, none.stats.interested), (None, 0));
    let h = read.webhook_health(wh.to_string(), day2).await.unwrap().unwrap();
    assert_eq!(h.counts.attempts, 0, "test deliveries never count in health");
    assert_eq!(h.last_delivery, None);
    runner.shutdown().await;
}
