//! packhooks end to end on the EventStoreDB backend: the real application runs with
//! `--store esdb://127.0.0.1:<port>?tls=false&discoveryInterval=10` against the wire test
//! server (EventStoreDB's gRPC subset over a SQLite file), and a submission goes all the
//! way: API → store (over gRPC) → dispatcher → signed POST to a `TestReceiver` (signature
//! checked by the Standard Webhooks reference library) → deliveries stream → the webhook
//! health read model shown by the API.
//!
//! The `audit` and `projections` commands then read the same store over esdb:// too.
//!
//! What this proves and what it does not: the whole product runs unchanged on `EsdbStore`
//! as the `eventstore` client drives it; not how a real EventStoreDB node behaves.

use std::sync::Arc;
use std::time::Duration;

use packhooks::settings::StoreSetting;
use packhooks_domain::{DomainEvent, WebhookId};
use packhooks_store::sqlite::SqliteStore;
use packhooks_store::EventStore;
use packhooks_store_esdb::wire_server::WireServer;
use packhooks_tests::app::{eventually, interest_body, read_stream, spawn_app_with};
use packhooks_tests::packhooks_bin;
use packhooks_tests::receiver::TestReceiver;
use packhooks_tests::signatures::verify_with_reference_library;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

#[actix_web::test]
async fn a_submission_over_esdb_is_delivered_signed_and_shows_in_the_health_read_model() {
    let store_dir = tempfile::tempdir().expect("temp dir");
    let sqlite: Arc<dyn EventStore> =
        Arc::new(SqliteStore::open(store_dir.path().join("wire.sqlite")).expect("the wire server's store opens"));
    let wire = WireServer::start(Arc::clone(&sqlite)).await.expect("the wire server starts");
    let connection = wire.connection_string();
    assert!(connection.starts_with("esdb://127.0.0.1:") && connection.contains("tls=false"), "{connection}");

    let receiver = TestReceiver::start();
    let app = spawn_app_with(|settings| settings.store = StoreSetting::EventStoreDb(connection.clone())).await;

    let created = app.given_webhook("acc_esdb", &receiver.url("/hook")).await;
    let webhook_id = created["id"].as_str().expect("webhook id").to_owned();
    let secret = created["secret"].as_str().expect("secret").to_owned();

    let submitted = app.submit_interest("pk_esdb", &interest_body("acc_esdb"), Some("esdb-e2e-1")).await;
    assert_eq!(submitted.status(), 202, "submission accepted");
    let submitted: Value = submitted.json().await.expect("a JSON answer");
    let submission_id = submitted["submission_id"].as_str().expect("submission id").to_owned();
    let message_id = format!("msg_{}", submission_id.trim_start_matches("sub_"));

    // The signed POST arrives, once, with the submission's message id.
    assert!(receiver.wait_for(Some("/hook"), 1, WAIT).await, "the delivery never arrived");
    let requests = receiver.requests_to("/hook");
    assert_eq!(requests.len(), 1, "one POST for one submission");
    let request = &requests[0];
    assert_eq!(request.webhook_id(), Some(message_id.as_str()));
    let body = request.json();
    assert_eq!(body["type"], "candidate.interested");
    assert_eq!(body["data"]["submission_id"], submission_id.as_str());
    assert_eq!(body["data"]["candidate"]["name"], "Ada");
    verify_with_reference_library(&[json!({
        "secret": secret,
        "id": request.header("webhook-id"),
        "timestamp": request.header("webhook-timestamp"),
        "signature": request.header("webhook-signature"),
        "body": String::from_utf8(request.body.to_vec()).expect("a UTF-8 body"),
    })]);

    // The outcome was written through the wire server: it is in the SQLite file behind it.
    let stream = WebhookId::parse(&webhook_id).expect("a webhook id").deliveries_stream();
    let attempted = eventually(WAIT, "the outcome in the deliveries stream", || {
        let sqlite = Arc::clone(&sqlite);
        let stream = stream.clone();
        async move {
            let events = read_stream(sqlite.as_ref(), &stream).await;
            events.iter().find_map(|r| match DomainEvent::decode(&r.event_type, &r.data) {
                Ok(DomainEvent::DeliveryAttempted(a)) => Some(a),
                _ => None,
            })
        }
    })
    .await;
    assert!(attempted.outcome.is_success(), "{:?}", attempted.outcome);
    assert_eq!(attempted.attempt, 1);

    // The health read model (fed by the projection runner's `$all` subscription over gRPC).
    let view = eventually(WAIT, "the last delivery in the webhook view", || async {
        let view: Value = app.get(&format!("/v1/webhooks/{webhook_id}")).await.json().await.ok()?;
        (view["last_delivery"]["result"] == "success").then_some(view)
    })
    .await;
    assert_eq!(view["status"], "healthy");
    assert_eq!(view["last_delivery"]["status_code"], 200);
    assert_eq!(view["last_delivery"]["attempt"], 1);
    assert_eq!(view["failing_since"], Value::Null);
    let list: Value = app.get("/v1/accounts/acc_esdb/webhooks").await.json().await.expect("a JSON list");
    let listed = list["data"].as_array().unwrap_or_else(|| panic!("a list of webhooks: {list}"));
    let listed = listed.iter().find(|w| w["id"] == webhook_id.as_str()).expect("the webhook is listed");
    assert_eq!(listed["last_delivery"]["result"], "success");

    app.stop().await;

    // The CLI opens the store as `serve` does: `audit` and `projections` work over esdb:// too.
    let cli_dir = tempfile::tempdir().expect("temp dir");
    let cli = |args: &[&str]| {
        tokio::process::Command::new(packhooks_bin!())
            .args(args)
            .args(["--store", &connection])
            .env_clear()
            .env("PACKHOOKS_DATA_DIR", cli_dir.path())
            .stdin(std::process::Stdio::null())
            .output()
    };
    let audit = cli(&["audit", "stream", &stream, "--json"]).await.expect("the CLI runs");
    let printed = String::from_utf8_lossy(&audit.stdout);
    assert!(audit.status.success(), "audit stream over esdb://: {}", String::from_utf8_lossy(&audit.stderr));
    assert!(printed.contains("DeliveryAttempted"), "the deliveries stream read over gRPC: {printed}");
    let status = cli(&["projections", "status"]).await.expect("the CLI runs");
    let printed = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "projections status over esdb://: {}", String::from_utf8_lossy(&status.stderr));
    assert!(printed.contains("webhook_health"), "{printed}");

    wire.stop().await;
    sqlite.close().await.expect("the wire server's store closes");
}
