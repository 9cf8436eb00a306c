//! SIGKILL of the real `packhooks serve` while its projection runner works through a backlog:
//! after restarts the read models hold every event exactly once, row for row what an offline
//! rebuild of the same log gives.
//!
//! The backlog (submissions and delivery outcomes, written straight into the store before
//! the server starts) names no account on a webhook plan, so nothing is delivered anywhere.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use packhooks_domain::delivery::{AttemptOutcome, DeliveryAttempted, DeliverySource, FailureCode};
use packhooks_domain::submission::{CandidateDeclined, CandidateInterested, DeclineReason, StandardReason};
use packhooks_domain::{AccountId, DeliveryId, DomainEvent, EventMetadata, PackId, SubmissionId, WebhookId};
use packhooks_projections::db::{self, SetState};
use packhooks_store::sqlite::SqliteStore;
use packhooks_store::{EventData, EventStore, ExpectedRevision};
use packhooks_tests::packhooks_bin;
use packhooks_tests::process::Launch;
use serde_json::Value;
use uuid::Uuid;

const TOKEN: &str = "projections-kill-token-0123456789";
const ROUNDS: u64 = 800;
const PER_ROUND: u64 = 50;

fn checkpoint(read_models: &Path, name: &str) -> u64 {
    if !read_models.exists() {
        return 0;
    }
    let conn = db::open(read_models).unwrap();
    db::set_in_state(&conn, name, SetState::Active).unwrap().and_then(|s| s.checkpoint).map(|c| c.commit).unwrap_or(0)
}

fn event(e: DomainEvent) -> EventData {
    EventData::json(Uuid::new_v4(), e.event_type(), e.to_json(), serde_json::to_vec(&EventMetadata::default()).unwrap())
}

/// Appends the backlog; returns (submissions, attempts, head).
async fn backlog(store: &dyn EventStore) -> (u64, u64, u64) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    let (mut submissions, mut attempts) = (0, 0);
    for round in 0..ROUNDS {
        let account = AccountId::parse(format!("acc_{}", round % 3)).unwrap();
        let pack = PackId::parse(format!("pk_{}", round % 7)).unwrap();
        let webhook = WebhookId::from_uuid(Uuid::from_u128(1 + (round % 5) as u128));
        let mut packs = Vec::new();
        let mut outcomes = Vec::new();
        for i in 0..PER_ROUND {
            let n = round * PER_ROUND + i;
            let at = t0 + chrono::Duration::minutes(n as i64);
            let submission = SubmissionId::from_uuid(Uuid::from_u128(n as u128 + 1_000_000));
            packs.push(event(if n.is_multiple_of(3) {
                CandidateDeclined {
                    submission_id: submission,
                    account_id: account.clone(),
                    pack_id: pack.clone(),
                    pack_name: "Backend".into(),
                    candidate: Default::default(),
                    reason: DeclineReason::Standard(StandardReason::ALL[(n % 7) as usize]),
                    feedback: None,
                    submitted_at: at,
                }
                .into()
            } else {
                CandidateInterested {
                    submission_id: submission,
                    account_id: account.clone(),
                    pack_id: pack.clone(),
                    pack_name: "Backend".into(),
                    candidate: Default::default(),
                    submitted_at: at,
                }
                .into()
            }));
            submissions += 1;
            let failed = n.is_multiple_of(10);
            outcomes.push(event(
                DeliveryAttempted {
                    webhook_id: webhook,
                    delivery_id: DeliveryId::for_message(webhook, submission.uuid()),
                    source: DeliverySource {
                        stream: pack.stream(),
                        revision: 0,
                        position: packhooks_domain::Position::at(0),
                        message_id: format!("msg_{}", submission.uuid().simple()),
                        test: false,
                    },
                    attempt: 1,
                    outcome: if failed {
                        AttemptOutcome::Failure { code: FailureCode::Timeout, status: None, detail: "timed out".into() }
                    } else {
                        AttemptOutcome::Success { status: 200 }
                    },
                    latency_ms: 5,
                    response_body: None,
                    next_attempt_at: None,
                    recorded_at: at,
                }
                .into(),
            ));
            attempts += 1;
        }
        store.append(&pack.stream(), ExpectedRevision::Any, packs).await.unwrap();
        store.append(&webhook.deliveries_stream(), ExpectedRevision::Any, outcomes).await.unwrap();
    }
    (submissions, attempts, store.head().await.unwrap().unwrap().commit)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_server_mid_projection_counts_nothing_twice_and_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let events_path = dir.path().join("events.sqlite");
    let read_models = dir.path().join("read-models.sqlite");
    let (submissions, attempts, head) = {
        let store = SqliteStore::open(&events_path).unwrap();
        let counts = backlog(&store).await;
        store.close().await.unwrap();
        counts
    };

    // Kill it twice while the log is being projected.
    for fraction in [0.25, 0.6] {
        let server = Launch::new(packhooks_bin!(), dir.path()).token_and_private_targets(TOKEN).start();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let at = checkpoint(&read_models, "delivery_log");
            if at as f64 >= fraction * head as f64 {
                assert!(at < head, "projection finished before the kill");
                break;
            }
            assert!(Instant::now() < deadline, "no projection progress");
            std::thread::sleep(Duration::from_millis(1));
        }
        server.kill();
    }

    // Restart and let it catch up, as the ops API reports it.
    let server = Launch::new(packhooks_bin!(), dir.path()).token_and_private_targets(TOKEN).start();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let response = client.get(format!("{}/v1/ops/projections", server.address)).bearer_auth(TOKEN).send().await;
        if let Ok(response) = response {
            if response.status() == 200 {
                let status: Value = response.json().await.unwrap();
                let projections = status["data"].as_array().unwrap();
                if projections.iter().all(|p| p["lag"]["events"] == 0 && p["lag"]["at_least"] == false) {
                    break;
                }
            }
        }
        assert!(Instant::now() < deadline, "the restarted server did not catch up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let totals: Vec<Value> = futures::future::join_all((0..3).map(|a| {
        let request = client.get(format!("{}/v1/accounts/acc_{a}/stats", server.address)).bearer_auth(TOKEN).send();
        async move { request.await.unwrap().json::<Value>().await.unwrap() }
    }))
    .await;
    server.kill();
    let counted: u64 = totals.iter().map(|t| t["interested"].as_u64().unwrap() + t["declined"].as_u64().unwrap()).sum();
    assert_eq!(counted, submissions, "every submission counted exactly once");

    // Row for row what an offline rebuild of the same log gives.
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(&events_path).unwrap());
    let fresh = dir.path().join("fresh.sqlite");
    packhooks_projections::rebuild::rebuild(store, &fresh, packhooks_projections::all(), Default::default(), None)
        .await
        .unwrap();
    for p in packhooks_projections::all() {
        let live = packhooks_projections::dump(&read_models, p.as_ref()).unwrap();
        assert_eq!(
            live,
            packhooks_projections::dump(&fresh, p.as_ref()).unwrap(),
            "{} differs from a rebuild",
            p.name()
        );
        if p.name() == "delivery_log" {
            assert_eq!(live["delivery_log"].len() as u64, attempts, "every attempt logged exactly once");
        }
    }
}
