//! A delivery test environment: a real SQLite store in a temp dir, delivery started on it
//! inside the test's actix system, a `TestReceiver` on 127.0.0.1, and typed helpers that
//! append the events the API would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use packhooks_delivery::{Delivery, DeliveryConfig, DeliveryHandle};
use packhooks_domain::account::{AccountPlanChanged, Plan};
use packhooks_domain::clock::{Clock, SystemClock};
use packhooks_domain::delivery::RetryPolicy;
use packhooks_domain::submission::{
    CandidateDeclined, CandidateInterested, DeclineReason, DeclinedCandidate, InterestedCandidate,
};
use packhooks_domain::webhook::{
    EventType, Secret, TestEventRequested, WebhookCreated, WebhookDeleted, WebhookDisabled,
};
use packhooks_domain::{AccountId, DomainEvent, EventMetadata, PackId, SubmissionId, TestEventId, WebhookId};
use packhooks_store::sqlite::SqliteStore;
use packhooks_store::{Direction, EventData, EventStore, ExpectedRevision, Position, StoreError, StreamPosition};
use packhooks_tests::receiver::TestReceiver;
use uuid::Uuid;

/// Short delays so the schedule plays out in well under a second.
pub fn test_config() -> DeliveryConfig {
    DeliveryConfig {
        retry: RetryPolicy {
            max_attempts: 3,
            delays: vec![Duration::from_millis(50), Duration::from_millis(100)],
            jitter: 0.2,
            max_retry_after: Duration::from_secs(2),
        },
        attempt_timeout: Duration::from_secs(10),
        checkpoint_every: 20,
        allow_private_targets: true,
        ..DeliveryConfig::default()
    }
}

pub struct Env {
    /// Kept so the store's directory lives as long as the test.
    _dir: tempfile::TempDir,
    pub store: Arc<dyn EventStore>,
    pub receiver: TestReceiver,
    pub config: DeliveryConfig,
    pub delivery: Option<DeliveryHandle>,
}

pub struct Hook {
    pub id: WebhookId,
    pub secret: Secret,
    pub path: String,
}

impl Env {
    pub fn new(config: DeliveryConfig) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(dir.path().join("events.db")).expect("open store"));
        Env { _dir: dir, store, receiver: TestReceiver::start(), config, delivery: None }
    }

    pub fn start(&mut self) {
        self.start_on(self.store.clone(), Arc::new(SystemClock));
    }

    /// Starts delivery on `store` (a fault-injecting wrapper of `self.store`, say) and
    /// `clock`; the test's own helpers keep using `self.store`.
    #[allow(dead_code)] // not every test binary that includes the harness uses it
    pub fn start_on(&mut self, store: Arc<dyn EventStore>, clock: Arc<dyn Clock>) {
        self.delivery = Some(Delivery::start(store, self.config.clone(), clock));
    }

    pub async fn stop(&mut self) {
        if let Some(delivery) = self.delivery.take() {
            delivery.stop().await.expect("delivery stops");
        }
    }

    pub async fn append(&self, stream: &str, event: impl Into<DomainEvent>) -> Position {
        let event = event.into();
        let data = EventData::json(
            Uuid::new_v4(),
            event.event_type(),
            event.to_json(),
            serde_json::to_vec(&EventMetadata::correlated("test")).expect("metadata"),
        );
        self.store.append(stream, ExpectedRevision::Any, vec![data]).await.expect("append").position
    }

    pub async fn set_plan(&self, account: &str, plan: Plan) {
        let account_id = AccountId::parse(account).expect("account id");
        let stream = account_id.stream();
        self.append(&stream, AccountPlanChanged { account_id, plan, previous: None, recorded_at: Utc::now() }).await;
    }

    pub async fn create_webhook(&self, account: &str, path: &str, events: &[EventType]) -> (Hook, Position) {
        let id = WebhookId::from_uuid(Uuid::new_v4());
        let key: [u8; 32] = rand::random();
        let secret = Secret::from_bytes(&key);
        let created = WebhookCreated {
            webhook_id: id,
            account_id: AccountId::parse(account).expect("account id"),
            url: self.receiver.url(path),
            events: events.to_vec(),
            description: None,
            format: Default::default(),
            secret: secret.clone(),
            secret_version: 1,
            recorded_at: Utc::now(),
        };
        let position = self.append(&id.stream(), created).await;
        (Hook { id, secret, path: path.to_owned() }, position)
    }

    pub async fn disable(&self, id: WebhookId) -> Position {
        let e = WebhookDisabled {
            webhook_id: id,
            by: packhooks_domain::webhook::DisabledBy::Owner,
            reason: "test".into(),
            recorded_at: Utc::now(),
        };
        self.append(&id.stream(), e).await
    }

    pub async fn delete(&self, id: WebhookId) -> Position {
        self.append(&id.stream(), WebhookDeleted { webhook_id: id, recorded_at: Utc::now() }).await
    }

    pub async fn request_test(&self, hook: &Hook, account: &str) -> TestEventId {
        let test_id = TestEventId::from_uuid(Uuid::new_v4());
        let e = TestEventRequested {
            webhook_id: hook.id,
            account_id: AccountId::parse(account).expect("account id"),
            test_id,
            event: EventType::Interested,
            recorded_at: Utc::now(),
        };
        self.append(&hook.id.stream(), e).await;
        test_id
    }

    pub async fn interested(
        &self,
        account: &str,
        pack: &str,
        candidate: InterestedCandidate,
    ) -> (CandidateInterested, Position) {
        let e = CandidateInterested {
            submission_id: SubmissionId::from_uuid(Uuid::new_v4()),
            account_id: AccountId::parse(account).expect("account id"),
            pack_id: PackId::parse(pack).expect("pack id"),
            pack_name: format!("Pack {pack}"),
            candidate,
            submitted_at: Utc::now(),
        };
        let position = self.append(&e.pack_id.stream(), e.clone()).await;
        (e, position)
    }

    pub async fn declined(
        &self,
        account: &str,
        pack: &str,
        reason: DeclineReason,
        feedback: Option<&str>,
    ) -> (CandidateDeclined, Position) {
        let e = CandidateDeclined {
            submission_id: SubmissionId::from_uuid(Uuid::new_v4()),
            account_id: AccountId::parse(account).expect("account id"),
            pack_id: PackId::parse(pack).expect("pack id"),
            pack_name: format!("Pack {pack}"),
            candidate: DeclinedCandidate { name: Some("Ada".into()), email: None },
            reason,
            feedback: feedback.map(str::to_owned),
            submitted_at: Utc::now(),
        };
        let position = self.append(&e.pack_id.stream(), e.clone()).await;
        (e, position)
    }

    /// The events of a stream, decoded (empty when it does not exist).
    pub async fn stream(&self, stream: &str) -> Vec<DomainEvent> {
        match self.store.read_stream(stream, StreamPosition::Start, Direction::Forwards, 1_000_000).await {
            Ok(events) => {
                events.iter().map(|r| DomainEvent::decode(&r.event_type, &r.data).expect("decodes")).collect()
            }
            Err(StoreError::StreamNotFound(_)) => Vec::new(),
            Err(e) => panic!("read {stream}: {e}"),
        }
    }

    pub async fn deliveries(&self, id: WebhookId) -> Vec<DomainEvent> {
        self.stream(&id.deliveries_stream()).await
    }

    /// Polls a stream until `condition` holds of its events, up to `timeout`.
    pub async fn wait_stream(
        &self,
        stream: &str,
        timeout: Duration,
        condition: impl Fn(&[DomainEvent]) -> bool,
    ) -> Vec<DomainEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.stream(stream).await;
            if condition(&events) {
                return events;
            }
            assert!(Instant::now() < deadline, "timed out waiting on {stream}: {events:#?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
