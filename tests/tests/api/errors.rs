//! Bad bodies get problem+json with a stable code and the field at fault; so do requests the
//! HTTP parser refuses before any route runs.

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

/// Sends `request` as raw bytes on a new connection and reads until the server closes it.
async fn raw_exchange(port: u16, request: Vec<u8>) -> String {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
        stream.write_all(&request).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap()
}

/// The problem+json body of the last answer in `exchange`, with its status line.
fn last_problem(exchange: &str) -> (String, serde_json::Value) {
    let start = exchange.rfind("HTTP/1.1 ").expect("an answer");
    let (head, body) = exchange[start..].split_once("\r\n\r\n").expect("a head");
    assert!(head.to_ascii_lowercase().contains("content-type: application/problem+json"), "{head}");
    (head.lines().next().unwrap_or_default().to_owned(), serde_json::from_str(body).expect("a JSON problem"))
}

#[actix_web::test]
async fn requests_the_http_parser_refuses_are_answered_in_problem_json_too() {
    let app = spawn_app().await;
    // A NUL byte in a header, and a request line that is not HTTP.
    for request in [&b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Bad: a\x00b\r\n\r\n"[..], b"GET\x01 / HTTP/1.1\r\n\r\n"] {
        let (status, problem) = last_problem(&raw_exchange(app.port, request.to_vec()).await);
        assert_eq!(status, "HTTP/1.1 400 Bad Request");
        assert_eq!((problem["status"].as_u64(), problem["code"].as_str()), (Some(400), Some("malformed_request")), "{problem}");
    }
    // A head over the parser's limit.
    let big = format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n", "a".repeat(200 * 1024));
    let (status, problem) = last_problem(&raw_exchange(app.port, big.into_bytes()).await);
    assert!(status.starts_with("HTTP/1.1 431"), "{status}");
    assert_eq!(problem["code"], "header_too_large");
    let many: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (status, _) = last_problem(&raw_exchange(app.port, format!("GET /healthz HTTP/1.1\r\n{many}\r\n").into_bytes()).await);
    assert!(status.starts_with("HTTP/1.1 431"), "over 96 headers: {status}");
    // On a kept-alive connection, a good request is answered as always before the bad one.
    let pipelined = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Bad: \x00\r\n\r\n";
    let exchange = raw_exchange(app.port, pipelined.to_vec()).await;
    assert!(exchange.starts_with("HTTP/1.1 200 OK"), "{exchange}");
    assert_eq!(exchange.matches("HTTP/1.1 ").count(), 2, "{exchange}");
    assert_eq!(last_problem(&exchange).1["code"], "malformed_request");
    // The server is unharmed.
    assert_eq!(app.anonymous(Method::GET, "/healthz").send().await.unwrap().status(), 200);
    app.stop().await;
}
