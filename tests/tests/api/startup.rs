//! Application start and stop: the data directory, and the order of a graceful stop.

use std::sync::Arc;

use packhooks_store::{EventData, ExpectedRevision, StoreError};
use packhooks_tests::app::{spawn_app, spawn_app_with};
use serde_json::Value;

#[actix_web::test]
async fn a_missing_data_directory_is_created() {
    let app = spawn_app_with(|s| s.data_dir = s.data_dir.join("nested/deeper")).await;
    let dir = app.data_dir.path().join("nested/deeper");
    assert!(dir.join("events.sqlite").is_file());
    assert!(dir.join("api-token").is_file());
    app.set_plan("acc_1", "growth").await;
    app.stop().await;
}

#[actix_web::test]
async fn a_graceful_stop_closes_the_store_and_a_restart_finds_everything() {
    let app = spawn_app().await;
    let created = app.given_webhook("acc_1", "http://127.0.0.1:9/hook").await;
    let store = Arc::clone(&app.store);
    let app = app.restart(|_| {}).await;

    let refused = store
        .append("probe-1", ExpectedRevision::Any, vec![EventData::json(uuid::Uuid::now_v7(), "Probe", "{}", "{}")])
        .await;
    assert!(matches!(refused, Err(StoreError::Closed)), "the old store is closed: {refused:?}");

    let path = format!("/v1/webhooks/{}", created["id"].as_str().unwrap());
    let again: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(again["url"], "http://127.0.0.1:9/hook");
    let list: Value = app.get("/v1/accounts/acc_1/webhooks").await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "the registry is rebuilt from the log");
    app.stop().await;
}
