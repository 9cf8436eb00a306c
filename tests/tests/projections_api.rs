//! The read-model endpoints end to end: webhook health in the webhook views (failing after
//! an abandoned delivery, untouched by a test event, healthy again after a success), pack
//! and account statistics, the delivery log, the audit history with its roles and redaction,
//! and an online rebuild through the ops API.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use packhooks::settings::ExtraToken;
use packhooks_api::auth::{Role, Token};
use packhooks_tests::app::{assert_problem, eventually, interest_body, spawn_app_with, TestApp};
use packhooks_tests::receiver::{Reply, TestReceiver};
use reqwest::Method;
use serde_json::{json, Value};

const FRONTEND: &str = "frontend-only-token-0123456789";
const AUDITOR: &str = "auditor-only-token-0123456789";
const WAIT: Duration = Duration::from_secs(20);

async fn get_json(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

async fn get_as(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).bearer_auth(token).send().await.unwrap()
}

async fn webhook_view(app: &TestApp, id: &str) -> Value {
    let list = get_json(app, "/v1/accounts/acc_1/webhooks").await;
    let one = get_json(app, &format!("/v1/webhooks/{id}")).await;
    let listed = list["data"].as_array().unwrap().iter().find(|w| w["id"] == id).cloned().expect("listed");
    // While health changes the two reads may straddle the change; the callers wait for (or
    // check) a settled status, so a view counts only when both agree.
    if listed["status"] == one["status"] {
        one
    } else {
        json!({"status": "changing"})
    }
}

#[actix_web::test]
async fn health_stats_deliveries_audit_and_rebuild_read_from_the_projections() {
    let app = spawn_app_with(|s| {
        s.api.tokens = vec![
            ExtraToken { token: Token::parse(FRONTEND).unwrap(), roles: vec![Role::Frontend], name: None },
            ExtraToken { token: Token::parse(AUDITOR).unwrap(), roles: vec![Role::Auditor], name: None },
        ];
    })
    .await;
    let receiver = TestReceiver::start();
    let up = Arc::new(AtomicBool::new(false));
    let script_up = up.clone();
    receiver.on("/hook", move |_| if script_up.load(Ordering::SeqCst) { Reply::ok() } else { Reply::status(500) });
    let created = app.given_webhook("acc_1", &receiver.url("/hook")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();

    // Three failed attempts: abandoned, so the webhook is failing.
    assert_eq!(app.submit_interest("pk_1", &interest_body("acc_1"), None).await.status(), 202);
    let failing = eventually(WAIT, "the webhook to be failing", || async {
        let view = webhook_view(&app, &id).await;
        (view["status"] == "failing").then_some(view)
    })
    .await;
    assert!(failing["failing_since"].is_string());
    assert_eq!(failing["last_delivery"]["result"], "failure");
    assert_eq!(failing["last_delivery"]["attempt"], 3);
    assert_eq!(failing["last_delivery"]["status_code"], 500);
    assert_eq!(failing["last_delivery"]["error_code"], "status");
    assert_eq!(failing["last_delivery"]["event_type"], "interested");
    assert!(failing["last_delivery"]["delivery_id"].as_str().unwrap().starts_with("dlv_"));
    // The health the read model keeps, in the webhook view.
    let health = &failing["health"];
    assert_eq!(health["consecutive_failures"], 3);
    assert_eq!((health["delivered"].clone(), health["abandoned"].clone()), (json!(0), json!(1)));
    assert_eq!(health["failed_attempts"], 3);
    assert_eq!(health["success_rate_24h"], 0.0);
    assert_eq!(health["last_error"]["error_code"], "status");
    assert_eq!(health["last_error"]["status_code"], 500);
    assert!(health["last_error"]["at"].as_str().unwrap().ends_with('Z'));

    // A successful test event changes nothing about health.
    up.store(true, Ordering::SeqCst);
    let test = app.post_json(&format!("/v1/webhooks/{id}/test?wait=true"), &json!({"event": "interested"})).await;
    assert_eq!(test.status(), 200, "the test event's outcome");
    let log = eventually(WAIT, "the test attempt in the log", || async {
        let page = get_json(&app, &format!("/v1/webhooks/{id}/attempts")).await;
        (page["data"].as_array().unwrap().len() == 4).then_some(page)
    })
    .await;
    assert_eq!(log["data"][0]["test"], true);
    assert_eq!(log["data"][0]["success"], true);
    assert_eq!(log["data"][0]["status_code"], 200, "status_code, not status");
    assert_eq!(log["data"][1]["error_code"], "status", "error_code, not code");
    assert_eq!(log["data"][1]["status_code"], 500);
    assert_eq!(webhook_view(&app, &id).await["status"], "failing", "a test event never changes health");

    // A real success makes it healthy again.
    let decline = json!({
        "account_id": "acc_1", "pack_name": "Senior Rust Engineer",
        "candidate": {"name": "Bob"}, "reason": {"custom": "Reason #2"}
    });
    assert_eq!(app.post_json("/v1/packs/pk_1/decline", &decline).await.status(), 202);
    let healthy = eventually(WAIT, "the webhook to recover", || async {
        let view = webhook_view(&app, &id).await;
        (view["status"] == "healthy").then_some(view)
    })
    .await;
    assert_eq!(healthy["failing_since"], Value::Null);
    assert_eq!(healthy["last_delivery"]["result"], "success");

    // The log pages newest first: 3 failures, the test, the success.
    let first = get_json(&app, &format!("/v1/webhooks/{id}/attempts?limit=2")).await;
    let items = first["data"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!((items[0]["success"].clone(), items[1]["test"].clone()), (json!(true), json!(true)));
    let next = first["next_cursor"].as_str().expect("a next page").to_owned();
    let rest = get_json(&app, &format!("/v1/webhooks/{id}/attempts?limit=10&cursor={next}")).await;
    let attempts: Vec<_> = rest["data"].as_array().unwrap().iter().map(|i| i["attempt"].as_u64().unwrap()).collect();
    assert_eq!(attempts, [3, 2, 1]);
    assert_eq!(rest["next_cursor"], Value::Null);
    assert_problem(app.get(&format!("/v1/webhooks/{id}/attempts?limit=0")).await, 400, "invalid_field").await;
    // A webhook that never existed has no log to page: 404, as documented (it was an empty 200).
    let unknown = "/v1/webhooks/wh_0190f2a46b1c7d3e8f0000000000000b/attempts";
    assert_problem(app.get(unknown).await, 404, "not_found").await;
    // A cursor is a log position the read model can hold (at most i64::MAX); past that it
    // once wrapped negative and answered an empty page.
    for bad in ["18446744073709551615", "9223372036854775808", "1/18446744073709551615", "abc", "-1"] {
        let response = app.get(&format!("/v1/webhooks/{id}/attempts?cursor={bad}")).await;
        let problem = assert_problem(response, 400, "invalid_field").await;
        assert_eq!(problem["field"], "cursor", "cursor={bad}");
    }
    let from_the_top = get_json(&app, &format!("/v1/webhooks/{id}/attempts?cursor={}", i64::MAX)).await;
    assert_eq!(from_the_top["data"].as_array().unwrap().len(), 5, "the largest cursor pages from the newest");

    // Statistics count the two submissions and never the test event.
    let stats = get_json(&app, "/v1/packs/pk_1/stats").await;
    assert_eq!((stats["interested"].clone(), stats["declined"].clone()), (json!(1), json!(1)));
    assert_eq!(stats["decline_reasons"], json!([{"code": null, "label": "Reason #2", "custom": true, "count": 1}]));
    assert_eq!(stats["per_day"].as_array().unwrap().len(), 1);
    let totals = get_json(&app, "/v1/accounts/acc_1/stats").await;
    assert_eq!(
        (totals["packs"].clone(), totals["interested"].clone(), totals["declined"].clone()),
        (json!(1), json!(1), json!(1))
    );

    // Audit: the auditor role, paging with a cursor, secrets redacted, state at a time.
    assert_problem(get_as(&app, FRONTEND, "/v1/audit/all").await, 403, "forbidden").await;
    assert_problem(app.anonymous(Method::GET, "/v1/audit/all").send().await.unwrap(), 401, "unauthorized").await;
    let page = get_as(&app, AUDITOR, "/v1/audit/all?direction=backwards&limit=3").await;
    assert_eq!(page.status(), 200);
    let page: Value = page.json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    let cursor = page["next_cursor"].as_str().expect("more history").to_owned();
    let older: Value = get_as(&app, AUDITOR, &format!("/v1/audit/all?direction=backwards&limit=3&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(older["data"][0]["position"], cursor);
    let stream: Value = get_as(&app, AUDITOR, &format!("/v1/audit/streams/webhook-{id}")).await.json().await.unwrap();
    assert_eq!(stream["data"][0]["event_type"], "WebhookCreated");
    assert_eq!(stream["data"][0]["data"]["secret"], "whsec_[redacted]");
    assert_eq!(stream["data"][0]["issued_by"], json!({"role": "frontend"}), "who created it, never the token");
    let everything: Value = get_as(&app, AUDITOR, "/v1/audit/all?limit=1000").await.json().await.unwrap();
    assert!(!everything.to_string().contains(&secret), "the secret never shows in the audit history");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let state: Value = get_as(&app, AUDITOR, &format!("/v1/audit/webhooks/{id}/state?at={}", now.replace('+', "%2B")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(state["state"]["state"], "active");
    assert_eq!(state["state"]["url"], receiver.url("/hook"));
    assert!(!state.to_string().contains(&secret));
    assert_problem(get_as(&app, AUDITOR, "/v1/audit/streams/pack-nope").await, 404, "not_found").await;
    assert_problem(
        get_as(&app, AUDITOR, &format!("/v1/audit/webhooks/{id}/state?at=yesterday")).await,
        400,
        "invalid_field",
    )
    .await;

    // Ops: status, then an online rebuild of everything that ends with the same answers.
    assert_problem(get_as(&app, AUDITOR, "/v1/ops/projections").await, 403, "forbidden").await;
    let status = get_json(&app, "/v1/ops/projections").await;
    assert_eq!(status["data"].as_array().unwrap().len(), 3);
    assert_eq!(status["next_cursor"], Value::Null);
    let heartbeat = status["data"][0]["active"]["heartbeat_at"].as_str().expect("a heartbeat time");
    assert!(heartbeat.ends_with('Z'), "RFC 3339 UTC with Z: {heartbeat}");
    let paged = get_json(&app, "/v1/ops/projections?limit=2").await;
    assert_eq!(paged["data"].as_array().unwrap().len(), 2);
    let rest = get_json(&app, &format!("/v1/ops/projections?cursor={}", paged["next_cursor"].as_str().unwrap())).await;
    assert_eq!((rest["data"].as_array().unwrap().len(), &rest["next_cursor"]), (1, &Value::Null));
    let started = app.post_empty("/v1/ops/projections/all/rebuild").await;
    assert_eq!(started.status(), 202);
    eventually(WAIT, "the rebuild to finish", || async {
        let status = get_json(&app, "/v1/ops/projections").await;
        status["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["live"]["rebuild"]["state"] == "done" && p["active"]["generation"] == 2)
            .then_some(())
    })
    .await;
    assert_eq!(get_json(&app, "/v1/packs/pk_1/stats").await, stats);
    assert_eq!(webhook_view(&app, &id).await["status"], "healthy");
    assert_problem(app.post_empty("/v1/ops/projections/nope/rebuild").await, 404, "not_found").await;

    // Every read-model route is documented.
    let doc = get_json(&app, "/openapi.json").await;
    for path in [
        "/v1/packs/{pack}/stats",
        "/v1/accounts/{account}/stats",
        "/v1/webhooks/{id}/attempts",
        "/v1/audit/streams/{stream}",
        "/v1/audit/all",
        "/v1/audit/webhooks/{id}/state",
        "/v1/ops/projections",
        "/v1/ops/projections/{name}/rebuild",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} in /openapi.json");
    }
    app.stop().await;
}

#[actix_web::test]
async fn a_rebuild_running_in_another_process_is_refused_with_409() {
    let app = spawn_app_with(|_| {}).await;
    // What `packhooks projections rebuild` in another process writes when it claims a
    // projection: a `building` set with a fresh heartbeat.
    let db_path = packhooks_projections::db_path(app.data_dir.path());
    let mut conn = packhooks_projections::db::open(&db_path).unwrap();
    let tx = conn.transaction().unwrap();
    packhooks_projections::db::create_set(
        &tx,
        &packhooks_projections::pack_stats::PackStatsProjection,
        packhooks_projections::db::SetState::Building,
        Some(0),
    )
    .unwrap();
    tx.commit().unwrap();
    drop(conn);

    assert_problem(app.post_empty("/v1/ops/projections/pack_stats/rebuild").await, 409, "conflict").await;
    assert_problem(app.post_empty("/v1/ops/projections/all/rebuild").await, 409, "conflict").await;
    // The other projections are free.
    assert_eq!(app.post_empty("/v1/ops/projections/delivery_log/rebuild").await.status(), 202);
    app.stop().await;
}

/// The delivery view: one row per delivery with its state, filters, paging, one delivery's
/// attempts and the exact body that was sent; a disabled webhook shows no next attempt.
#[actix_web::test]
async fn the_delivery_view_lists_deliveries_with_their_state_attempts_and_body() {
    let app = spawn_app_with(|_| {}).await;
    let receiver = TestReceiver::start();
    let up = Arc::new(AtomicBool::new(false));
    let script_up = up.clone();
    receiver.on("/hook", move |_| {
        if script_up.load(Ordering::SeqCst) {
            Reply::ok()
        } else {
            Reply::status(500).body("down for maintenance")
        }
    });
    let created = app.given_webhook("acc_1", &receiver.url("/hook")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let list = |query: &str| {
        let path = format!("/v1/webhooks/{id}/deliveries{query}");
        let app = &app;
        async move { get_json(app, &path).await }
    };

    // An interest that fails three times (abandoned), then a decline and a test event that succeed.
    assert_eq!(app.submit_interest("pk_1", &interest_body("acc_1"), None).await.status(), 202);
    eventually(WAIT, "the interest to be abandoned", || async {
        let page = list("?state=abandoned").await;
        (page["data"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    up.store(true, Ordering::SeqCst);
    let decline = json!({
        "account_id": "acc_1", "pack_name": "Senior Rust Engineer",
        "candidate": {"name": "Bob"}, "reason": {"code": "timing"}
    });
    let accepted: Value = app.post_json("/v1/packs/pk_1/decline", &decline).await.json().await.unwrap();
    let test = app.post_json(&format!("/v1/webhooks/{id}/test?wait=true"), &json!({"event": "declined"})).await;
    assert_eq!(test.status(), 200);
    let page = eventually(WAIT, "three deliveries", || async {
        let page = list("").await;
        (page["data"].as_array().unwrap().iter().filter(|d| d["state"] != "pending").count() == 3).then_some(page)
    })
    .await;
    let rows = page["data"].as_array().unwrap();
    assert_eq!(page["next_cursor"], Value::Null);
    let states: Vec<_> = rows.iter().map(|d| (d["state"].as_str().unwrap(), d["test"].as_bool().unwrap())).collect();
    assert_eq!(states, [("delivered", true), ("delivered", false), ("abandoned", false)], "newest first: {page}");
    let (test_row, declined, abandoned) = (&rows[0], &rows[1], &rows[2]);
    assert_eq!((test_row["event_type"].clone(), test_row["submission_id"].clone()), (json!("declined"), Value::Null));
    assert!(test_row["test_id"].as_str().unwrap().starts_with("test_"));
    assert_eq!(declined["submission_id"], accepted["submission_id"]);
    assert_eq!(declined["event_type"], "declined");
    assert_eq!((declined["attempts"].clone(), declined["last_attempt"]["status_code"].clone()), (json!(1), json!(200)));
    assert_eq!(abandoned["event_type"], "interested");
    assert_eq!(abandoned["attempts"], 3);
    assert_eq!(abandoned["last_attempt"]["status_code"], 500);
    assert_eq!(abandoned["last_attempt"]["error_code"], "status");
    assert_eq!(abandoned["next_attempt_at"], Value::Null);
    assert!(abandoned["created_at"].as_str().unwrap().ends_with('Z'));

    // Filters and paging.
    let only = |page: Value| page["data"].as_array().unwrap().iter().map(|d| d["delivery_id"].clone()).collect::<Vec<_>>();
    assert_eq!(only(list("?state=abandoned").await), [abandoned["delivery_id"].clone()]);
    assert_eq!(only(list("?event_type=interested").await), [abandoned["delivery_id"].clone()]);
    assert_eq!(only(list("?event_type=declined&state=delivered").await).len(), 2);
    assert_eq!(only(list("?until=2000-01-01T00:00:00Z").await).len(), 0);
    assert_eq!(only(list("?since=2000-01-01T00:00:00Z").await).len(), 3);
    assert_eq!(only(list("?since=2999-01-01T00:00:00Z").await).len(), 0);
    let first = list("?limit=2").await;
    assert_eq!(only(first.clone()), [test_row["delivery_id"].clone(), declined["delivery_id"].clone()]);
    let rest = list(&format!("?limit=2&cursor={}", first["next_cursor"].as_str().expect("a next page"))).await;
    assert_eq!((only(rest.clone()), &rest["next_cursor"]), (vec![abandoned["delivery_id"].clone()], &Value::Null));
    for bad in ["state=lost", "event_type=hired", "since=yesterday", "limit=0", "limit=201", "cursor=abc"] {
        assert_problem(app.get(&format!("/v1/webhooks/{id}/deliveries?{bad}")).await, 400, "invalid_field").await;
    }

    // One delivery: its attempts and the exact body the receiver got.
    let dlv = abandoned["delivery_id"].as_str().unwrap();
    let detail = get_json(&app, &format!("/v1/webhooks/{id}/deliveries/{dlv}")).await;
    let attempts = detail["attempts"].as_array().unwrap();
    assert_eq!(attempts.iter().map(|a| a["attempt"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    for a in attempts {
        assert_eq!((a["status_code"].clone(), a["error_code"].clone()), (json!(500), json!("status")));
        assert_eq!(a["response_body"], "down for maintenance");
        assert!(a["latency_ms"].is_u64());
    }
    let sent = receiver.requests_to("/hook");
    let first_attempt = sent.iter().find(|r| r.webhook_id() == abandoned["message_id"].as_str()).expect("sent");
    assert_eq!(detail["body"].as_str().unwrap().as_bytes(), &first_attempt.body[..], "the exact body sent");
    assert_eq!(detail["state"], "abandoned");
    let unknown = format!("/v1/webhooks/{id}/deliveries/dlv_0190f2a46b1c7d3e8f0000000000000b");
    assert_problem(app.get(&unknown).await, 404, "not_found").await;
    assert_problem(app.get(&format!("/v1/webhooks/{id}/deliveries/nope")).await, 404, "not_found").await;
    let never = "/v1/webhooks/wh_0190f2a46b1c7d3e8f0000000000000b/deliveries";
    assert_problem(app.get(never).await, 404, "not_found").await;
    app.stop().await;
}

#[actix_web::test]
async fn a_disabled_webhook_shows_no_next_attempt_for_retries_that_will_not_run() {
    let app = spawn_app_with(|s| s.delivery.retry_delays = vec![Duration::from_secs(3600)]).await;
    let receiver = TestReceiver::start();
    receiver.on("/hook", |_| Reply::status(503));
    let created = app.given_webhook("acc_1", &receiver.url("/hook")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(app.submit_interest("pk_1", &interest_body("acc_1"), None).await.status(), 202);
    let pending = eventually(WAIT, "a pending delivery", || async {
        let page = get_json(&app, &format!("/v1/webhooks/{id}/deliveries")).await;
        page["data"].as_array().unwrap().first().filter(|d| d["state"] == "pending").cloned()
    })
    .await;
    assert!(pending["next_attempt_at"].as_str().unwrap().ends_with('Z'), "{pending}");
    assert_eq!(app.post_empty(&format!("/v1/webhooks/{id}/disable")).await.status(), 200);
    let page = get_json(&app, &format!("/v1/webhooks/{id}/deliveries")).await;
    assert_eq!(page["data"][0]["next_attempt_at"], Value::Null, "no retry will run: {page}");
    let detail = get_json(&app, &format!("/v1/webhooks/{id}/deliveries/{}", pending["delivery_id"].as_str().unwrap())).await;
    assert_eq!(detail["next_attempt_at"], Value::Null);
    app.stop().await;
}
