//! Shared helpers of the projections tests: domain events built by hand (standing in for
//! the API and the delivery actors), appended to a real SQLite store in a temporary
//! directory, and a deterministic mixed workload.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use packhooks_domain::delivery::{
    AttemptOutcome, DeliveryAbandoned, DeliveryAttempted, DeliverySource, FailureCode, WebhookFlaggedFailing,
    WebhookRecovered,
};
use packhooks_domain::submission::{
    CandidateDeclined, CandidateInterested, DeclineReason, DeclinedCandidate, InterestedCandidate, StandardReason,
};
use packhooks_domain::webhook::{
    DisabledBy, EventType, Secret, TestEventRequested, WebhookCreated, WebhookDisabled, WebhookEnabled,
};
use packhooks_domain::{
    AccountId, DeliveryId, DomainEvent, EventMetadata, PackId, SubmissionId, TestEventId, WebhookId,
};
use packhooks_projections::{Projection, ProjectionBatch, Projections, RunnerOptions, Tables};
use packhooks_store::sqlite::SqliteStore;
use packhooks_store::{EventData, EventStore, ExpectedRevision, Position, SubscriptionFilter};
use uuid::Uuid;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap()
}

pub fn webhook(n: u128) -> WebhookId {
    WebhookId::from_uuid(Uuid::from_u128(0xaa00 + n))
}

pub fn account(n: u32) -> AccountId {
    AccountId::parse(format!("acc_{n}")).unwrap()
}

pub fn pack(n: u32) -> PackId {
    PackId::parse(format!("pk_{n}")).unwrap()
}

pub fn event_data(event: &DomainEvent) -> EventData {
    EventData::json(
        Uuid::new_v4(),
        event.event_type(),
        event.to_json(),
        serde_json::to_vec(&EventMetadata::default()).unwrap(),
    )
}

pub async fn append(store: &dyn EventStore, stream: &str, events: &[DomainEvent]) -> Position {
    store.append(stream, ExpectedRevision::Any, events.iter().map(event_data).collect()).await.expect("append").position
}

pub fn created(wh: WebhookId, acc: &AccountId, at: DateTime<Utc>) -> DomainEvent {
    WebhookCreated {
        webhook_id: wh,
        account_id: acc.clone(),
        url: "https://example.com/hook".into(),
        events: vec![EventType::Interested, EventType::Declined],
        description: None,
        format: Default::default(),
        secret: Secret::new("whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0".into()),
        secret_version: 1,
        recorded_at: at,
    }
    .into()
}

pub fn interested(p: &PackId, acc: &AccountId, sub: u128, at: DateTime<Utc>) -> DomainEvent {
    CandidateInterested {
        submission_id: SubmissionId::from_uuid(Uuid::from_u128(sub)),
        account_id: acc.clone(),
        pack_id: p.clone(),
        pack_name: format!("Pack {p}"),
        candidate: InterestedCandidate { name: Some("Ada".into()), ..Default::default() },
        submitted_at: at,
    }
    .into()
}

pub fn declined(p: &PackId, acc: &AccountId, sub: u128, reason: DeclineReason, at: DateTime<Utc>) -> DomainEvent {
    CandidateDeclined {
        submission_id: SubmissionId::from_uuid(Uuid::from_u128(sub)),
        account_id: acc.clone(),
        pack_id: p.clone(),
        pack_name: format!("Pack {p}"),
        candidate: DeclinedCandidate::default(),
        reason,
        feedback: None,
        submitted_at: at,
    }
    .into()
}

pub fn source(stream: &str, message: u128, test: bool) -> DeliverySource {
    DeliverySource {
        stream: stream.into(),
        revision: 0,
        position: packhooks_domain::Position::at(1),
        message_id: format!("msg_{message:032x}"),
        test,
    }
}

pub fn delivery(wh: WebhookId, message: u128) -> DeliveryId {
    DeliveryId::for_message(wh, Uuid::from_u128(message))
}

/// One attempt: `status` 2xx is a success, anything else a `status` failure, 0 a timeout.
pub fn attempted(
    wh: WebhookId,
    message: u128,
    attempt: u32,
    status: u16,
    test: bool,
    at: DateTime<Utc>,
) -> DomainEvent {
    let outcome = match status {
        200..=299 => AttemptOutcome::Success { status },
        0 => AttemptOutcome::Failure { code: FailureCode::Timeout, status: None, detail: "timed out".into() },
        s => AttemptOutcome::Failure { code: FailureCode::Status, status: Some(s), detail: format!("answered {s}") },
    };
    let last = outcome.is_success() || attempt >= 3 || test;
    DeliveryAttempted {
        webhook_id: wh,
        delivery_id: delivery(wh, message),
        source: source(if test { "webhook-x" } else { "pack-x" }, message, test),
        attempt,
        outcome,
        latency_ms: 12,
        response_body: Some("ok".into()),
        next_attempt_at: (!last).then(|| at + chrono::Duration::minutes(1)),
        recorded_at: at,
    }
    .into()
}

pub fn abandoned(wh: WebhookId, message: u128, at: DateTime<Utc>) -> DomainEvent {
    DeliveryAbandoned {
        webhook_id: wh,
        delivery_id: delivery(wh, message),
        source: source("pack-x", message, false),
        attempts: 3,
        recorded_at: at,
    }
    .into()
}

pub fn flagged(wh: WebhookId, message: u128, at: DateTime<Utc>) -> DomainEvent {
    WebhookFlaggedFailing { webhook_id: wh, delivery_id: delivery(wh, message), failing_since: at, recorded_at: at }
        .into()
}

pub fn recovered(wh: WebhookId, message: u128, at: DateTime<Utc>) -> DomainEvent {
    WebhookRecovered { webhook_id: wh, delivery_id: delivery(wh, message), recorded_at: at }.into()
}

pub fn test_requested(wh: WebhookId, acc: &AccountId, n: u128, at: DateTime<Utc>) -> DomainEvent {
    TestEventRequested {
        webhook_id: wh,
        account_id: acc.clone(),
        test_id: TestEventId::from_uuid(Uuid::from_u128(n)),
        event: EventType::Interested,
        recorded_at: at,
    }
    .into()
}

pub fn disabled(wh: WebhookId, at: DateTime<Utc>) -> DomainEvent {
    WebhookDisabled { webhook_id: wh, by: DisabledBy::Owner, reason: "maintenance".into(), recorded_at: at }.into()
}

pub fn enabled(wh: WebhookId, at: DateTime<Utc>) -> DomainEvent {
    WebhookEnabled { webhook_id: wh, recorded_at: at }.into()
}

/// A small deterministic generator (no dependency, same sequence every run).
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Lcg(seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407))
    }
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// The mixed workload: four webhooks of two accounts (one always healthy, one failing for a
/// while then recovering, one receiving test events that fail, one disabled and enabled by
/// its owner), and interested/declined submissions (standard and custom reasons) over
/// several days. `rounds` rounds, starting at round `from` (so two calls make one workload).
pub async fn workload(store: &dyn EventStore, from: u64, rounds: u64) {
    let accounts = [account(1), account(2)];
    let hooks = [webhook(1), webhook(2), webhook(3), webhook(4)];
    if from == 0 {
        for (i, wh) in hooks.iter().enumerate() {
            append(store, &wh.stream(), &[created(*wh, &accounts[i % 2], t0())]).await;
        }
    }
    let mut rng = Lcg::new(from);
    for round in from..from + rounds {
        let at = t0() + chrono::Duration::minutes(37 * round as i64);
        let msg = 1_000_000 + round as u128;
        let acc = &accounts[(round % 2) as usize];
        let p = pack((rng.next(3) + 1) as u32 + 10 * (round % 2) as u32);
        let event = match rng.next(4) {
            0 => declined(&p, acc, msg, DeclineReason::Standard(StandardReason::ALL[rng.next(7) as usize]), at),
            1 => declined(&p, acc, msg, DeclineReason::Custom(format!("Reason #{}", rng.next(3))), at),
            _ => interested(&p, acc, msg, at),
        };
        append(store, &p.stream(), &[event]).await;
        // webhook 1: always succeeds.
        append(store, &hooks[0].deliveries_stream(), &[attempted(hooks[0], msg, 1, 200, false, at)]).await;
        // webhook 2: fails three times (abandoned, flagged failing) in rounds 5..9, then recovers.
        let wh = hooks[1];
        if (5..9).contains(&(round % 20)) {
            let mut events = vec![
                attempted(wh, msg, 1, 500, false, at),
                attempted(wh, msg, 2, 0, false, at + chrono::Duration::minutes(1)),
                attempted(wh, msg, 3, 503, false, at + chrono::Duration::minutes(11)),
                abandoned(wh, msg, at + chrono::Duration::minutes(11)),
            ];
            if round % 20 == 5 {
                events.push(flagged(wh, msg, at + chrono::Duration::minutes(11)));
            }
            append(store, &wh.deliveries_stream(), &events).await;
        } else {
            let mut events = vec![attempted(wh, msg, 1, 204, false, at)];
            if round % 20 == 9 && round >= 9 {
                events.push(recovered(wh, msg, at));
            }
            append(store, &wh.deliveries_stream(), &events).await;
        }
        // webhook 3: a failing test event every third round; must not change its health.
        let wh = hooks[2];
        if round % 3 == 0 {
            append(store, &wh.stream(), &[test_requested(wh, &accounts[0], msg, at)]).await;
            append(store, &wh.deliveries_stream(), &[attempted(wh, msg, 1, 500, true, at)]).await;
        }
        // webhook 4: disabled by its owner in some rounds, enabled again later.
        let wh = hooks[3];
        match round % 10 {
            3 => {
                append(store, &wh.stream(), &[disabled(wh, at)]).await;
            }
            6 => {
                append(store, &wh.stream(), &[enabled(wh, at)]).await;
            }
            4 | 5 => {}
            _ => {
                append(store, &wh.deliveries_stream(), &[attempted(wh, msg, 1, 200, false, at)]).await;
            }
        }
    }
}

/// A data directory with a store and read models.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub store: Arc<dyn EventStore>,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(dir.path().join("events.sqlite")).unwrap());
        Env { dir, store }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("read-models.sqlite")
    }

    pub fn projections(&self) -> Arc<Projections> {
        self.projections_at(&self.db())
    }

    pub fn projections_at(&self, db: &Path) -> Arc<Projections> {
        let options = RunnerOptions {
            swap_poll: Duration::from_millis(20),
            retry_delay: Duration::from_millis(50),
            ..RunnerOptions::default()
        };
        Projections::new(self.store.clone(), db, options).unwrap()
    }
}

/// Waits (bounded) until every projection's lag is zero.
pub async fn wait_caught_up(projections: &Projections) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = projections.status().await.unwrap();
        if status.iter().all(|s| s.lag.as_ref().is_some_and(|l| l.events == 0 && !l.at_least)) {
            return;
        }
        assert!(Instant::now() < deadline, "projections did not catch up: {status:#?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every projection's active rows.
pub fn dump_all(db: &Path) -> Vec<(String, std::collections::BTreeMap<String, Vec<String>>)> {
    packhooks_projections::all()
        .iter()
        .map(|p| (p.name().to_owned(), packhooks_projections::dump(db, p.as_ref()).unwrap()))
        .collect()
}

/// A projection whose version the test chooses, to stand for a code change.
pub struct Versioned(pub Arc<dyn Projection>, pub u32);

impl Projection for Versioned {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn version(&self) -> u32 {
        self.1
    }
    fn tables(&self) -> &'static [&'static str] {
        self.0.tables()
    }
    fn schema(&self, tables: &Tables) -> String {
        self.0.schema(tables)
    }
    fn filter(&self) -> SubscriptionFilter {
        self.0.filter()
    }
    fn batch(&self, tables: &Tables) -> Box<dyn ProjectionBatch> {
        self.0.batch(tables)
    }
}
