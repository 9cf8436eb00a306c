//! The API's live registry takes no lock across a store read: `ensure_current` reads the log
//! outside its lock and applies what it read under it, past the position it holds.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use packhooks_api::live_registry::LiveRegistry;
use packhooks_domain::account::{AccountPlanChanged, Plan};
use packhooks_domain::{AccountId, DomainEvent};
use packhooks_store::sqlite::SqliteStore;
use packhooks_store::{EventData, EventStore, ExpectedRevision};
use packhooks_tests::faults::{Faults, Faulty, GatedReads};

/// Stand-in: every `$all` read is held at a gate, and the registry's subscription never
/// starts, so only `ensure_current` can bring the registry up to date.
struct HeldReads(GatedReads);

#[async_trait]
impl Faults for HeldReads {
    async fn before_read_all(&self) {
        self.0.before_read_all().await;
    }

    async fn before_subscribe(&self) {
        std::future::pending::<()>().await;
    }
}

#[tokio::test]
async fn readers_of_the_registry_are_not_held_while_ensure_current_reads_the_store() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sqlite: Arc<dyn EventStore> = Arc::new(SqliteStore::open(dir.path().join("events.db")).expect("a store"));
    let account = AccountId::parse("acc_7").expect("an account id");
    let plan = DomainEvent::from(AccountPlanChanged {
        account_id: account.clone(),
        plan: Plan::Growth,
        previous: None,
        recorded_at: Utc::now(),
    });
    let data = EventData::json(uuid::Uuid::now_v7(), plan.event_type(), plan.to_json(), b"{}".to_vec());
    sqlite.append(&account.stream(), ExpectedRevision::Any, vec![data]).await.expect("appended");
    let held = Faulty::new(Arc::clone(&sqlite), HeldReads(GatedReads::new(0)));
    let (live, follow) = LiveRegistry::start(held.clone());

    let current = tokio::spawn({
        let live = Arc::clone(&live);
        async move { live.ensure_current().await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while held.0.held.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "ensure_current never read the store");
        tokio::task::yield_now().await;
    }
    // The old code held the registry's write lock across this read: readers waited for it.
    let read = tokio::time::timeout(Duration::from_secs(2), live.read()).await;
    assert!(read.is_ok(), "a reader waited for a store read to finish");
    assert_eq!(read.expect("read").registry.plan(&account), None, "nothing applied yet");

    held.0.gate.open();
    current.await.expect("ensure_current ran").expect("ensure_current succeeded");
    assert_eq!(live.read().await.registry.plan(&account), Some(Plan::Growth));
    follow.abort();
}
