//! The command path against the real SQLite store: conflicts are retried, keyed commands are
//! replayed or refused, and the metadata says who issued a command.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use packhooks_command::{run, Command, CommandError, Key, CONFLICT_RETRIES};
use packhooks_domain::account::{self, AccountPlanChanged, AccountState, Plan, SetPlan};
use packhooks_domain::{AccountId, CommandMetadata, DomainEvent, Issuer};
use packhooks_store::sqlite::SqliteStore;
use packhooks_store::{
    AllPosition, AppendResult, Direction, EventData, EventStore, ExpectedRevision, Position, RecordedEvent, StoreError,
    StreamPosition, SubscribeFrom, Subscription, SubscriptionFilter,
};

const STREAM: &str = "account-acc_7";

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
}

fn account() -> AccountId {
    AccountId::parse("acc_7").unwrap()
}

fn set_plan(plan: Plan, now: i64) -> SetPlan {
    SetPlan { account_id: account(), plan, now: t(now) }
}

/// Decides a plan change on the account's events, counting the decisions.
fn decide(
    plan: Plan,
    decisions: &AtomicUsize,
) -> impl FnMut(&[DomainEvent]) -> Result<Vec<DomainEvent>, CommandError> + '_ {
    move |events| {
        decisions.fetch_add(1, Ordering::SeqCst);
        let state = events.iter().fold(AccountState::default(), account::evolve);
        Ok(account::decide(&state, set_plan(plan, 1))?)
    }
}

fn foreign_event(plan: Plan) -> EventData {
    let event: DomainEvent =
        AccountPlanChanged { account_id: account(), plan, previous: None, recorded_at: t(0) }.into();
    EventData::json(uuid::Uuid::now_v7(), event.event_type(), event.to_json(), b"{}".to_vec())
}

/// The real store, with a concurrent writer that slips an event into the stream before each
/// of the first `races` appends.
struct Racing {
    inner: SqliteStore,
    races: AtomicUsize,
}

#[async_trait]
impl EventStore for Racing {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        if self.races.load(Ordering::SeqCst) > 0 {
            self.races.fetch_sub(1, Ordering::SeqCst);
            self.inner.append(stream, ExpectedRevision::Any, vec![foreign_event(Plan::Scale)]).await?;
        }
        self.inner.append(stream, expected, events).await
    }
    async fn read_stream(
        &self,
        stream: &str,
        from: StreamPosition,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream, from, direction, max_count).await
    }
    async fn read_all(
        &self,
        from: AllPosition,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(from, direction, max_count).await
    }
    async fn subscribe_to_all(
        &self,
        from: SubscribeFrom,
        filter: Option<SubscriptionFilter>,
    ) -> Result<Subscription, StoreError> {
        self.inner.subscribe_to_all(from, filter).await
    }
    async fn delete_stream(&self, stream: &str, expected: ExpectedRevision) -> Result<Position, StoreError> {
        self.inner.delete_stream(stream, expected).await
    }
    async fn tombstone_stream(&self, stream: &str, expected: ExpectedRevision) -> Result<Position, StoreError> {
        self.inner.tombstone_stream(stream, expected).await
    }
    async fn head(&self) -> Result<Option<Position>, StoreError> {
        self.inner.head().await
    }
    async fn close(&self) -> Result<(), StoreError> {
        self.inner.close().await
    }
}

fn racing(dir: &tempfile::TempDir, races: usize) -> Arc<Racing> {
    let inner = SqliteStore::open(dir.path().join("events.sqlite")).unwrap();
    Arc::new(Racing { inner, races: AtomicUsize::new(races) })
}

async fn stored(store: &dyn EventStore) -> Vec<RecordedEvent> {
    store.read_stream(STREAM, StreamPosition::Start, Direction::Forwards, 100).await.unwrap_or_default()
}

#[tokio::test]
async fn a_command_that_meets_a_concurrent_writer_is_decided_again_on_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let store = racing(&dir, 2);
    let decisions = AtomicUsize::new(0);
    let ran = run(store.as_ref(), &Command::on(STREAM), decide(Plan::Growth, &decisions)).await.unwrap();
    assert_eq!(decisions.load(Ordering::SeqCst), 3, "decided once per read");
    assert_eq!(ran.before.len(), 2, "the last decision saw both concurrent events");
    let types: Vec<_> = stored(store.as_ref()).await.into_iter().map(|r| r.event_type).collect();
    assert_eq!(types, ["AccountPlanChanged"; 3]);
    let DomainEvent::AccountPlanChanged(changed) = &ran.own[0] else { panic!("{:?}", ran.own) };
    assert_eq!(changed.previous, Some(Plan::Scale), "decided on the concurrent writer's plan");
}

#[tokio::test]
async fn a_stream_that_keeps_changing_is_a_conflict_after_the_retries() {
    let dir = tempfile::tempdir().unwrap();
    let store = racing(&dir, usize::MAX);
    let decisions = AtomicUsize::new(0);
    let error = run(store.as_ref(), &Command::on(STREAM), decide(Plan::Growth, &decisions)).await.unwrap_err();
    assert!(matches!(error, CommandError::Store(StoreError::WrongExpectedVersion { .. })), "{error:?}");
    assert_eq!(decisions.load(Ordering::SeqCst), CONFLICT_RETRIES + 1);
}

#[tokio::test]
async fn a_keyed_command_is_replayed_from_the_stream_and_its_key_refused_for_another_request() {
    let dir = tempfile::tempdir().unwrap();
    let store = racing(&dir, 0);
    let decisions = AtomicUsize::new(0);
    let key = Key::new("k1", "set_plan", "acc_7", &serde_json::json!({"plan": "growth"}));
    let command = Command::on(STREAM).keyed(Some(&key));
    let first = run(store.as_ref(), &command, decide(Plan::Growth, &decisions)).await.unwrap();
    assert!(!first.replayed && first.appended.is_some());
    // Another command changes the plan; the retry still answers as the first time.
    run(store.as_ref(), &Command::on(STREAM), decide(Plan::Scale, &decisions)).await.unwrap();
    let retry = run(store.as_ref(), &command, decide(Plan::Growth, &decisions)).await.unwrap();
    assert!(retry.replayed && retry.appended.is_none());
    assert_eq!(retry.own, first.own);
    assert_eq!(decisions.load(Ordering::SeqCst), 2, "a replay decides nothing");
    assert_eq!(stored(store.as_ref()).await.len(), 2, "stored once");

    let other = Key::new("k1", "set_plan", "acc_7", &serde_json::json!({"plan": "scale"}));
    let error = run(store.as_ref(), &Command::on(STREAM).keyed(Some(&other)), decide(Plan::Scale, &decisions))
        .await
        .unwrap_err();
    assert!(matches!(error, CommandError::KeyReused), "{error:?}");
}

#[tokio::test]
async fn the_events_record_who_issued_the_command_and_its_request_hash() {
    let dir = tempfile::tempdir().unwrap();
    let store = racing(&dir, 0);
    let decisions = AtomicUsize::new(0);
    let key = Key::new("k1", "set_plan", "acc_7", &serde_json::json!({"plan": "growth"}));
    let issuer = Issuer { role: "frontend".into(), token: Some("recruiting-backend".into()) };
    let command = Command::on(STREAM).keyed(Some(&key)).issued_by(Some(issuer.clone()));
    run(store.as_ref(), &command, decide(Plan::Growth, &decisions)).await.unwrap();
    let recorded = stored(store.as_ref()).await;
    let metadata = CommandMetadata::read(&recorded[0].metadata).unwrap();
    assert_eq!(metadata.issued_by, Some(issuer));
    assert_eq!(metadata.request_hash.as_deref(), Some(key.hash()));
    assert!(metadata.base.correlation_id.unwrap().starts_with("cmd_"));
}

#[tokio::test]
async fn an_unkeyed_command_without_an_issuer_has_the_plain_metadata_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = racing(&dir, 0);
    let decisions = AtomicUsize::new(0);
    run(store.as_ref(), &Command::on(STREAM).correlated("cmd_1"), decide(Plan::Growth, &decisions)).await.unwrap();
    let recorded = stored(store.as_ref()).await;
    assert_eq!(&recorded[0].metadata[..], br#"{"correlation_id":"cmd_1","causation_id":"cmd_1"}"#);
}
