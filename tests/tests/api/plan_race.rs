//! A plan change and a webhook create of one account at once: the create decides on the
//! plan under the account's lock, so the plan change must wait for that lock, or the create
//! stores a webhook on an account that is already on starter.
//!
//! What the lock guarantees, and what these tests assert: replaying `$all` in order, every
//! `WebhookCreated` finds its account on growth or scale. (Not that a starter account has no
//! webhooks: those created before the change stay, and are simply not delivered to.)
//!
//! The deterministic test serves the real API (`packhooks_api::app`) over 127.0.0.1 on a real
//! SQLite store wrapped in a [`GatedAppends`] fault injector, the one stand-in here: it holds the create's append
//! (after the create has checked the plan) until the plan change has either finished (no
//! lock: the race is lost, every time) or is waiting for the account's lock.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpServer;
use futures::future::join_all;
use packhooks_api::auth::{Role, Token, TokenTable};
use packhooks_api::{ApiConfig, ApiState};
use packhooks_domain::account::Plan;
use packhooks_domain::clock::SystemClock;
use packhooks_domain::{AccountId, DomainEvent};
use packhooks_store::sqlite::SqliteStore;
use packhooks_store::{AllPosition, Direction, EventStore};
use packhooks_tests::app::{eventually, spawn_app};
use packhooks_tests::faults::{Faulty, GatedAppends};
use reqwest::Method;
use serde_json::json;

/// Replays `$all` and returns every webhook creation that found its account on starter (or
/// on no plan), as (account, plan at that place).
async fn creations_on_a_refused_plan(store: &dyn EventStore) -> Vec<(AccountId, Option<Plan>)> {
    let events = store.read_all(AllPosition::Start, Direction::Forwards, 1_000_000).await.expect("$all reads");
    let mut plans = std::collections::HashMap::new();
    let mut refused = Vec::new();
    for recorded in &events {
        match DomainEvent::decode(&recorded.event_type, &recorded.data) {
            Ok(DomainEvent::AccountPlanChanged(c)) => {
                plans.insert(c.account_id, c.plan);
            }
            Ok(DomainEvent::WebhookCreated(c)) => {
                let plan = plans.get(&c.account_id).copied();
                if !plan.is_some_and(Plan::allows_webhooks) {
                    refused.push((c.account_id, plan));
                }
            }
            _ => {}
        }
    }
    refused
}

#[actix_web::test]
async fn a_plan_change_waits_for_a_create_held_at_its_append_by_a_gated_store() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn EventStore> = Arc::new(SqliteStore::open(dir.path().join("events.db")).unwrap());
    let gated = Faulty::new(Arc::clone(&sqlite), GatedAppends::new("webhook-"));
    let token = Token::generate();
    let config = ApiConfig {
        tokens: TokenTable::new().with(&token, &Role::ALL),
        max_webhooks: 4,
        allow_private_targets: true,
        secret_rotation_overlap: Duration::from_secs(60),
    };
    let (state, follower) = ApiState::new(Arc::clone(&gated) as Arc<dyn EventStore>, Arc::new(SystemClock), config);
    let served = state.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || packhooks_api::app(served.clone())).listen(listener).unwrap().workers(1).run();
    let handle = server.handle();
    let server_task = actix_web::rt::spawn(server);

    let client = reqwest::Client::new();
    let set_plan = |plan: &'static str| {
        client
            .request(Method::PUT, format!("{address}/v1/accounts/acc_7/plan"))
            .bearer_auth(token.expose())
            .json(&json!({ "plan": plan }))
            .send()
    };
    assert_eq!(set_plan("growth").await.unwrap().status(), 200);

    gated.armed.store(true, Ordering::SeqCst);
    let create = actix_web::rt::spawn(
        client
            .request(Method::POST, format!("{address}/v1/accounts/acc_7/webhooks"))
            .bearer_auth(token.expose())
            .json(&json!({ "url": "http://127.0.0.1:9/hook", "events": ["interested"] }))
            .send(),
    );
    // The create has checked the plan (growth) and is about to store its webhook.
    tokio::time::timeout(Duration::from_secs(10), gated.arrived.notified())
        .await
        .expect("the create reaches its append");

    let change = actix_web::rt::spawn(set_plan("starter"));
    // Either the change went through while the create was held (the race, lost), or it waits
    // for the account's lock: the map's copy, the create's, the change's and this probe's.
    let account = AccountId::parse("acc_7").unwrap();
    eventually(Duration::from_secs(10), "the plan change to finish or wait for the lock", || {
        let done = change.is_finished() || Arc::strong_count(&state.account_lock(&account)) >= 4;
        async move { done.then_some(()) }
    })
    .await;
    gated.gate.open();

    let created = create.await.unwrap().unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap_or_default());
    assert_eq!(change.await.unwrap().unwrap().status(), 200);
    let refused = creations_on_a_refused_plan(sqlite.as_ref()).await;
    assert!(refused.is_empty(), "a webhook was created after the account moved to starter: {refused:?}");

    handle.stop(true).await;
    server_task.await.unwrap().unwrap();
    follower.abort();
}

/// The same race through the whole application, many times at once: without the lock it
/// is lost now and then (not every run); with it, never.
#[actix_web::test]
async fn concurrent_creates_and_downgrades_never_create_on_starter() {
    const ACCOUNTS: usize = 24;
    /// One webhook per account per round at most, so the limit of 4 is never what refuses.
    const ROUNDS: usize = 4;
    let app = spawn_app().await;
    let accounts: Vec<String> = (0..ACCOUNTS).map(|i| format!("acc_race_{i}")).collect();
    let body = json!({ "url": "http://127.0.0.1:9/hook", "events": ["interested"] });
    for _ in 0..ROUNDS {
        for account in &accounts {
            app.set_plan(account, "growth").await;
        }
        let pairs = accounts.iter().map(|account| {
            let create = app.create_webhook(account, &body);
            let change = app
                .request(Method::PUT, &format!("/v1/accounts/{account}/plan"))
                .json(&json!({ "plan": "starter" }))
                .send();
            async move {
                let (created, changed) = tokio::join!(create, change);
                (created.status().as_u16(), changed.unwrap().status().as_u16())
            }
        });
        for (created, changed) in join_all(pairs).await {
            assert!(created == 201 || created == 403, "create answered {created}");
            assert_eq!(changed, 200);
        }
    }
    let refused = creations_on_a_refused_plan(app.store.as_ref()).await;
    assert!(refused.is_empty(), "webhooks created after their account moved to starter: {refused:?}");
    app.stop().await;
}
