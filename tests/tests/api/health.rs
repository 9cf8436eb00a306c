//! /healthz, /readyz, /openapi.json, unknown routes.

use std::time::Duration;

use packhooks_tests::app::{assert_problem, eventually, spawn_app};
use reqwest::Method;
use serde_json::Value;

#[actix_web::test]
async fn healthz_answers_without_a_token() {
    let app = spawn_app().await;
    let response = app.anonymous(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "ok");
    app.stop().await;
}

#[actix_web::test]
async fn readyz_turns_ready_once_the_registry_caught_up() {
    let app = spawn_app().await;
    app.set_plan("acc_1", "growth").await;
    let body = eventually(Duration::from_secs(10), "readiness", || async {
        let response = app.anonymous(Method::GET, "/readyz").send().await.unwrap();
        (response.status() == 200).then_some(response)
    })
    .await
    .json::<Value>()
    .await
    .unwrap();
    assert_eq!(body["status"], "ready");
    assert!(body["head"].is_string(), "{body}");
    app.stop().await;
}

#[actix_web::test]
async fn openapi_lists_every_path_of_the_api() {
    let app = spawn_app().await;
    let doc: Value = app.anonymous(Method::GET, "/openapi.json").send().await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/v1/accounts/{account}/plan",
        "/v1/accounts/{account}/webhooks",
        "/v1/webhooks/{id}",
        "/v1/webhooks/{id}/enable",
        "/v1/webhooks/{id}/disable",
        "/v1/webhooks/{id}/rotate-secret",
        "/v1/packs/{pack}/interest",
        "/v1/packs/{pack}/decline",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(path), "{path} missing from {:?}", paths.keys().collect::<Vec<_>>());
    }
    for method in ["get", "patch", "delete"] {
        assert!(doc["paths"]["/v1/webhooks/{id}"][method].is_object(), "{method} /v1/webhooks/{{id}}");
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for schema in ["CreateWebhookIn", "WebhookOut", "InterestIn", "DeclineIn", "Problem"] {
        assert!(schemas.contains_key(schema), "{schema} missing");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    app.stop().await;
}

#[actix_web::test]
async fn unknown_routes_are_problem_404s() {
    let app = spawn_app().await;
    assert_problem(app.get("/v1/nothing-here").await, 404, "not_found").await;
    app.stop().await;
}

#[actix_web::test]
async fn metrics_count_requests_and_need_the_ops_role() {
    let app = spawn_app().await;
    app.set_plan("acc_1", "growth").await;
    assert_problem(app.anonymous(Method::GET, "/metrics").send().await.unwrap(), 401, "unauthorized").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let metrics = app.scrape().await;
    let requests = "packhooks_http_request_duration_seconds";
    // By route template, never the path itself (the account id is not a label).
    let plan = [("route", "/v1/accounts/:account/plan"), ("class", "2xx")];
    assert_eq!(metrics.histogram_count(requests, &plan), 1.0);
    assert!(metrics.histogram_count(requests, &[("route", "/metrics"), ("class", "4xx")]) >= 1.0);
    assert!(metrics.histogram_count(requests, &[("route", "/metrics"), ("class", "2xx")]) >= 1.0);
    assert!(metrics.label_values(requests, "route").iter().all(|r| !r.contains("acc_1")));
    assert!(metrics.value("packhooks_store_head_position", &[]) >= 1.0);
    assert_eq!(metrics.value("packhooks_store_up", &[]), 1.0);
    assert_eq!(metrics.value("packhooks_webhooks", &[]), 0.0);
    app.stop().await;
}
