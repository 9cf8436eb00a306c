//! The event log is forever: a data directory written by an earlier version is served by
//! this one with the same meaning. `tests/fixtures/data-2026-12-08/` was written by the
//! version of 2026-12-08 (every stored event type, both plans, rotated secrets, failing,
//! recovered, auto-disabled, disabled-on-410, deleted webhooks, test events, checkpoints)
//! with `expected.json` beside it: what that version said about its own data.
//!
//! A later version starts on a copy of it and must read every event, answer the same
//! statuses and statistics, and still sign with the secrets stored then. To write a new
//! fixture (when a version adds an event type or field), run the ignored test
//! `write_the_upgrade_fixture` with `PACKHOOKS_FIXTURE_OUT=<new folder>`, and keep the old
//! fixtures: each one is a version some data directory out there was written by.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use packhooks_tests::packhooks_bin;
use packhooks_tests::process::{run_cli, Launch, ServerProcess};
use packhooks_tests::receiver::{Reply, TestReceiver};
use packhooks_tests::signatures::verify_with_reference_library;
use serde_json::{json, Value};

const FIXTURE: &str = "data-2026-12-08";
const ACCOUNT: &str = "acc_fixture";
const PACK: &str = "pk_fixture";
/// Every file of a data directory that the fixture keeps (the API token file is left out:
/// the tests set `PACKHOOKS_API_TOKEN`).
const KEPT: &[&str] = &["events.sqlite", "read-models.sqlite"];
const TOKEN: &str = "upgrade-fixture-token-0123456789";
const WAIT: Duration = Duration::from_secs(30);

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// A copy of the fixture's files in a fresh directory (the fixture itself is never written).
fn copy_of(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    for file in KEPT {
        std::fs::copy(fixture_dir(name).join(file), dir.path().join(file))
            .unwrap_or_else(|e| panic!("copy {file} of fixture {name}: {e}"));
    }
    dir
}

fn expected(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_dir(name).join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("expected.json is JSON")
}

/// `packhooks audit export` of `data_dir`: every event as a JSON object, in log order.
fn export(data_dir: &Path) -> Vec<Value> {
    let output = run_cli(packhooks_bin!(), data_dir, &["audit", "export"]);
    assert!(output.status.success(), "audit export: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("an exported line is JSON ({e}): {line}")))
        .collect()
}

fn counts_by_type(events: &[Value]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for event in events {
        let event_type = event["event_type"].as_str().unwrap_or_else(|| panic!("an event_type: {event}"));
        *counts.entry(event_type.to_owned()).or_insert(0) += 1;
    }
    counts
}

async fn get(client: &reqwest::Client, server: &ServerProcess, path: &str) -> Value {
    let response = client.get(server.url(path)).bearer_auth(TOKEN).send().await.expect("request sent");
    assert_eq!(response.status().as_u16(), 200, "GET {path}");
    response.json().await.expect("a JSON answer")
}

async fn send(client: &reqwest::Client, server: &ServerProcess, method: &str, path: &str, body: Option<Value>) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = client.request(method.clone(), server.url(path)).bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let text = response.text().await.expect("a body");
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("a JSON answer")
    }
}

/// The account's webhooks as `id -> status`.
async fn statuses(client: &reqwest::Client, server: &ServerProcess) -> BTreeMap<String, String> {
    let list = get(client, server, &format!("/v1/accounts/{ACCOUNT}/webhooks")).await;
    let rows = list.get("data").unwrap_or(&list).as_array().unwrap_or_else(|| panic!("a list: {list}")).clone();
    rows.iter()
        .map(|w| (w["id"].as_str().unwrap().to_owned(), w["status"].as_str().unwrap().to_owned()))
        .collect()
}

/// Waits (bounded) until `audit stream <stream>` holds an event of `event_type`.
async fn wait_for_event(client: &reqwest::Client, server: &ServerProcess, stream: &str, event_type: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let history = get(client, server, &format!("/v1/audit/streams/{stream}?limit=1000")).await;
        let events = history.get("events").or(history.get("data")).and_then(Value::as_array).cloned();
        if events.unwrap_or_default().iter().any(|e| e["event_type"] == event_type) {
            return;
        }
        assert!(Instant::now() < deadline, "no {event_type} in {stream}: {history}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn interest(name: &str) -> Value {
    json!({"account_id": ACCOUNT, "pack_name": "Fixture Engineer",
           "candidate": {"name": name, "email": "ada@example.com", "phone": "+31 6 1234 5678",
                         "linkedin_url": "https://www.linkedin.com/in/ada", "message": "Hello"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_of_2026_12_08_is_read_with_the_same_meaning() {
    let expected = expected(FIXTURE);
    let dir = copy_of(FIXTURE);

    // Every event decodes, offline, and the log holds what that version wrote.
    let events = export(dir.path());
    let counts = counts_by_type(&events);
    let want: BTreeMap<String, u64> = serde_json::from_value(expected["events_by_type"].clone()).unwrap();
    assert_eq!(counts, want, "the events of the fixture, by type");
    for event_type in packhooks_domain::DomainEvent::TYPES {
        assert!(counts.contains_key(*event_type), "the fixture holds a {event_type}");
    }
    for event in &events {
        let data = serde_json::to_vec(&event["data"]).unwrap();
        let event_type = event["event_type"].as_str().unwrap();
        // Exports redact secrets; everything else is the stored body, and it decodes.
        if event["data"].get("secret").is_none() {
            packhooks_domain::DomainEvent::decode(event_type, &data)
                .unwrap_or_else(|e| panic!("{event_type} at {} decodes: {e:#}", event["position"]));
        }
    }

    // Served: the same statuses and statistics as the version that wrote it.
    let receiver = TestReceiver::start();
    receiver.otherwise(|_| Reply::ok());
    let server = Launch::new(packhooks_bin!(), dir.path()).token_and_private_targets(TOKEN).start();
    let client = reqwest::Client::new();
    server.wait_healthy(&client).await;
    let want: BTreeMap<String, String> = serde_json::from_value(expected["statuses"].clone()).unwrap();
    assert_eq!(statuses(&client, &server).await, want, "webhook statuses");
    // Webhooks stored before formats existed were sent the standard body, and still are.
    let list = get(&client, &server, &format!("/v1/accounts/{ACCOUNT}/webhooks")).await;
    let formats: Vec<Value> = list["data"].as_array().expect("a list").iter().map(|w| w["format"].clone()).collect();
    assert!(!formats.is_empty() && formats.iter().all(|f| f == "standard"), "formats: {formats:?}");
    let stats = get(&client, &server, &format!("/v1/packs/{PACK}/stats")).await;
    assert_eq!(stats, expected["pack_stats"], "pack statistics");

    // The stored (rotated) secret still signs: the healthy webhook, moved to this run's
    // receiver, gets a new submission signed with the secret the fixture recorded.
    let webhook = expected["signing_webhook"].as_str().unwrap();
    send(&client, &server, "PATCH", &format!("/v1/webhooks/{webhook}"), Some(json!({"url": receiver.url("/now")}))).await;
    send(&client, &server, "POST", &format!("/v1/packs/{PACK}/interest"), Some(interest("Grace"))).await;
    assert!(receiver.wait_for(Some("/now"), 1, WAIT).await, "the submission after the upgrade arrives");
    let got = &receiver.requests_to("/now")[0];
    assert_eq!(got.json()["data"]["candidate"]["name"], "Grace");
    verify_with_reference_library(&[json!({
        "secret": expected["secrets"][webhook],
        "body": String::from_utf8(got.body.to_vec()).unwrap(),
        "id": got.header("webhook-id").unwrap(),
        "timestamp": got.header("webhook-timestamp").unwrap(),
        "signature": got.header("webhook-signature").unwrap(),
    })]);
    server.terminate();
}

/// Writes a new fixture: run by hand with `PACKHOOKS_FIXTURE_OUT=tests/fixtures/data-<date>`
/// (an absolute path, or one relative to `tests/`), then add a test like the one above for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes a fixture: run by hand with PACKHOOKS_FIXTURE_OUT set"]
async fn write_the_upgrade_fixture() {
    let out = PathBuf::from(std::env::var("PACKHOOKS_FIXTURE_OUT").expect("PACKHOOKS_FIXTURE_OUT"));
    let out = if out.is_absolute() { out } else { Path::new(env!("CARGO_MANIFEST_DIR")).join(out) };
    assert!(!out.exists(), "{} exists: a fixture is never overwritten", out.display());
    let dir = tempfile::tempdir().unwrap();

    let receiver = TestReceiver::start();
    let flaky_fails = Arc::new(AtomicBool::new(true));
    let fails = Arc::clone(&flaky_fails);
    receiver.on("/ok", |_| Reply::ok());
    receiver.on("/fail", |_| Reply::status(500));
    receiver.on("/gone", |_| Reply::status(410));
    receiver.on("/flaky", move |_| if fails.load(Ordering::SeqCst) { Reply::status(500) } else { Reply::ok() });
    let server = Launch::new(packhooks_bin!(), dir.path())
        .token_and_private_targets(TOKEN)
        .env("PACKHOOKS_RETRY_DELAYS", "50ms,100ms")
        .env("PACKHOOKS_RETRY_JITTER", "0")
        .env("PACKHOOKS_AUTO_DISABLE_AFTER", "2s")
        .env("PACKHOOKS_CHECKPOINT_EVERY", "3")
        .start();
    let client = reqwest::Client::new();
    let c = &client;
    let s = &server;

    send(c, s, "PUT", "/v1/accounts/acc_starter/plan", Some(json!({"plan": "starter"}))).await;
    send(c, s, "PUT", &format!("/v1/accounts/{ACCOUNT}/plan"), Some(json!({"plan": "scale"}))).await;
    send(c, s, "PUT", &format!("/v1/accounts/{ACCOUNT}/plan"), Some(json!({"plan": "growth"}))).await;
    let create = |url: String, events: Value| async move {
        send(c, s, "POST", &format!("/v1/accounts/{ACCOUNT}/webhooks"),
             Some(json!({"url": url, "events": events, "description": "fixture"}))).await
    };
    let ok = create(receiver.url("/ok"), json!(["interested", "declined"])).await;
    let fail = create(receiver.url("/fail"), json!(["interested"])).await;
    let gone = create(receiver.url("/gone"), json!(["declined"])).await;
    let flaky = create(receiver.url("/flaky"), json!(["interested"])).await;
    let id = |w: &Value| w["id"].as_str().unwrap().to_owned();
    let (ok, fail, gone, flaky) = (id(&ok), id(&fail), id(&gone), id(&flaky));

    send(c, s, "PATCH", &format!("/v1/webhooks/{ok}"), Some(json!({"description": "CRM"}))).await;
    let rotated = send(c, s, "POST", &format!("/v1/webhooks/{ok}/rotate-secret"), None).await;
    let secret = rotated["secret"].as_str().expect("the rotated secret").to_owned();
    send(c, s, "POST", &format!("/v1/webhooks/{ok}/disable"), None).await;
    send(c, s, "POST", &format!("/v1/webhooks/{ok}/enable"), None).await;

    // Submissions: interested (every field), declined with a standard and a custom reason.
    let submit = |path: &'static str, body: Value, key: Option<&'static str>| async move {
        let mut request = c.post(s.url(&format!("/v1/packs/{PACK}/{path}"))).bearer_auth(TOKEN).json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 202, "{path}");
    };
    submit("interest", interest("Ada"), Some("fixture-ada")).await;
    submit("interest", json!({"account_id": ACCOUNT, "pack_name": "Fixture Engineer",
                               "candidate": {"name": "Linus"}}), None).await;
    submit("decline", json!({"account_id": ACCOUNT, "pack_name": "Fixture Engineer",
                              "candidate": {"name": "Ada", "email": "ada@example.com"},
                              "reason": {"code": "compensation"}, "feedback": "Below my range."}), None).await;
    submit("decline", json!({"account_id": ACCOUNT, "pack_name": "Fixture Engineer",
                              "candidate": {"name": "Barbara", "email": null},
                              "reason": {"custom": "Reason #2"}, "feedback": null}), None).await;
    // A submission to the starter account routes nowhere.
    submit("interest", json!({"account_id": "acc_starter", "pack_name": "Other", "candidate": {"name": "Ken"}}), None)
        .await;

    // The test event, answered with its outcome.
    send(c, s, "POST", &format!("/v1/webhooks/{ok}/test?wait=true"), Some(json!({"event": "declined"}))).await;

    // flaky: abandoned twice (failing), then a success recovers it.
    wait_for_event(c, s, &format!("deliveries-{flaky}"), "WebhookFlaggedFailing").await;
    flaky_fails.store(false, Ordering::SeqCst);
    submit("interest", interest("Margaret"), None).await;
    wait_for_event(c, s, &format!("deliveries-{flaky}"), "WebhookRecovered").await;
    // gone: disabled at once on 410; fail: disabled after failing for the period.
    wait_for_event(c, s, &format!("webhook-{gone}"), "WebhookDisabled").await;
    wait_for_event(c, s, &format!("webhook-{fail}"), "WebhookDisabled").await;
    // A deleted webhook (of another account: this one is at its limit of 4).
    send(c, s, "PUT", "/v1/accounts/acc_other/plan", Some(json!({"plan": "growth"}))).await;
    let body = json!({"url": receiver.url("/ok"), "events": ["declined"]});
    let deleted = id(&send(c, s, "POST", "/v1/accounts/acc_other/webhooks", Some(body)).await);
    send(c, s, "DELETE", &format!("/v1/webhooks/{deleted}"), None).await;
    wait_for_event(c, s, &format!("deliveries-{ok}"), "DeliveryCheckpoint").await;

    let statuses = statuses(c, s).await;
    let pack_stats = get(c, s, &format!("/v1/packs/{PACK}/stats")).await;
    server.terminate();

    let events = export(dir.path());
    std::fs::create_dir_all(&out).unwrap();
    for file in KEPT {
        std::fs::copy(dir.path().join(file), out.join(file)).unwrap();
    }
    let expected = json!({
        "written_by": "packhooks 0.1.0 of 2026-12-08",
        "events_by_type": counts_by_type(&events),
        "statuses": statuses,
        "pack_stats": pack_stats,
        "signing_webhook": ok,
        "secrets": {ok.clone(): secret},
    });
    std::fs::write(out.join("expected.json"), serde_json::to_string_pretty(&expected).unwrap()).unwrap();
    let missing: Vec<_> =
        packhooks_domain::DomainEvent::TYPES.iter().filter(|t| expected["events_by_type"].get(**t).is_none()).collect();
    assert!(missing.is_empty(), "the fixture lacks {missing:?}");
}
