//! `spawn_app()`: the real application (`Application::build`) on 127.0.0.1 port 0 with a
//! fresh data directory, private targets allowed and retry delays of 50 ms and 100 ms, plus
//! a `TestApp` with typed helpers for its HTTP API.
//!
//! Call it inside an actix system (`#[actix_web::test]`): the delivery actors live there.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use packhooks::settings::Overrides;
use packhooks::{Application, Settings};
use packhooks_api::auth::Token;
use packhooks_store::{Direction, EventStore, RecordedEvent, StoreError, StreamPosition};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use tempfile::TempDir;

/// A running application and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub port: u16,
    /// The token with every role.
    pub token: String,
    pub data_dir: TempDir,
    pub client: reqwest::Client,
    pub store: Arc<dyn EventStore>,
    handle: ServerHandle,
    task: actix_web::rt::task::JoinHandle<Result<(), packhooks::startup::StartupError>>,
}

/// The settings every test app starts from.
pub fn test_settings(data_dir: &std::path::Path) -> Settings {
    let overrides = Overrides::default()
        .set("PACKHOOKS_LISTEN", "127.0.0.1:0")
        .set("PACKHOOKS_DATA_DIR", data_dir.to_str().expect("a UTF-8 temp path"))
        .set("PACKHOOKS_ALLOW_PRIVATE_TARGETS", "true")
        .set("PACKHOOKS_RETRY_DELAYS", "50ms,100ms")
        .set("PACKHOOKS_RETRY_JITTER", "0")
        .set("PACKHOOKS_ATTEMPT_TIMEOUT", "2s");
    Settings::load(&overrides).expect("test settings are valid")
}

/// Starts an application with the test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts an application with the test settings as changed by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("a temp dir");
    spawn_in(data_dir, configure).await
}

/// Starts an application on an existing data directory (a restart).
pub async fn spawn_in(data_dir: TempDir, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings(data_dir.path());
    configure(&mut settings);
    let app = Application::build(settings).await.expect("the application starts");
    let port = app.port();
    let token = app.token().expose().to_owned();
    let handle = app.server_handle();
    let store = app.store();
    let task = actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        token,
        data_dir,
        client: reqwest::Client::new(),
        store,
        handle,
        task,
    }
}

impl TestApp {
    /// Stops gracefully (as on SIGTERM) and checks the shutdown went well; returns the data
    /// directory for a restart.
    pub async fn stop(self) -> TempDir {
        // The stop is carried out by the server task, so both are awaited together.
        let (_, finished) = tokio::join!(self.handle.stop(true), self.task);
        finished.expect("the server task ran").expect("the application stopped cleanly");
        self.data_dir
    }

    /// Stops and starts again on the same data directory.
    pub async fn restart(self, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let data_dir = self.stop().await;
        spawn_in(data_dir, configure).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A request with the all-roles token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(&self.token)
    }

    /// A request with no token at all.
    pub fn anonymous(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.expect("request sent")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path).json(body).send().await.expect("request sent")
    }

    pub async fn post_empty(&self, path: &str) -> Response {
        self.request(Method::POST, path).send().await.expect("request sent")
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path).json(body).send().await.expect("request sent")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path).send().await.expect("request sent")
    }

    /// `PUT /v1/accounts/{account}/plan`, expecting success.
    pub async fn set_plan(&self, account: &str, plan: &str) {
        let response = self
            .request(Method::PUT, &format!("/v1/accounts/{account}/plan"))
            .json(&serde_json::json!({ "plan": plan }))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 200, "set plan: {}", response.text().await.unwrap_or_default());
    }

    /// `POST /v1/accounts/{account}/webhooks`.
    pub async fn create_webhook(&self, account: &str, body: &Value) -> Response {
        self.post_json(&format!("/v1/accounts/{account}/webhooks"), body).await
    }

    /// Creates a webhook on a growth account for `url` and both event types; returns the
    /// created body (with `id` and `secret`).
    pub async fn given_webhook(&self, account: &str, url: &str) -> Value {
        self.set_plan(account, "growth").await;
        let response = self
            .create_webhook(account, &serde_json::json!({ "url": url, "events": ["interested", "declined"] }))
            .await;
        assert_eq!(response.status(), 201);
        response.json().await.expect("a JSON body")
    }

    /// `POST /v1/packs/{pack}/interest` with an optional idempotency key.
    pub async fn submit_interest(&self, pack: &str, body: &Value, key: Option<&str>) -> Response {
        let mut request = self.request(Method::POST, &format!("/v1/packs/{pack}/interest")).json(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.expect("request sent")
    }

    /// `GET /metrics` in the Prometheus text format, parsed.
    pub async fn scrape(&self) -> crate::metrics::Metrics {
        let response = self.get("/metrics").await;
        assert_eq!(response.status(), 200, "GET /metrics");
        crate::metrics::Metrics::parse(&response.text().await.expect("a body"))
    }

    /// Every event of one stream (empty when it does not exist).
    pub async fn stream_events(&self, stream: &str) -> Vec<RecordedEvent> {
        read_stream(self.store.as_ref(), stream).await
    }
}

/// Every event of one stream (empty when it does not exist).
pub async fn read_stream(store: &dyn EventStore, stream: &str) -> Vec<RecordedEvent> {
    match store.read_stream(stream, StreamPosition::Start, Direction::Forwards, 1_000_000).await {
        Ok(events) => events,
        Err(StoreError::StreamNotFound(_)) => Vec::new(),
        Err(e) => panic!("reading {stream}: {e}"),
    }
}

/// A valid Interested submission body.
pub fn interest_body(account: &str) -> Value {
    serde_json::json!({
        "account_id": account,
        "pack_name": "Senior Rust Engineer",
        "candidate": { "name": "Ada", "email": "ada@example.com", "phone": "+31 6 1234 5678" }
    })
}

/// Checks a problem+json answer: status, media type and code; returns the body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "status for {code}");
    let media_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(media_type, "application/problem+json", "media type for {code}");
    let body: Value = response.json().await.expect("a JSON problem");
    assert_eq!(body["code"], code, "problem: {body}");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string(), "{body}");
    body
}

/// Polls `check` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The token that is not one of the app's.
pub fn wrong_token() -> Token {
    Token::generate()
}
