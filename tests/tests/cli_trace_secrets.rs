//! "Secrets are never logged", proven at the most verbose log level: the real binary runs
//! `serve` at `PACKHOOKS_LOG=trace` (every crate's trace lines: actix-web, awc, rustls, …)
//! through a webhook's create, secret rotation, a delivery and a test event, and everything
//! it wrote (the log on stderr and stdout) is searched for both signing secrets, in the
//! `whsec_…` form and as their bare base64 key, and for the API token. The token is printed
//! once on stdout by design (created on first start, "shown only this once") and nowhere
//! else.

use std::time::Duration;

use packhooks_tests::packhooks_bin;
use packhooks_tests::process::Launch;
use packhooks_tests::receiver::TestReceiver;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

/// `expected` status from a request, and its JSON body (`Null` when empty).
async fn answer(request: reqwest::RequestBuilder, expected: u16) -> Value {
    let response = request.send().await.expect("the request is sent");
    assert_eq!(response.status().as_u16(), expected);
    let text = response.text().await.expect("a body");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("a JSON body")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_at_trace_level_writes_no_secret_and_no_token_through_create_rotate_deliver_and_test_event() {
    let data_dir = tempfile::tempdir().expect("a temp dir");
    let receiver = TestReceiver::start();
    let server = Launch::new(packhooks_bin!(), data_dir.path())
        .env("PACKHOOKS_ALLOW_PRIVATE_TARGETS", "true")
        .log_filter("trace")
        .start();
    let token = std::fs::read_to_string(data_dir.path().join("api-token")).expect("the token file").trim().to_owned();
    let http = reqwest::Client::new();
    let api = |method: reqwest::Method, path: &str| http.request(method, server.url(path)).bearer_auth(&token);

    server.set_plan(&http, &token, "acc_t", "growth").await;
    let created = answer(
        api(reqwest::Method::POST, "/v1/accounts/acc_t/webhooks")
            .json(&json!({"url": receiver.url("/traced"), "events": ["interested"], "description": "traced"})),
        201,
    )
    .await;
    let id = created["id"].as_str().expect("an id").to_owned();
    answer(api(reqwest::Method::GET, &format!("/v1/webhooks/{id}")), 200).await;
    let rotated = answer(api(reqwest::Method::POST, &format!("/v1/webhooks/{id}/rotate-secret")), 200).await;
    let submission = json!({"account_id": "acc_t", "pack_name": "Traced pack", "candidate": {"name": "Ada"}});
    answer(api(reqwest::Method::POST, "/v1/packs/pk_t/interest").json(&submission), 202).await;
    assert!(receiver.wait_for(Some("/traced"), 1, WAIT).await, "the submission was delivered");
    let tested =
        answer(api(reqwest::Method::POST, &format!("/v1/webhooks/{id}/test?wait=true")).json(&json!({"event": "declined"})), 200)
            .await;
    assert_eq!(tested["status"], "delivered", "{tested}");
    assert_eq!(receiver.requests_to("/traced").len(), 2);
    let log = server.logged("");
    let stdout = server.terminate();

    // The run did log at trace level, and about these very requests.
    assert!(log.iter().filter(|line| line.contains(r#""level":"TRACE""#)).count() > 100, "hardly any trace lines");
    assert!(log.iter().any(|line| line.contains("rotate-secret")), "the rotation's request is not in the log");

    let mut secrets = Vec::new();
    for secret in [&created["secret"], &rotated["secret"]] {
        let secret = secret.as_str().expect("a whsec_ secret");
        let key = secret.strip_prefix("whsec_").expect("the whsec_ prefix");
        assert!(key.len() >= 32, "{secret}");
        secrets.extend([secret.to_owned(), key.to_owned()]);
    }
    for line in &log {
        for secret in &secrets {
            assert!(!line.contains(secret.as_str()), "a signing secret in the log: {line}");
        }
        assert!(!line.contains(&token), "the API token in the log: {line}");
    }
    for secret in &secrets {
        assert!(!stdout.contains(secret.as_str()), "a signing secret on stdout: {stdout}");
    }
    assert_eq!(stdout.matches(&token).count(), 1, "the token is shown once, when it is created: {stdout}");
}
