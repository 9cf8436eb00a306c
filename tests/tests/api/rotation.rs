//! A secret rotated through the API signs what is delivered next, as the Standard Webhooks
//! reference library (Python) checks it: during the overlap both the new and the previous
//! secret verify the same request; with no overlap only the new one does.

use std::time::Duration;

use packhooks_tests::app::{interest_body, spawn_app_with, TestApp};
use packhooks_tests::receiver::{Received, TestReceiver};
use packhooks_tests::signatures::{case, reference_library_verdicts};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// Creates a webhook to `receiver`, rotates its secret through the API and delivers one
/// submission; the old secret, the rotation's answer and the request received.
async fn rotate_then_deliver(app: &TestApp, receiver: &TestReceiver) -> (String, Value, Received) {
    let hook = app.given_webhook("acc_r", &receiver.url("/rotated")).await;
    let id = hook["id"].as_str().expect("an id");
    let rotated = app.post_empty(&format!("/v1/webhooks/{id}/rotate-secret")).await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.expect("a JSON answer");
    assert_eq!(rotated["secret_version"], 2, "{rotated}");
    assert_ne!(rotated["secret"], hook["secret"]);
    assert_eq!(app.submit_interest("pk_r", &interest_body("acc_r"), None).await.status(), 202);
    assert!(receiver.wait_for(Some("/rotated"), 1, WAIT).await, "the submission was not delivered");
    let received = receiver.requests_to("/rotated").remove(0);
    (hook["secret"].as_str().expect("a secret").to_owned(), rotated, received)
}

#[actix_web::test]
async fn a_secret_rotated_through_the_api_signs_deliveries_and_the_previous_one_too_during_the_overlap() {
    let app = spawn_app_with(|_| {}).await;
    let receiver = TestReceiver::start();
    let (old, rotated, received) = rotate_then_deliver(&app, &receiver).await;
    let new = rotated["secret"].as_str().expect("the new secret");
    let signatures = received.header("webhook-signature").expect("a signature header");
    assert_eq!(signatures.split(' ').count(), 2, "both secrets sign during the overlap: {signatures}");
    assert_eq!(reference_library_verdicts(&[case(new, &received), case(&old, &received)]), [true, true]);
    app.stop().await;
}

#[actix_web::test]
async fn with_no_overlap_only_the_rotated_secret_verifies_a_delivery() {
    let app = spawn_app_with(|settings| settings.secret_rotation_overlap = Duration::ZERO).await;
    let receiver = TestReceiver::start();
    let (old, rotated, received) = rotate_then_deliver(&app, &receiver).await;
    let new = rotated["secret"].as_str().expect("the new secret");
    assert_eq!(reference_library_verdicts(&[case(new, &received), case(&old, &received)]), [true, false]);
    app.stop().await;
}
