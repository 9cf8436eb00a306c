//! Strict input at the edge: arrays where objects belong, control and invisible characters
//! in free texts, one spelling per id, 405 with `Allow`, `HEAD` wherever `GET`, headers that
//! may appear once, and problem+json for what is refused before routing.

use packhooks_tests::app::{assert_problem, interest_body, spawn_app};
use reqwest::Method;
use serde_json::{json, Value};

const ACCOUNT: &str = "acc_1";

/// Sends `method target` with a JSON `body` over a plain socket, the target exactly as given;
/// the status and the JSON body of the answer.
async fn raw(app: &packhooks_tests::app::TestApp, method: &str, target: &str, body: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        app.token,
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[actix_web::test]
async fn an_array_where_an_object_belongs_is_invalid_type() {
    let app = spawn_app().await;
    let plan = app.request(Method::PUT, "/v1/accounts/acc_1/plan").json(&json!(["growth"])).send().await.unwrap();
    assert_problem(plan, 400, "invalid_type").await;
    app.set_plan(ACCOUNT, "growth").await;
    let create = app.create_webhook(ACCOUNT, &json!(["https://example.com/hook", ["interested"], null])).await;
    assert_problem(create, 400, "invalid_type").await;

    let mut body = interest_body(ACCOUNT);
    body["candidate"] = json!(["Ada", "ada@example.com", null, null, null, null]);
    let problem = assert_problem(app.submit_interest("pk_1", &body, None).await, 400, "invalid_type").await;
    assert_eq!(problem["field"], "candidate");
    let decline = json!({"account_id": ACCOUNT, "pack_name": "P", "candidate": {}, "reason": [["timing"]]});
    let problem = assert_problem(app.post_json("/v1/packs/pk_1/decline", &decline).await, 400, "invalid_type").await;
    assert_eq!(problem["field"], "reason");
    assert!(app.stream_events("pack-pk_1").await.is_empty(), "nothing was stored");
    app.stop().await;
}

#[actix_web::test]
async fn control_characters_and_invisible_names_are_invalid_fields() {
    let app = spawn_app().await;
    app.set_plan(ACCOUNT, "growth").await;
    let refused = |field: &'static str, body: Value| (field, body);
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = interest_body(ACCOUNT);
        change(&mut body);
        body
    };
    let cases = [
        refused("pack_name", with(&|b| b["pack_name"] = json!("Senior\u{0}Rust"))),
        refused("pack_name", with(&|b| b["pack_name"] = json!("\u{200B}\u{FEFF}"))),
        refused("candidate.name", with(&|b| b["candidate"]["name"] = json!("\u{1b}[2J"))),
        refused("candidate.name", with(&|b| b["candidate"]["name"] = json!("\u{2800}"))),
        refused("candidate.message", with(&|b| b["candidate"]["message"] = json!("Hi\r\u{7}"))),
    ];
    for (field, body) in cases {
        let problem = assert_problem(app.submit_interest("pk_1", &body, None).await, 400, "invalid_field").await;
        assert_eq!(problem["field"], field, "{body}");
    }
    let decline = json!({"account_id": ACCOUNT, "pack_name": "P", "candidate": {},
                         "reason": {"custom": "\u{3164}"}, "feedback": "ok"});
    let problem = assert_problem(app.post_json("/v1/packs/pk_1/decline", &decline).await, 400, "invalid_field").await;
    assert_eq!(problem["field"], "reason.custom");
    let decline = json!({"account_id": ACCOUNT, "pack_name": "P", "candidate": {},
                         "reason": {"code": "timing"}, "feedback": "no\u{8}\u{8}yes"});
    let problem = assert_problem(app.post_json("/v1/packs/pk_1/decline", &decline).await, 400, "invalid_field").await;
    assert_eq!(problem["field"], "feedback");
    let create = json!({"url": "https://example.com/hook", "events": ["interested"], "description": "a\u{0}b"});
    let problem = assert_problem(app.create_webhook(ACCOUNT, &create).await, 400, "invalid_field").await;
    assert_eq!(problem["field"], "description");
    assert!(app.stream_events("pack-pk_1").await.is_empty(), "nothing was stored");

    let fine = with(&|b| b["candidate"]["message"] = json!("Dear team,\n\tthank you."));
    assert_eq!(app.submit_interest("pk_1", &fine, None).await.status(), 202);
    app.stop().await;
}

#[actix_web::test]
async fn a_webhook_id_has_one_spelling_and_dot_segments_are_not_ids() {
    let app = spawn_app().await;
    app.set_plan(ACCOUNT, "growth").await;
    let webhook = app.given_webhook(ACCOUNT, "https://example.com/hook").await;
    let id = webhook["id"].as_str().unwrap().to_owned();
    let hex = id.strip_prefix("wh_").unwrap();
    let uuid = uuid::Uuid::parse_str(hex).unwrap();
    assert_eq!(app.get(&format!("/v1/webhooks/{id}")).await.status(), 200);
    for alias in [
        format!("wh_{}", uuid.hyphenated()),
        format!("wh_{}", hex.to_uppercase()),
        format!("wh_{}", uuid.urn()),
        "wh_nope".to_owned(),
    ] {
        let problem = assert_problem(app.get(&format!("/v1/webhooks/{alias}")).await, 400, "invalid_field").await;
        assert_eq!(problem["field"], "id", "{alias}");
        let patch = app.patch_json(&format!("/v1/webhooks/{alias}"), &json!({"description": "x"})).await;
        assert_problem(patch, 400, "invalid_field").await;
        assert_problem(app.post_empty(&format!("/v1/webhooks/{alias}/disable")).await, 400, "invalid_field").await;
    }
    // Sent as they are: HTTP clients resolve dot segments (even percent-encoded ones) away.
    for dots in [".", "..", "%2E", "%2e%2E"] {
        let (status, problem) = raw(&app, "PUT", &format!("/v1/accounts/{dots}/plan"), r#"{"plan":"growth"}"#).await;
        assert_eq!(
            (status, problem["code"].as_str(), problem["field"].as_str()),
            (400, Some("invalid_field"), Some("account")),
            "{dots}: {problem}"
        );
        let body = interest_body(ACCOUNT).to_string();
        let (status, problem) = raw(&app, "POST", &format!("/v1/packs/{dots}/interest"), &body).await;
        assert_eq!(
            (status, problem["code"].as_str(), problem["field"].as_str()),
            (400, Some("invalid_field"), Some("pack")),
            "{dots}: {problem}"
        );
    }
    app.stop().await;
}

#[actix_web::test]
async fn a_wrong_method_is_405_with_allow_and_head_answers_wherever_get_does() {
    let app = spawn_app().await;
    app.set_plan(ACCOUNT, "growth").await;
    let webhook = app.given_webhook(ACCOUNT, "https://example.com/hook").await;
    let id = webhook["id"].as_str().unwrap();
    let cases = [
        (Method::DELETE, "/v1/accounts/acc_1/plan".to_owned(), "PUT"),
        (Method::POST, "/healthz".to_owned(), "GET, HEAD"),
        (Method::PUT, format!("/v1/webhooks/{id}"), "GET, HEAD, PATCH, DELETE"),
        (Method::GET, format!("/v1/webhooks/{id}/rotate-secret"), "POST"),
        (Method::PATCH, "/v1/accounts/acc_1/webhooks".to_owned(), "GET, HEAD, POST"),
        (Method::OPTIONS, "/openapi.json".to_owned(), "GET, HEAD"),
    ];
    for (method, path, allow) in cases {
        let response = app.request(method.clone(), &path).send().await.unwrap();
        assert_eq!(response.headers().get("allow").and_then(|v| v.to_str().ok()), Some(allow), "{method} {path}");
        assert_problem(response, 405, "method_not_allowed").await;
    }
    assert_problem(app.request(Method::DELETE, "/v1/nothing-here").send().await.unwrap(), 404, "not_found").await;

    for path in [
        "/healthz".to_owned(),
        "/openapi.json".to_owned(),
        format!("/v1/webhooks/{id}"),
        "/v1/accounts/acc_1/webhooks".to_owned(),
    ] {
        let get = app.get(&path).await;
        assert_eq!(get.status(), 200, "GET {path}");
        let get_type = get.headers().get("content-type").cloned();
        let head = app.request(Method::HEAD, &path).send().await.unwrap();
        assert_eq!(head.status(), 200, "HEAD {path}");
        assert_eq!(head.headers().get("content-type").cloned(), get_type, "HEAD {path}");
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path} has no body");
    }
    // HEAD is authorised like GET.
    let head = app.anonymous(Method::HEAD, &format!("/v1/webhooks/{id}")).send().await.unwrap();
    assert_eq!(head.status(), 401);
    app.stop().await;
}

#[actix_web::test]
async fn a_second_authorization_or_idempotency_key_header_is_400() {
    let app = spawn_app().await;
    let twice = app
        .request(Method::PUT, "/v1/accounts/acc_1/plan")
        .header("authorization", "Bearer someone-elses-token-0123")
        .json(&json!({"plan": "growth"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(twice, 400, "invalid_field").await;
    assert_eq!(problem["field"], "Authorization");
    let twice = app
        .request(Method::POST, "/v1/packs/pk_1/interest")
        .header("idempotency-key", "first")
        .header("idempotency-key", "second")
        .json(&interest_body(ACCOUNT))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(twice, 400, "invalid_field").await;
    assert_eq!(problem["field"], "Idempotency-Key");
    assert!(app.stream_events("pack-pk_1").await.is_empty(), "nothing was stored");
    assert!(app.stream_events("account-acc_1").await.is_empty(), "nothing was stored");
    app.stop().await;
}

#[actix_web::test]
async fn an_overlong_request_target_is_a_problem_too() {
    let app = spawn_app().await;
    let long = format!("/v1/webhooks/wh_{}", "a".repeat(packhooks_api::edge::MAX_URI));
    assert_problem(app.get(&long).await, 414, "uri_too_long").await;
    let long_query = format!("/healthz?{}", "q".repeat(packhooks_api::edge::MAX_URI));
    assert_problem(app.get(&long_query).await, 414, "uri_too_long").await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await;
}
