//! kill -9 during a stream of concurrent submissions loses nothing and duplicates nothing.
//!
//! The real binary (`packhooks serve`, built in this package as `packhooks-under-test`) runs
//! as a child process on a temp data directory. 16 clients send submissions, each with its
//! own `Idempotency-Key`; the server is SIGKILLed mid-stream; it is started again on the same
//! directory and every request that got no answer is retried with its key; then it is stopped
//! with SIGTERM. The store file must then hold every submission that was answered 2xx, each
//! exactly once, and nothing else.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use packhooks_domain::DomainEvent;
use packhooks_store::sqlite::SqliteStore;
use packhooks_store::{AllPosition, Direction, EventStore};
use packhooks_tests::packhooks_bin;
use packhooks_tests::process::ServerProcess;
use serde_json::{json, Value};
use tokio::sync::Mutex;

const TOKEN: &str = "crash-test-token-0123456789";
const CLIENTS: usize = 16;
const PER_CLIENT: usize = 250;
/// The server is killed once this many submissions were acknowledged.
const KILL_AFTER: usize = 2500;
const PACKS: usize = 8;

fn start(data_dir: &Path) -> ServerProcess {
    ServerProcess::start(packhooks_bin!(), data_dir, &[("PACKHOOKS_API_TOKEN", TOKEN)])
}

/// What a request came to.
#[derive(Debug)]
enum Outcome {
    Accepted {
        submission_id: String,
    },
    /// No answer (the connection broke or was refused): unknown whether it was stored.
    Unanswered,
}

fn body(client: usize, i: usize) -> Value {
    json!({
        "account_id": format!("acc_{}", client % 4),
        "pack_name": "Crash test pack",
        "candidate": { "name": format!("Candidate {client}-{i}"), "email": "c@example.com" }
    })
}

fn pack(client: usize, i: usize) -> String {
    format!("pk_{}", (client + i) % PACKS)
}

async fn submit(http: &reqwest::Client, address: &str, client: usize, i: usize) -> Outcome {
    let sent = http
        .post(format!("{address}/v1/packs/{}/interest", pack(client, i)))
        .bearer_auth(TOKEN)
        .header("idempotency-key", format!("crash-{client}-{i}"))
        .json(&body(client, i))
        .timeout(Duration::from_secs(30))
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => match response.json::<Value>().await {
            Ok(answer) => Outcome::Accepted { submission_id: answer["submission_id"].as_str().unwrap().to_owned() },
            Err(_) => Outcome::Unanswered,
        },
        Ok(response) => panic!("a submission was refused: {}", response.status()),
        Err(_) => Outcome::Unanswered,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_concurrent_submissions_loses_and_duplicates_nothing() {
    let data_dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build().unwrap();
    let server = start(data_dir.path());
    server.wait_healthy(&http).await;

    // Phase 1: concurrent clients until the kill; each stops at its first unanswered request.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let outcomes = Arc::new(Mutex::new(HashMap::<(usize, usize), Outcome>::new()));
    let address = server.address.clone();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (http, address, acknowledged, outcomes) =
                (http.clone(), address.clone(), Arc::clone(&acknowledged), Arc::clone(&outcomes));
            tokio::spawn(async move {
                for i in 0..PER_CLIENT {
                    let outcome = submit(&http, &address, client, i).await;
                    let unanswered = matches!(outcome, Outcome::Unanswered);
                    if !unanswered {
                        acknowledged.fetch_add(1, Ordering::SeqCst);
                    }
                    outcomes.lock().await.insert((client, i), outcome);
                    if unanswered {
                        return;
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acknowledged.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(Instant::now() < deadline, "too slow to reach {KILL_AFTER} acknowledgements");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    for client in clients {
        client.await.unwrap();
    }
    let mut outcomes = Arc::try_unwrap(outcomes).unwrap().into_inner();
    let acked_before = outcomes.values().filter(|o| matches!(o, Outcome::Accepted { .. })).count();
    let unanswered: Vec<(usize, usize)> =
        outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Unanswered)).map(|(k, _)| *k).collect();
    assert!(acked_before >= KILL_AFTER);
    assert!(acked_before < CLIENTS * PER_CLIENT, "the kill came before the clients were done");

    // Phase 2: restart on the same data directory; retry every unanswered request with its key.
    let server = start(data_dir.path());
    server.wait_healthy(&http).await;
    for (client, i) in &unanswered {
        let outcome = submit(&http, &server.address, *client, *i).await;
        assert!(matches!(outcome, Outcome::Accepted { .. }), "a retry after the restart is answered");
        outcomes.insert((*client, *i), outcome);
    }
    server.terminate();

    // Phase 3: read the store file directly.
    let store = SqliteStore::open(data_dir.path().join("events.sqlite")).unwrap();
    let events = store.read_all(AllPosition::Start, Direction::Forwards, 1_000_000).await.unwrap();
    store.close().await.unwrap();
    let mut stored = BTreeMap::<String, usize>::new();
    for event in events.iter().filter(|e| e.stream.starts_with("pack-")) {
        match DomainEvent::decode(&event.event_type, &event.data).unwrap() {
            DomainEvent::CandidateInterested(e) => *stored.entry(e.submission_id.to_string()).or_default() += 1,
            other => panic!("unexpected event {other:?}"),
        }
    }
    let duplicated: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "stored more than once: {duplicated:?}");
    let answered: Vec<&String> = outcomes
        .values()
        .map(|o| match o {
            Outcome::Accepted { submission_id } => submission_id,
            Outcome::Unanswered => unreachable!("every request was answered in the end"),
        })
        .collect();
    for id in &answered {
        assert!(stored.contains_key(*id), "acknowledged submission {id} is missing after the crash");
    }
    assert_eq!(stored.len(), answered.len(), "nothing stored that no request asked for");
    eprintln!(
        "crash test: {acked_before} acknowledged before SIGKILL, {} unanswered and retried, {} stored exactly once",
        unanswered.len(),
        stored.len()
    );
}
