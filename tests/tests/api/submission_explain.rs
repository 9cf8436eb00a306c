//! `GET /v1/submissions/{id}`: a submission explained, webhook by webhook, against a real
//! receiver on 127.0.0.1; the same answer after a restart and after a rebuild of the read
//! models.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use packhooks_tests::app::{assert_problem, eventually, interest_body, spawn_app, TestApp};
use packhooks_tests::receiver::{Reply, TestReceiver};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

async fn create(app: &TestApp, url: &str, events: &[&str]) -> String {
    let response = app.create_webhook("acc_1", &json!({ "url": url, "events": events })).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

async fn explain(app: &TestApp, submission: &str) -> Value {
    let response = app.get(&format!("/v1/submissions/{submission}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn webhook<'a>(explained: &'a Value, id: &str) -> &'a Value {
    explained["webhooks"].as_array().unwrap().iter().find(|w| w["webhook_id"] == id).expect("the webhook is listed")
}

/// The answer once the delivery to `delivered` is settled (delivered, two attempts).
async fn settled(app: &TestApp, submission: &str, delivered: &str) -> Value {
    eventually(WAIT, "the delivery to be delivered and explained", || async {
        let explained = explain(app, submission).await;
        let delivery = &webhook(&explained, delivered)["delivery"];
        (delivery["state"] == "delivered" && delivery["attempts"].as_array().map(Vec::len) == Some(2))
            .then_some(explained)
    })
    .await
}

#[actix_web::test]
async fn each_webhook_of_the_account_says_whether_the_submission_went_there_and_why_not() {
    let app = spawn_app().await;
    let receiver = TestReceiver::start();
    // The delivered webhook's endpoint fails once, then accepts: two attempts to show.
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    receiver.on(
        "/live",
        move |_| if counted.fetch_add(1, Ordering::SeqCst) == 0 { Reply::status(500) } else { Reply::ok() },
    );
    receiver.otherwise(|_| Reply::ok());
    app.set_plan("acc_1", "growth").await;

    let deleted = create(&app, &receiver.url("/deleted"), &["interested", "declined"]).await;
    assert_eq!(app.delete(&format!("/v1/webhooks/{deleted}")).await.status(), 204);
    let disabled = create(&app, &receiver.url("/disabled"), &["interested", "declined"]).await;
    assert_eq!(app.post_empty(&format!("/v1/webhooks/{disabled}/disable")).await.status(), 200);
    let declined_only = create(&app, &receiver.url("/declined"), &["declined"]).await;
    let live = create(&app, &receiver.url("/live"), &["interested"]).await;

    let accepted: Value = app.submit_interest("pk_1", &interest_body("acc_1"), None).await.json().await.unwrap();
    let submission = accepted["submission_id"].as_str().unwrap().to_owned();
    // After the submission: one webhook created, the disabled one enabled again.
    let later = create(&app, &receiver.url("/later"), &["interested", "declined"]).await;
    assert_eq!(app.post_empty(&format!("/v1/webhooks/{disabled}/enable")).await.status(), 200);

    let explained = settled(&app, &submission, &live).await;
    assert_eq!(explained["submission_id"], submission.as_str());
    assert_eq!(explained["event_type"], "interested");
    assert_eq!(explained["account_id"], "acc_1");
    assert_eq!(explained["position"], accepted["position"]);
    let verdicts: Vec<(String, Value, Value)> = explained["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["webhook_id"].as_str().unwrap().to_owned(), w["routed"].clone(), w["reason"].clone()))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            (deleted.clone(), json!(false), json!("deleted")),
            (disabled.clone(), json!(false), json!("disabled")),
            (declined_only.clone(), json!(false), json!("other_event_type")),
            (live.clone(), json!(true), Value::Null),
            (later.clone(), json!(false), json!("not_yet_created")),
        ],
        "every webhook the account has or had, oldest first: {explained:#}"
    );
    assert_eq!(webhook(&explained, &deleted)["deleted"], true);
    for id in [&deleted, &disabled, &declined_only, &later] {
        assert_eq!(webhook(&explained, id)["delivery"], Value::Null, "nothing was delivered to {id}");
    }
    let delivery = &webhook(&explained, &live)["delivery"];
    assert!(delivery["delivery_id"].as_str().unwrap().starts_with("dlv_"));
    assert_eq!(delivery["message_id"], format!("msg_{}", submission.trim_start_matches("sub_")));
    let attempts = delivery["attempts"].as_array().unwrap();
    assert_eq!((attempts[0]["attempt"].clone(), attempts[0]["success"].clone()), (json!(1), json!(false)));
    assert_eq!(attempts[0]["status"], 500);
    assert_eq!((attempts[1]["attempt"].clone(), attempts[1]["success"].clone()), (json!(2), json!(true)));
    assert_eq!(receiver.requests_to("/live").len(), 2);
    assert!(receiver.requests_to("/disabled").is_empty() && receiver.requests_to("/later").is_empty());
    assert!(receiver.requests_to("/declined").is_empty() && receiver.requests_to("/deleted").is_empty());

    // The same answer after a restart, and after the read models are rebuilt from the log.
    let app = app.restart(|_| {}).await;
    assert_eq!(settled(&app, &submission, &live).await, explained, "after a restart");
    assert_eq!(app.post_empty("/v1/ops/projections/all/rebuild").await.status(), 202);
    eventually(WAIT, "the rebuild to finish", || async {
        let status: Value = app.get("/v1/ops/projections").await.json().await.unwrap();
        status["data"].as_array().unwrap().iter().all(|p| p["live"]["rebuild"]["state"] == "done").then_some(())
    })
    .await;
    assert_eq!(settled(&app, &submission, &live).await, explained, "after a rebuild");

    // An id no submission has is 404; a malformed one is 400 before any lookup.
    assert_problem(app.get("/v1/submissions/sub_0000000000000000000000000000abcd").await, 404, "not_found").await;
    assert_problem(app.get("/v1/submissions/nope").await, 400, "invalid_field").await;
}
