//! Bad bodies get problem+json with a stable code and the field at fault.

use packhooks_tests::app::{assert_problem, spawn_app};
use reqwest::Method;
use serde_json::json;

const CREATE: &str = "/v1/accounts/acc_1/webhooks";

#[actix_web::test]
async fn malformed_json_is_malformed_json() {
    let app = spawn_app().await;
    app.set_plan("acc_1", "growth").await;
    for body in ["{\"url\":", "not json", "{\"url\":\"https://example.com\",\"events\":[\"interested\"]} trailing"] {
        let response = app
            .request(Method::POST, CREATE)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, 400, "malformed_json").await;
        assert!(problem["field"].is_null());
    }
    app.stop().await;
}

#[actix_web::test]
async fn unknown_fields_are_named() {
    let app = spawn_app().await;
    app.set_plan("acc_1", "growth").await;
    let response =
        app.post_json(CREATE, &json!({"url": "https://example.com", "events": ["interested"], "colour": "red"})).await;
    let problem = assert_problem(response, 400, "unknown_field").await;
    assert_eq!(problem["field"], "colour");

    let body = json!({"account_id": "acc_1", "pack_name": "P", "candidate": {"name": "Ada", "age": 36}});
    let problem = assert_problem(app.submit_interest("pk_1", &body, None).await, 400, "unknown_field").await;
    assert_eq!(problem["field"], "candidate.age");
    app.stop().await;
}

#[actix_web::test]
async fn wrong_types_are_invalid_type_with_the_path() {
    let app = spawn_app().await;
    app.set_plan("acc_1", "growth").await;
    let problem =
        assert_problem(app.post_json(CREATE, &json!({"url": 42, "events": ["interested"]})).await, 400, "invalid_type")
            .await;
    assert_eq!(problem["field"], "url");
    let problem = assert_problem(
        app.post_json(CREATE, &json!({"url": "https://example.com", "events": "interested"})).await,
        400,
        "invalid_type",
    )
    .await;
    assert_eq!(problem["field"], "events");
    app.stop().await;
}

#[actix_web::test]
async fn missing_fields_are_named() {
    let app = spawn_app().await;
    app.set_plan("acc_1", "growth").await;
    let problem =
        assert_problem(app.post_json(CREATE, &json!({"events": ["interested"]})).await, 400, "missing_field").await;
    assert_eq!(problem["field"], "url");
    let body = json!({"account_id": "acc_1", "pack_name": "P", "candidate": {}});
    let problem = assert_problem(app.post_json("/v1/packs/pk_1/decline", &body).await, 400, "missing_field").await;
    assert_eq!(problem["field"], "reason");
    app.stop().await;
}

#[actix_web::test]
async fn bodies_over_64_kib_are_413() {
    let app = spawn_app().await;
    let prefix = r#"{"plan":""#;
    let suffix = r#""}"#;
    let exactly_over = 64 * 1024 + 1;
    let body = format!("{prefix}{}{suffix}", "x".repeat(exactly_over - prefix.len() - suffix.len()));
    assert_eq!(body.len(), exactly_over);
    let response = app
        .request(Method::PUT, "/v1/accounts/acc_1/plan")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_problem(response, 413, "body_too_large").await;

    // At the limit it is read (and refused for what it says, not for its size).
    let at_limit = format!("{prefix}{}{suffix}", "x".repeat(64 * 1024 - prefix.len() - suffix.len()));
    let response = app
        .request(Method::PUT, "/v1/accounts/acc_1/plan")
        .header("content-type", "application/json")
        .body(at_limit)
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "invalid_field").await;
    app.stop().await;
}

#[actix_web::test]
async fn bodies_that_are_not_json_are_415() {
    let app = spawn_app().await;
    let response = app
        .request(Method::PUT, "/v1/accounts/acc_1/plan")
        .header("content-type", "text/plain")
        .body(r#"{"plan":"growth"}"#)
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, "unsupported_media_type").await;
    app.stop().await;
}

/// serde_json reports a non-string where an enum (plan, event type, decline reason code)
/// belongs as a syntax error; the body is still well-formed JSON, so it is a wrong type at a
/// named field, not malformed JSON.
#[actix_web::test]
async fn a_wrong_type_for_a_field_of_fixed_values_is_invalid_type_with_its_path() {
    let app = spawn_app().await;
    app.set_plan("acc_1", "growth").await;
    let response = app.request(Method::PUT, "/v1/accounts/acc_1/plan").json(&json!({"plan": 1})).send().await.unwrap();
    let problem = assert_problem(response, 400, "invalid_type").await;
    assert_eq!(problem["field"], "plan");

    let response = app.post_json(CREATE, &json!({"url": "https://example.com", "events": ["interested", 2]})).await;
    let problem = assert_problem(response, 400, "invalid_type").await;
    assert_eq!(problem["field"], "events[1]");

    let body = json!({"account_id": "acc_1", "pack_name": "P", "candidate": {}, "reason": {"code": 5}});
    let problem = assert_problem(app.post_json("/v1/packs/pk_1/decline", &body).await, 400, "invalid_type").await;
    assert_eq!(problem["field"], "reason.code");
    assert!(app.stream_events("pack-pk_1").await.is_empty(), "nothing is stored");

    // Truly broken JSON stays malformed_json, with no field, and so does a string serde_json
    // cannot read (a lone surrogate), which is a syntax error too.
    for body in [r#"{"plan": 1"#, r#"{"plan": "\ud800"}"#] {
        let response = app
            .request(Method::PUT, "/v1/accounts/acc_1/plan")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, 400, "malformed_json").await;
        assert!(problem["field"].is_null(), "{body}: {problem}");
    }
    app.stop().await;
}

/// A field given twice is refused, naming the field (it had no `field`).
#[actix_web::test]
async fn a_field_given_twice_is_invalid_field_naming_it() {
    let app = spawn_app().await;
    app.set_plan("acc_1", "growth").await;
    let response = app
        .request(Method::POST, CREATE)
        .header("content-type", "application/json")
        .body(r#"{"url":"https://example.com/a","url":"https://example.com/b","events":["interested"]}"#)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 400, "invalid_field").await;
    assert_eq!(problem["field"], "url");

    let response = app
        .request(Method::POST, "/v1/packs/pk_1/interest")
        .header("content-type", "application/json")
        .body(r#"{"account_id":"acc_1","pack_name":"P","candidate":{"name":"Ada","name":"Bob"}}"#)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 400, "invalid_field").await;
    assert_eq!(problem["field"], "candidate.name");
    assert!(app.stream_events("pack-pk_1").await.is_empty(), "nothing is stored");
    app.stop().await;
}
