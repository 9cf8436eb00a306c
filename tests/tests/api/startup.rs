//! Application start and stop: the data directory, and the order of a graceful stop.

use std::sync::Arc;

use packhooks_store::{EventData, ExpectedRevision, StoreError};
use packhooks_tests::app::{spawn_app, spawn_app_with};
use serde_json::Value;

/// An append that only a closed store refuses.
async fn probe(store: &dyn packhooks_store::EventStore) -> Result<packhooks_store::AppendResult, StoreError> {
    let event = EventData::json(uuid::Uuid::now_v7(), "Probe", "{}", "{}");
    store.append("probe-1", ExpectedRevision::Any, vec![event]).await
}

#[actix_web::test]
async fn a_missing_data_directory_is_created() {
    let app = spawn_app_with(|s| s.data_dir = s.data_dir.join("nested/deeper")).await;
    let dir = app.data_dir.path().join("nested/deeper");
    assert!(dir.join("events.sqlite").is_file());
    assert!(dir.join("api-token").is_file());
    app.set_plan("acc_1", "growth").await;
    app.stop().await;
}

#[actix_web::test]
async fn a_graceful_stop_closes_the_store_and_a_restart_finds_everything() {
    let app = spawn_app().await;
    let created = app.given_webhook("acc_1", "http://127.0.0.1:9/hook").await;
    let store = Arc::clone(&app.store);
    let app = app.restart(|_| {}).await;

    let refused = probe(store.as_ref()).await;
    assert!(matches!(refused, Err(StoreError::Closed)), "the old store is closed: {refused:?}");

    let path = format!("/v1/webhooks/{}", created["id"].as_str().unwrap());
    let again: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(again["url"], "http://127.0.0.1:9/hook");
    let list: Value = app.get("/v1/accounts/acc_1/webhooks").await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "the registry is rebuilt from the log");
    app.stop().await;
}

/// A request whose body is still arriving when the stop begins is finished and answered;
/// new connections are refused meanwhile.
#[actix_web::test]
async fn a_graceful_stop_finishes_the_requests_in_flight() {
    use std::time::Duration;

    use packhooks_tests::app::eventually;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let app = spawn_app().await;
    let (port, token) = (app.port, app.token.clone());
    let mut connection = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    // A first, whole request on the connection proves a worker is serving it.
    connection.write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut seen = Vec::new();
    while !seen.ends_with(br#"{"status":"ok"}"#) {
        let mut chunk = [0u8; 1024];
        let n = connection.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the connection closed early");
        seen.extend_from_slice(&chunk[..n]);
    }
    // The second request is in flight: the server has parsed its head (it answers
    // `100 Continue`) and has only part of its body when the stop begins.
    let body = r#"{"plan":"growth"}"#;
    let head = format!(
        "PUT /v1/accounts/acc_1/plan HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n",
        body.len()
    );
    connection.write_all(head.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    while !seen.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(connection.read(&mut byte).await.unwrap(), 1, "the connection closed early");
        seen.push(byte[0]);
    }
    assert!(seen.starts_with(b"HTTP/1.1 100"), "{}", String::from_utf8_lossy(&seen));
    connection.write_all(&body.as_bytes()[..5]).await.unwrap();
    connection.flush().await.unwrap();

    let store = Arc::clone(&app.store);
    let stopping = actix_web::rt::spawn(app.stop());
    eventually(Duration::from_secs(10), "new connections to be refused", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err().then_some(())
    })
    .await;

    connection.write_all(&body.as_bytes()[5..]).await.unwrap();
    let mut answer = String::new();
    connection.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stopping.await.unwrap();
    assert!(matches!(probe(store.as_ref()).await, Err(StoreError::Closed)), "the store closes after the last request");
}

/// The real binary: `serve` prints a created token once on stdout, keeps it owner-only in the
/// data directory, and a second start reuses it silently; SIGTERM exits 0.
#[tokio::test]
async fn serve_prints_a_created_token_once_and_reuses_it() {
    use std::os::unix::fs::PermissionsExt as _;

    use packhooks_tests::process::ServerProcess;

    let data_dir = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_packhooks-under-test");
    let http = reqwest::Client::new();

    let first = ServerProcess::start(binary, data_dir.path(), &[]);
    first.wait_healthy(&http).await;
    let token_file = data_dir.path().join("api-token");
    let token = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    let plan = |address: String| {
        let request = http.put(format!("{address}/v1/accounts/acc_1/plan")).bearer_auth(&token);
        async move { request.json(&serde_json::json!({"plan": "growth"})).send().await.unwrap().status() }
    };
    assert_eq!(plan(first.address.clone()).await, 200);
    let printed = first.terminate();
    assert_eq!(printed.matches(&token).count(), 1, "the token is printed once: {printed:?}");

    let second = ServerProcess::start(binary, data_dir.path(), &[]);
    second.wait_healthy(&http).await;
    assert_eq!(plan(second.address.clone()).await, 200, "the same token works after a restart");
    assert_eq!(second.terminate(), "", "nothing printed when the token already exists");
}
