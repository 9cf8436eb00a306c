//! `/metrics` after real deliveries to a real receiver on 127.0.0.1, read as Prometheus
//! reads it (`prometheus-parse`): attempt histograms count the attempts made, failures show
//! under their `error_code`, the webhooks-by-status gauge follows a webhook into failing
//! and out of it, and projection lag rises while a projection cannot write and falls back
//! to 0. And OpenMetrics when the scraper asks for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use packhooks_tests::app::{eventually, interest_body, spawn_app, TestApp};
use packhooks_tests::metrics::Metrics;
use packhooks_tests::receiver::{Reply, TestReceiver};
use reqwest::Method;

const WAIT: Duration = Duration::from_secs(20);

/// `DeliveryAttempted` events in a webhook's deliveries stream: the attempts made.
async fn attempts_recorded(app: &TestApp, webhook: &str) -> usize {
    app.stream_events(&format!("deliveries-{webhook}"))
        .await
        .iter()
        .filter(|e| e.event_type == "DeliveryAttempted")
        .count()
}

async fn submit(app: &TestApp) {
    let response = app.submit_interest("pk_1", &interest_body("acc_1"), None).await;
    assert_eq!(response.status(), 202);
}

/// Scrapes until `settled` holds of the page.
async fn scrape_until(app: &TestApp, what: &str, settled: impl Fn(&Metrics) -> bool) -> Metrics {
    eventually(WAIT, what, || async {
        let metrics = app.scrape().await;
        settled(&metrics).then_some(metrics)
    })
    .await
}

const ATTEMPTS: &str = "packhooks_delivery_attempt_duration_seconds";
const FAILURES: &str = "packhooks_delivery_attempt_failures_total";
const WEBHOOKS: &str = "packhooks_webhooks";

#[actix_web::test]
async fn metrics_count_real_attempts_by_result_and_code_and_follow_a_webhook_into_and_out_of_failing() {
    let app = spawn_app().await;
    let receiver = TestReceiver::start();
    let up = Arc::new(AtomicBool::new(false));
    let script_up = up.clone();
    receiver.on("/hook", move |_| if script_up.load(Ordering::SeqCst) { Reply::ok() } else { Reply::status(500) });
    // A second webhook at a port nobody listens on: every attempt fails to connect.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let answering = app.given_webhook("acc_1", &receiver.url("/hook")).await["id"].as_str().unwrap().to_owned();
    let refusing = app.given_webhook("acc_1", &format!("http://{closed}/hook")).await["id"].as_str().unwrap().to_owned();
    let healthy = scrape_until(&app, "both webhooks counted", |m| m.value(WEBHOOKS, &[("status", "healthy")]) == 2.0).await;
    assert_eq!(healthy.histogram_count(ATTEMPTS, &[]), 0.0);

    // Three attempts each (50 ms and 100 ms apart), all failing: both abandoned and failing.
    submit(&app).await;
    let failing = scrape_until(&app, "both webhooks failing", |m| m.value(WEBHOOKS, &[("status", "failing")]) == 2.0).await;
    assert_eq!(failing.value(WEBHOOKS, &[("status", "healthy")]), 0.0);
    assert_eq!(attempts_recorded(&app, &answering).await, 3);
    assert_eq!(attempts_recorded(&app, &refusing).await, 3);
    assert_eq!(failing.histogram_count(ATTEMPTS, &[("result", "failure")]), 6.0);
    assert_eq!(failing.histogram_count(ATTEMPTS, &[("result", "success")]), 0.0);
    assert_eq!(failing.value(FAILURES, &[("error_code", "status")]), 3.0);
    assert_eq!(failing.value(FAILURES, &[("error_code", "connect")]), 3.0);
    assert_eq!(failing.value("packhooks_deliveries_abandoned_total", &[]), 2.0);

    // The receiver answers again: one attempt, and that webhook is out of failing.
    up.store(true, Ordering::SeqCst);
    submit(&app).await;
    // The counters move when an attempt ends, its event is appended just after: wait for both.
    eventually(WAIT, "4 and 6 attempts recorded", || async {
        let made = (attempts_recorded(&app, &answering).await, attempts_recorded(&app, &refusing).await);
        (made == (4, 6)).then_some(())
    })
    .await;
    let recovered = scrape_until(&app, "the answering webhook healthy again", |m| {
        m.value(WEBHOOKS, &[("status", "healthy")]) == 1.0 && m.value(FAILURES, &[("error_code", "connect")]) == 6.0
    })
    .await;
    assert_eq!(recovered.value(WEBHOOKS, &[("status", "failing")]), 1.0);
    let (made_ok, made_refused) = (attempts_recorded(&app, &answering).await, attempts_recorded(&app, &refusing).await);
    assert_eq!((made_ok, made_refused), (4, 6));
    assert_eq!(receiver.requests_to("/hook").len(), 4, "every attempt reached the receiver once");
    assert_eq!(recovered.histogram_count(ATTEMPTS, &[]), (made_ok + made_refused) as f64);
    assert_eq!(recovered.histogram_count(ATTEMPTS, &[("result", "success")]), 1.0);
    assert_eq!(recovered.value("packhooks_delivery_attempts_total", &[("result", "failure")]), 9.0);
    assert_eq!(recovered.value(FAILURES, &[("error_code", "status")]), 3.0);
    // Two submissions to two webhooks: four first attempts.
    assert_eq!(recovered.histogram_count("packhooks_delivery_first_attempt_delay_seconds", &[]), 4.0);
    // Nothing owed any more; both actors alive; appends timed (commands and outcomes).
    assert_eq!(recovered.value("packhooks_deliveries_pending_retry", &[]), 0.0);
    assert_eq!(recovered.value("packhooks_delivery_backlog", &[]), 0.0);
    assert_eq!(recovered.value("packhooks_webhook_actors", &[]), 2.0);
    assert!(recovered.histogram_count("packhooks_store_append_duration_seconds", &[("outcome", "ok")]) >= 5.0);
    // Bounded labels: no webhook, account or pack id anywhere.
    for sample in &recovered.0.samples {
        let labels = format!("{:?}", sample.labels);
        for id in [answering.as_str(), refusing.as_str(), "acc_1", "pk_1"] {
            assert!(!labels.contains(id), "{} carries {id}: {labels}", sample.metric);
        }
    }
    let submissions = [("route", "/v1/packs/:pack/interest"), ("class", "2xx")];
    assert_eq!(recovered.histogram_count("packhooks_http_request_duration_seconds", &submissions), 2.0);
    app.stop().await;
}

#[actix_web::test]
async fn projection_lag_rises_while_a_projection_cannot_write_and_falls_back_to_zero() {
    let app = spawn_app().await;
    app.set_plan("acc_1", "growth").await;
    let lag = |m: &Metrics| m.value("packhooks_projection_lag_events", &[("projection", "pack_stats")]);
    let caught_up = scrape_until(&app, "pack_stats caught up", |m| m.has("packhooks_projection_lag_events") && lag(m) == 0.0).await;
    assert_eq!(caught_up.value("packhooks_projection_lag_seconds", &[("projection", "pack_stats")]), 0.0);

    // Another writer holds the read-model database: the runner cannot commit, so the
    // projections stop where they are (readers still read: WAL).
    let db = rusqlite::Connection::open(packhooks_projections::db_path(app.data_dir.path())).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    submit(&app).await;
    submit(&app).await;
    let behind = scrape_until(&app, "pack_stats behind", |m| {
        lag(m) == 2.0 && m.value("packhooks_projection_lag_seconds", &[("projection", "pack_stats")]) > 0.0
    })
    .await;
    assert!(behind.value("packhooks_projection_lag_events", &[("projection", "delivery_log")]) >= 0.0);

    db.execute_batch("COMMIT").unwrap();
    let after = scrape_until(&app, "every projection caught up again", |m| {
        m.label_values("packhooks_projection_lag_events", "projection").len() == 3
            && m.value("packhooks_projection_lag_events", &[]) == 0.0
    })
    .await;
    assert_eq!(after.value("packhooks_projection_lag_seconds", &[]), 0.0);
    app.stop().await;
}

#[actix_web::test]
async fn openmetrics_when_the_scraper_asks_for_it() {
    let app = spawn_app().await;
    let response = app
        .request(Method::GET, "/metrics")
        .header("accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let media_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(media_type.starts_with("application/openmetrics-text; version=1.0.0"), "{media_type}");
    let text = response.text().await.unwrap();
    // OpenMetrics names a counter's family without `_total`, and ends with `# EOF`.
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.lines().any(|l| l == "# TYPE packhooks_deliveries_abandoned counter"), "{text}");

    let plain = app.request(Method::GET, "/metrics").header("accept", "text/plain").send().await.unwrap();
    assert!(plain.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    assert!(!plain.text().await.unwrap().contains("# EOF"));
    app.stop().await;
}
