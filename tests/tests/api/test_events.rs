//! The test-event route's own input checks (delivery of test events is in `delivery.rs`).

use packhooks_tests::app::{assert_problem, spawn_app};
use serde_json::json;

/// `?wait=` must be `true` or `false`; anything else is a problem+json 400 on `wait` (it was
/// actix's plain-text query error), and no test event is requested.
#[actix_web::test]
async fn a_bad_wait_query_is_a_problem_json_400_on_wait_and_requests_nothing() {
    let app = spawn_app().await;
    // Nothing listens on port 9 of 127.0.0.1; nothing is sent there anyway.
    let hook = app.given_webhook("acc_1", "http://127.0.0.1:9/hook").await;
    let id = hook["id"].as_str().unwrap();
    for query in ["wait=yes", "wait=true&wait=false", "wait="] {
        let response = app.post_json(&format!("/v1/webhooks/{id}/test?{query}"), &json!({"event": "interested"})).await;
        let problem = assert_problem(response, 400, "invalid_field").await;
        assert_eq!(problem["field"], "wait", "{query}: {problem}");
    }
    let types: Vec<String> =
        app.stream_events(&format!("webhook-{id}")).await.into_iter().map(|e| e.event_type).collect();
    assert_eq!(types, ["WebhookCreated"], "no test event was requested");
    app.stop().await;
}

/// A test event for a disabled webhook would never be sent: 409 with its own stable code,
/// `webhook_disabled` (the README's table lists it), and nothing is requested.
#[actix_web::test]
async fn a_test_event_for_a_disabled_webhook_is_409_webhook_disabled() {
    let app = spawn_app().await;
    let hook = app.given_webhook("acc_1", "http://127.0.0.1:9/hook").await;
    let id = hook["id"].as_str().unwrap();
    assert_eq!(app.post_empty(&format!("/v1/webhooks/{id}/disable")).await.status(), 200);
    let response = app.post_json(&format!("/v1/webhooks/{id}/test"), &json!({"event": "interested"})).await;
    let problem = assert_problem(response, 409, "webhook_disabled").await;
    assert!(problem["field"].is_null(), "{problem}");
    let types: Vec<String> =
        app.stream_events(&format!("webhook-{id}")).await.into_iter().map(|e| e.event_type).collect();
    assert_eq!(types, ["WebhookCreated", "WebhookDisabled"], "no test event was requested");
    app.stop().await;
}
