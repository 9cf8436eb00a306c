//! Several instances on one store: two real `packhooks serve` processes share one event store
//! over EventStoreDB's gRPC protocol (the wire test server over a SQLite file, in this test
//! process), which is the multi-instance topology of production.
//!
//! - With `--shard 0/2` and `--shard 1/2`, each webhook is driven by exactly one of them
//!   (the one its id hashes to): while only shard 0 runs, shard 1's webhooks get nothing and
//!   have no `deliveries-` stream at all; once shard 1 starts, its backlog arrives; every
//!   (submission, webhook) pair arrives exactly once and is recorded once. A test event asked
//!   of the instance that does not own the webhook is delivered by the owner, and each
//!   instance's read models show the health of webhooks it does not drive.
//! - Two instances wrongly both claiming every webhook (`0/1` each): the exact expected
//!   revision on the `deliveries-` stream makes one of them stop that webhook's actor (it
//!   logs so), the stream never holds two outcomes of one attempt, and from then on only the
//!   survivor delivers, once per submission.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use packhooks_domain::{DomainEvent, WebhookId};
use packhooks_store::sqlite::SqliteStore;
use packhooks_store::EventStore;
use packhooks_store_esdb::wire_server::WireServer;
use packhooks_tests::app::read_stream;
use packhooks_tests::packhooks_bin;
use packhooks_tests::process::{Launch, ServerProcess};
use packhooks_tests::receiver::TestReceiver;
use serde_json::{json, Value};

const TOKEN: &str = "shards-test-token-0123456789abcdef";
const WAIT: Duration = Duration::from_secs(60);
/// What the losing actor logs when the exact-revision guard refuses its append.
const CONFLICT: &str = "another actor writes this webhook's deliveries stream; stopping this one";
/// What the losing instance's dispatcher logs when it next routes to that webhook.
const LOST: &str = "webhook actor stopped; this instance no longer delivers to it";

/// One `packhooks serve` child process on the shared store, logging the dispatcher's
/// messages too (the conflict tests read them).
fn start(name: &str, data_dir: &Path, store: &str, shard: &str) -> ServerProcess {
    Launch::new(packhooks_bin!(), data_dir)
        .name(name)
        .arg("--shard")
        .arg(shard)
        .env("PACKHOOKS_STORE", store)
        .token_and_private_targets(TOKEN)
        .env("PACKHOOKS_MAX_WEBHOOKS", "16")
        .env("PACKHOOKS_RETRY_DELAYS", "50ms,100ms")
        .env("PACKHOOKS_ATTEMPT_TIMEOUT", "5s")
        .log_filter("warn,packhooks::startup=info,packhooks_delivery::dispatcher=info")
        .start()
}

/// The wire test server over a fresh SQLite file, and that store for checking what was written.
struct SharedStore {
    _dir: tempfile::TempDir,
    sqlite: Arc<dyn EventStore>,
    wire: WireServer,
}

impl SharedStore {
    async fn start() -> SharedStore {
        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite: Arc<dyn EventStore> =
            Arc::new(SqliteStore::open(dir.path().join("shared.sqlite")).expect("the shared store opens"));
        let wire = WireServer::start(Arc::clone(&sqlite)).await.expect("the wire server starts");
        SharedStore { _dir: dir, sqlite, wire }
    }

    fn connection_string(&self) -> String {
        self.wire.connection_string()
    }

    /// The decoded events of a webhook's `deliveries-` stream (empty if it does not exist).
    async fn deliveries(&self, webhook: &str) -> Vec<DomainEvent> {
        read_stream(self.sqlite.as_ref(), &WebhookId::parse(webhook).expect("a webhook id").deliveries_stream())
            .await
            .iter()
            .map(|r| DomainEvent::decode(&r.event_type, &r.data).expect("a domain event"))
            .collect()
    }

    async fn stop(self) {
        self.wire.stop().await;
        self.sqlite.close().await.expect("the shared store closes");
    }
}

async fn send(request: reqwest::RequestBuilder) -> Value {
    let response = request.bearer_auth(TOKEN).send().await.expect("request sent");
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "refused: {status} {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

async fn metrics(http: &reqwest::Client, at: &ServerProcess) -> String {
    let response = http.get(at.url("/metrics")).bearer_auth(TOKEN).send().await.expect("request sent");
    assert!(response.status().is_success(), "GET /metrics: {}", response.status());
    response.text().await.expect("a text body")
}

/// Creates a webhook for `interested` on `url`; returns its id.
async fn create_webhook(http: &reqwest::Client, at: &ServerProcess, account: &str, url: &str) -> String {
    let created = send(
        http.post(at.url(&format!("/v1/accounts/{account}/webhooks")))
            .json(&json!({"url": url, "events": ["interested"]})),
    )
    .await;
    created["id"].as_str().expect("a webhook id").to_owned()
}

/// Submits an Interested form; returns the message id its deliveries carry (`webhook-id`).
async fn submit(http: &reqwest::Client, at: &ServerProcess, account: &str, n: usize) -> String {
    let body = json!({"account_id": account, "pack_name": "Shard pack",
                      "candidate": {"name": format!("Candidate {n}"), "email": "c@example.com"}});
    let answer = send(http.post(at.url("/v1/packs/pk_shards/interest")).json(&body)).await;
    let submission = answer["submission_id"].as_str().expect("a submission id");
    format!("msg_{}", submission.trim_start_matches("sub_"))
}

/// The shard that owns a webhook, computed here from the documented rule (the id's UUID as
/// a big-endian u128, modulo the count), not by the code under test.
fn owner(webhook: &str, count: u32) -> u32 {
    let id = WebhookId::parse(webhook).expect("a webhook id");
    (id.uuid().as_u128() % u128::from(count)) as u32
}

/// (webhook path, message id) → how many POSTs arrived.
fn arrivals(receiver: &TestReceiver) -> HashMap<(String, String), usize> {
    let mut counts = HashMap::new();
    for r in receiver.requests() {
        *counts.entry((r.path.clone(), r.webhook_id().expect("webhook-id").to_owned())).or_insert(0) += 1;
    }
    counts
}

/// (delivery id, attempt) → how many `DeliveryAttempted` the stream holds for it.
fn attempts(events: &[DomainEvent]) -> BTreeMap<(String, u32), usize> {
    let mut counts = BTreeMap::new();
    for event in events {
        if let DomainEvent::DeliveryAttempted(a) = event {
            *counts.entry((a.delivery_id.to_string(), a.attempt)).or_insert(0) += 1;
        }
    }
    counts
}

/// Polls until `check` holds, up to `WAIT`.
async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_zero_and_one_of_two_each_deliver_only_their_own_webhooks_exactly_once() {
    let store = SharedStore::start().await;
    let receiver = TestReceiver::start();
    let http = reqwest::Client::new();
    let (dir_a, dir_b) = (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let a = start("shard 0/2", dir_a.path(), &store.connection_string(), "0/2");

    // Webhooks until each shard owns at least two (the ids are random).
    a.set_plan(&http, TOKEN, "acc_shards", "growth").await;
    let mut hooks: Vec<(String, String, u32)> = Vec::new(); // (id, path, owner)
    while [0, 1].iter().any(|s| hooks.iter().filter(|h| h.2 == *s).count() < 2) {
        assert!(hooks.len() < 16, "16 random webhook ids, and one shard owns fewer than two");
        let path = format!("/hook{}", hooks.len());
        let id = create_webhook(&http, &a, "acc_shards", &receiver.url(&path)).await;
        let shard = owner(&id, 2);
        hooks.push((id, path, shard));
    }
    let on = |shard: u32| hooks.iter().filter(move |h| h.2 == shard);

    // Only shard 0 runs: its webhooks get every submission, shard 1's get nothing.
    let mut messages = Vec::new();
    for n in 0..5 {
        messages.push(submit(&http, &a, "acc_shards", n).await);
    }
    let shard0_pairs: HashSet<(String, String)> =
        on(0).flat_map(|h| messages.iter().map(move |m| (h.1.clone(), m.clone()))).collect();
    wait_until("shard 0's deliveries", || {
        let got = arrivals(&receiver);
        shard0_pairs.iter().all(|p| got.contains_key(p))
    })
    .await;
    // Their outcomes are appended just after the POSTs, so they are waited for.
    let deadline = Instant::now() + WAIT;
    for (id, _, _) in on(0) {
        while attempts(&store.deliveries(id).await).len() < messages.len() {
            assert!(Instant::now() < deadline, "the outcomes on {id} were never recorded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Shard 0 delivered and recorded the whole log's submissions to its webhooks, so its
    // dispatcher has routed all of them; none went to shard 1's webhooks, and no actor of
    // this instance wrote (not even a checkpoint) to their streams.
    for (id, path, _) in on(1) {
        assert!(receiver.requests_to(path).is_empty(), "shard 0 delivered to {id}, which shard 1 owns");
        assert!(store.deliveries(id).await.is_empty(), "shard 0 wrote to deliveries-{id}");
    }

    // Shard 1 starts: its backlog arrives, and new submissions (to either API) go to their owners.
    let b = start("shard 1/2", dir_b.path(), &store.connection_string(), "1/2");
    for n in 5..10 {
        let via = if n % 2 == 0 { &a } else { &b };
        messages.push(submit(&http, via, "acc_shards", n).await);
    }
    let expected: HashSet<(String, String)> =
        hooks.iter().flat_map(|h| messages.iter().map(move |m| (h.1.clone(), m.clone()))).collect();
    wait_until("every pair", || {
        let got = arrivals(&receiver);
        expected.iter().all(|p| got.contains_key(p))
    })
    .await;
    // A test event asked of the instance that does not own the webhook goes through the log
    // to the owner, and `?wait=true` still answers with the outcome.
    let mut tests: Vec<(String, String)> = Vec::new();
    for shard in [0, 1] {
        let (id, path, _) = on(shard).next().expect("each shard owns a webhook");
        let not_owner = if shard == 0 { &b } else { &a };
        let test = http.post(not_owner.url(&format!("/v1/webhooks/{id}/test?wait=true")));
        let answer = send(test.json(&json!({"event": "interested"}))).await;
        assert_eq!(answer["status"], "delivered", "test event to {id} through {}: {answer}", not_owner.name);
        tests.push((path.clone(), answer["message_id"].as_str().expect("a message id").to_owned()));
    }
    // The projections run on every instance: each shows the health of webhooks it does not drive.
    let deadline = Instant::now() + WAIT;
    for (id, _, shard) in &hooks {
        let not_owner = if *shard == 0 { &b } else { &a };
        loop {
            let view = send(http.get(not_owner.url(&format!("/v1/webhooks/{id}")))).await;
            if view["last_delivery"]["result"] == "success" && view["status"] == "healthy" {
                break;
            }
            assert!(Instant::now() < deadline, "{} never showed {id}'s last delivery: {view}", not_owner.name);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Each instance drove only its own share: neither ever lost an append to the other.
    for instance in [&a, &b] {
        assert!(instance.logged(CONFLICT).is_empty(), "{} met another writer", instance.name);
    }
    a.terminate();
    b.terminate();

    let got = arrivals(&receiver);
    let extra: Vec<_> = got.keys().filter(|k| !expected.contains(*k) && !tests.contains(k)).collect();
    assert!(extra.is_empty(), "pairs nobody routed: {extra:?}");
    let repeated: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "pairs delivered more than once: {repeated:?}");
    for (id, path, _) in &hooks {
        let attempts = attempts(&store.deliveries(id).await);
        let owed = messages.len() + tests.iter().filter(|t| &t.0 == path).count();
        assert_eq!(attempts.len(), owed, "one outcome per submission and test event on {id}");
        assert!(attempts.values().all(|n| *n == 1), "an attempt recorded twice on {id}: {attempts:?}");
    }
    store.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_claiming_the_same_webhook_end_with_one_actor_stopped() {
    let store = SharedStore::start().await;
    let receiver = TestReceiver::start();
    let http = reqwest::Client::new();
    let (dir_a, dir_b) = (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let a = start("first 0/1", dir_a.path(), &store.connection_string(), "0/1");
    let b = start("second 0/1", dir_b.path(), &store.connection_string(), "0/1");

    a.set_plan(&http, TOKEN, "acc_both", "growth").await;
    let webhook = create_webhook(&http, &a, "acc_both", &receiver.url("/both")).await;

    // Both route every submission to their own actor for the webhook; both POST, and both
    // append the outcome with the revision they know. One append loses, and that actor stops.
    let mut before = Vec::new();
    let deadline = Instant::now() + WAIT;
    while a.logged(CONFLICT).is_empty() && b.logged(CONFLICT).is_empty() {
        assert!(before.len() < 50, "50 submissions and no conflict between the two actors");
        assert!(Instant::now() < deadline, "no conflict between the two actors in time");
        let via = if before.len() % 2 == 0 { &a } else { &b };
        let message = submit(&http, via, "acc_both", before.len()).await;
        wait_until("the submission to arrive", || receiver.requests().iter().any(|r| r.webhook_id() == Some(&message)))
            .await;
        before.push(message);
    }
    let (loser, survivor) = if a.logged(CONFLICT).is_empty() { (&b, &a) } else { (&a, &b) };
    assert!(loser.logged(CONFLICT)[0].contains(&webhook), "the conflict names the webhook");

    // From now on only the survivor delivers: each new submission arrives exactly once, and
    // the loser's dispatcher says it no longer delivers to that webhook.
    let mut after = Vec::new();
    for n in 0..5 {
        let via = if n % 2 == 0 { loser } else { survivor };
        after.push(submit(&http, via, "acc_both", 100 + n).await);
    }
    wait_until("every submission after the conflict", || {
        let got = arrivals(&receiver);
        after.iter().all(|m| got.contains_key(&("/both".to_owned(), m.clone())))
    })
    .await;
    wait_until("the loser to say it no longer delivers", || !loser.logged(LOST).is_empty()).await;
    assert!(survivor.logged(CONFLICT).is_empty(), "only one of the two actors stops");
    assert!(survivor.logged(LOST).is_empty());
    // Operators see it on /metrics, not only in the log.
    let stopped = "packhooks_webhook_actors_stopped_on_conflict_total";
    assert!(metrics(&http, loser).await.contains(&format!("\n{stopped} 1\n")), "the loser counts its stopped actor");
    assert!(metrics(&http, survivor).await.contains(&format!("\n{stopped} 0\n")), "the survivor stopped none");
    let (loser_name, survivor_name) = (loser.name.clone(), survivor.name.clone());
    a.terminate();
    b.terminate();

    let got = arrivals(&receiver);
    for m in &before {
        assert!(got.get(&("/both".to_owned(), m.clone())).is_some_and(|n| *n >= 1), "{m} never arrived");
    }
    for m in &after {
        assert_eq!(got[&("/both".to_owned(), m.clone())], 1, "{m} after the conflict arrived more than once");
    }
    // The guard kept the stream single-writer: never two outcomes of one attempt, and every
    // submission's delivery recorded.
    let events = store.deliveries(&webhook).await;
    let attempts = attempts(&events);
    let doubled: Vec<_> = attempts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "two outcomes for one attempt: {doubled:?}");
    assert_eq!(attempts.len(), before.len() + after.len(), "one recorded delivery per submission");
    eprintln!(
        "shards test: {loser_name} stopped its actor after {} submissions; {survivor_name} delivered the rest",
        before.len()
    );
    store.stop().await;
}
