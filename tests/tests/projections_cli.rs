//! `packhooks projections rebuild --all` from a second process while the server runs and
//! submissions keep arriving: the server's reads never fail, its runner follows the swap,
//! and the read models end equal, row for row, to an offline rebuild of the same log. Also
//! `projections status` and `audit export` against a live data directory.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use packhooks_store::sqlite::SqliteStore;
use packhooks_store::EventStore;
use packhooks_tests::packhooks_bin;
use packhooks_tests::process::{run_cli, Launch};
use packhooks_tests::receiver::{Reply, TestReceiver};
use serde_json::{json, Value};

const TOKEN: &str = "projections-cli-token-0123456789";


async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = client.request(method, url).bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request sent")
}

/// Attempts in the webhook's delivery log, all pages.
async fn logged_attempts(client: &reqwest::Client, base: &str, webhook: &str) -> u64 {
    let mut count = 0;
    let mut cursor = String::new();
    loop {
        let url = format!("{base}/v1/webhooks/{webhook}/attempts?limit=200{cursor}");
        let page: Value = call(client, reqwest::Method::GET, url, None).await.json().await.unwrap();
        count += page["data"].as_array().unwrap().len() as u64;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return count,
        }
    }
}

fn interest(n: u64) -> Value {
    json!({"account_id": "acc_1", "pack_name": "Backend", "candidate": {"name": format!("Candidate {n}")}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_rebuild_beside_a_running_server_swaps_in_place_and_matches_an_offline_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = TestReceiver::start();
    receiver.otherwise(|_| Reply::ok());
    let server = Launch::new(packhooks_bin!(), dir.path()).token_and_private_targets(TOKEN).start();
    let client = reqwest::Client::new();
    let base = server.address.clone();
    let put =
        call(&client, reqwest::Method::PUT, format!("{base}/v1/accounts/acc_1/plan"), Some(json!({"plan": "growth"})));
    assert_eq!(put.await.status(), 200);
    let created = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/v1/accounts/acc_1/webhooks"),
        Some(json!({"url": receiver.url("/hook"), "events": ["interested", "declined"]})),
    )
    .await;
    assert_eq!(created.status(), 201);
    let webhook = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    for n in 0..100 {
        let response =
            call(&client, reqwest::Method::POST, format!("{base}/v1/packs/pk_1/interest"), Some(interest(n))).await;
        assert_eq!(response.status(), 202);
    }

    // Submissions keep arriving and reads keep going while another process rebuilds.
    let stop = Arc::new(AtomicBool::new(false));
    let submitted = Arc::new(AtomicU64::new(100));
    let writer = {
        let (client, base, stop, submitted) = (client.clone(), base.clone(), stop.clone(), submitted.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = submitted.load(Ordering::Relaxed);
                let response =
                    call(&client, reqwest::Method::POST, format!("{base}/v1/packs/pk_1/interest"), Some(interest(n)))
                        .await;
                assert_eq!(response.status(), 202);
                submitted.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (client, base, stop, reads, webhook) =
            (client.clone(), base.clone(), stop.clone(), reads.clone(), webhook.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                for path in [
                    "/v1/packs/pk_1/stats".to_owned(),
                    format!("/v1/webhooks/{webhook}/attempts"),
                    "/v1/accounts/acc_1/webhooks".into(),
                ] {
                    let response = call(&client, reqwest::Method::GET, format!("{base}{path}"), None).await;
                    assert_eq!(response.status(), 200, "GET {path} during the rebuild");
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let data_dir = dir.path().to_owned();
    let rebuilt =
        tokio::task::spawn_blocking(move || run_cli(packhooks_bin!(), &data_dir, &["projections", "rebuild", "--all"])).await.unwrap();
    assert!(rebuilt.status.success(), "rebuild failed: {}", String::from_utf8_lossy(&rebuilt.stderr));
    let said = String::from_utf8_lossy(&rebuilt.stdout).into_owned();
    assert!(said.contains("rebuilt webhook_health, pack_stats, delivery_log"), "{said}");
    let seen = submitted.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(30);
    while submitted.load(Ordering::Relaxed) < seen + 20 {
        assert!(Instant::now() < deadline, "submissions stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("every submission accepted");
    reader.await.expect("every read answered during the rebuild");
    assert!(reads.load(Ordering::Relaxed) > 0);
    let total = submitted.load(Ordering::Relaxed);

    // Everything delivered and projected, by the server's own runner, on the new tables.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status: Value =
            call(&client, reqwest::Method::GET, format!("{base}/v1/ops/projections"), None).await.json().await.unwrap();
        let stats: Value = call(&client, reqwest::Method::GET, format!("{base}/v1/packs/pk_1/stats"), None)
            .await
            .json()
            .await
            .unwrap();
        let projections = status["data"].as_array().unwrap();
        let caught_up = projections.iter().all(|p| p["lag"]["events"] == 0 && p["active"]["generation"] == 2);
        // A receiver answers before the actor records the attempt: count the log instead.
        if caught_up && stats["interested"] == total && logged_attempts(&client, &base, &webhook).await == total {
            break;
        }
        assert!(Instant::now() < deadline, "not caught up: {status} {stats}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.terminate();

    // The CLI reads a stopped data directory too.
    let status = run_cli(packhooks_bin!(), dir.path(), &["projections", "status"]);
    assert!(status.status.success());
    let table = String::from_utf8_lossy(&status.stdout).into_owned();
    for name in ["webhook_health", "pack_stats", "delivery_log"] {
        assert!(table.lines().any(|l| l.starts_with(name)), "{name} in {table}");
    }
    let export = run_cli(packhooks_bin!(), dir.path(), &["audit", "export"]);
    assert!(export.status.success());
    let lines: Vec<Value> =
        String::from_utf8_lossy(&export.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(dir.path().join("events.sqlite")).unwrap());
    assert_eq!(lines.len() as u64, store.head().await.unwrap().unwrap().commit);
    assert!(lines.iter().any(|e| e["event_type"] == "WebhookCreated" && e["data"]["secret"] == "whsec_[redacted]"));

    let stream = run_cli(packhooks_bin!(), dir.path(), &["audit", "stream", &format!("webhook-{webhook}")]);
    assert!(stream.status.success());
    let table = String::from_utf8_lossy(&stream.stdout).into_owned();
    assert!(table.lines().nth(1).is_some_and(|l| l.contains("WebhookCreated")), "{table}");
    let json_lines = run_cli(packhooks_bin!(), dir.path(), &["audit", "stream", &format!("webhook-{webhook}"), "--json"]);
    let first: Value =
        serde_json::from_str(String::from_utf8_lossy(&json_lines.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["data"]["secret"], "whsec_[redacted]");
    let at = run_cli(packhooks_bin!(), dir.path(), &["audit", "webhook", &webhook, "--at", "2100-01-01T00:00:00Z"]);
    assert!(at.status.success());
    let said = String::from_utf8_lossy(&at.stdout).into_owned();
    assert!(
        said.contains("state: active") && said.contains(&receiver.url("/hook")) && said.contains("secret version: 1"),
        "{said}"
    );
    assert!(!said.contains("whsec_"), "no secret in {said}");

    // Row for row what a fresh offline rebuild of the same log gives.
    let fresh = dir.path().join("fresh.sqlite");
    packhooks_projections::rebuild::rebuild(store, &fresh, packhooks_projections::all(), Default::default(), None)
        .await
        .unwrap();
    let live = dir.path().join("read-models.sqlite");
    for p in packhooks_projections::all() {
        assert_eq!(
            packhooks_projections::dump(&live, p.as_ref()).unwrap(),
            packhooks_projections::dump(&fresh, p.as_ref()).unwrap(),
            "{} differs from an offline rebuild",
            p.name()
        );
    }
}
