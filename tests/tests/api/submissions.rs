//! Submissions: 202 with id and position; validation; Idempotency-Key.

use futures::future::join_all;
use packhooks_domain::DomainEvent;
use packhooks_tests::app::{assert_problem, interest_body, spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

#[actix_web::test]
async fn an_interest_is_accepted_and_stored() {
    let app = spawn_app().await;
    let response = app.submit_interest("pk_42", &interest_body("acc_7"), None).await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let id = accepted["submission_id"].as_str().unwrap();
    assert!(id.starts_with("sub_"));
    assert!(accepted["position"].as_str().unwrap().parse::<u64>().is_ok(), "{accepted}");

    let events = app.stream_events("pack-pk_42").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].position.to_string(), accepted["position"].as_str().unwrap());
    match DomainEvent::decode(&events[0].event_type, &events[0].data).unwrap() {
        DomainEvent::CandidateInterested(e) => {
            assert_eq!(e.submission_id.to_string(), id);
            assert_eq!(e.candidate.name.as_deref(), Some("Ada"));
            assert_eq!(e.candidate.resume_url, None);
            assert_eq!(e.pack_name, "Senior Rust Engineer");
        }
        other => panic!("unexpected {other:?}"),
    }
    app.stop().await;
}

#[actix_web::test]
async fn declines_take_a_standard_or_a_custom_reason() {
    let app = spawn_app().await;
    let decline = |reason: Value| {
        json!({
            "account_id": "acc_7", "pack_name": "Senior Rust Engineer",
            "candidate": {"name": "Ada", "email": "ada@example.com"},
            "reason": reason, "feedback": "Thanks, but the range is below my current salary."
        })
    };
    for reason in [json!({"code": "compensation"}), json!({"custom": "Reason #2"})] {
        assert_eq!(app.post_json("/v1/packs/pk_42/decline", &decline(reason)).await.status(), 202);
    }
    for reason in [json!({}), json!({"code": "compensation", "custom": "x"})] {
        let problem =
            assert_problem(app.post_json("/v1/packs/pk_42/decline", &decline(reason)).await, 400, "invalid_field")
                .await;
        assert_eq!(problem["field"], "reason");
    }
    let problem = assert_problem(
        app.post_json("/v1/packs/pk_42/decline", &decline(json!({"code": "bored"}))).await,
        400,
        "invalid_field",
    )
    .await;
    assert_eq!(problem["field"], "reason.code");

    let kinds: Vec<_> = app
        .stream_events("pack-pk_42")
        .await
        .iter()
        .map(|e| match DomainEvent::decode(&e.event_type, &e.data).unwrap() {
            DomainEvent::CandidateDeclined(d) => d.reason,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    use packhooks_domain::submission::{DeclineReason, StandardReason};
    assert_eq!(
        kinds,
        vec![DeclineReason::Standard(StandardReason::Compensation), DeclineReason::Custom("Reason #2".into())]
    );
    app.stop().await;
}

#[actix_web::test]
async fn field_rules_name_the_field() {
    let app = spawn_app().await;
    let mut body = interest_body("acc_7");
    body["candidate"]["email"] = json!("not-an-email");
    let problem = assert_problem(app.submit_interest("pk_1", &body, None).await, 400, "invalid_field").await;
    assert_eq!(problem["field"], "candidate.email");
    let mut body = interest_body("acc_7");
    body["pack_name"] = json!("   ");
    let problem = assert_problem(app.submit_interest("pk_1", &body, None).await, 400, "invalid_field").await;
    assert_eq!(problem["field"], "pack_name");
    let problem =
        assert_problem(app.submit_interest("pk_1", &interest_body("acc 7"), None).await, 400, "invalid_field").await;
    assert_eq!(problem["field"], "account_id");
    let problem =
        assert_problem(app.submit_interest("pk!1", &interest_body("acc_7"), None).await, 400, "invalid_field").await;
    assert_eq!(problem["field"], "pack");
    assert!(app.stream_events("pack-pk_1").await.is_empty());
    app.stop().await;
}

#[actix_web::test]
async fn the_same_idempotency_key_is_the_same_submission_stored_once() {
    let app = spawn_app().await;
    let body = interest_body("acc_7");
    let answers = join_all((0..5).map(|_| app.submit_interest("pk_42", &body, Some("form-123")))).await;
    let mut bodies = Vec::new();
    for answer in answers {
        assert_eq!(answer.status(), 202);
        bodies.push(answer.json::<Value>().await.unwrap());
    }
    let again: Value = app.submit_interest("pk_42", &body, Some("form-123")).await.json().await.unwrap();
    assert!(bodies.iter().all(|b| *b == again), "{bodies:?} vs {again}");
    assert_eq!(app.stream_events("pack-pk_42").await.len(), 1, "one event for one key");

    let other_key: Value = app.submit_interest("pk_42", &body, Some("form-124")).await.json().await.unwrap();
    assert_ne!(other_key["submission_id"], again["submission_id"]);
    let other_pack: Value = app.submit_interest("pk_43", &body, Some("form-123")).await.json().await.unwrap();
    assert_ne!(other_pack["submission_id"], again["submission_id"]);
    let no_key: Value = app.submit_interest("pk_42", &body, None).await.json().await.unwrap();
    let no_key_again: Value = app.submit_interest("pk_42", &body, None).await.json().await.unwrap();
    assert_ne!(no_key["submission_id"], no_key_again["submission_id"]);
    assert_eq!(app.stream_events("pack-pk_42").await.len(), 4);
    app.stop().await;
}

#[actix_web::test]
async fn idempotency_keys_must_be_printable_ascii_up_to_255() {
    let app = spawn_app().await;
    let body = interest_body("acc_7");
    assert_eq!(app.submit_interest("pk_42", &body, Some(&"k".repeat(255))).await.status(), 202);
    for key in ["k".repeat(256), String::new()] {
        let problem = assert_problem(app.submit_interest("pk_42", &body, Some(&key)).await, 400, "invalid_field").await;
        assert_eq!(problem["field"], "Idempotency-Key");
    }
    let response = app
        .request(Method::POST, "/v1/packs/pk_42/interest")
        .header("idempotency-key", reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "invalid_field").await;
    assert_eq!(app.stream_events("pack-pk_42").await.len(), 1);
    app.stop().await;
}

/// `POST /v1/packs/{pack}/{form}` with an idempotency key.
async fn submit_keyed(app: &TestApp, pack: &str, form: &str, body: &Value, key: &str) -> reqwest::Response {
    app.request(Method::POST, &format!("/v1/packs/{pack}/{form}"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("request sent")
}

fn decline_body(account: &str) -> Value {
    json!({
        "account_id": account, "pack_name": "Senior Rust Engineer",
        "candidate": {"name": "Ada", "email": "ada@example.com"},
        "reason": {"code": "compensation"}
    })
}

#[actix_web::test]
async fn a_key_reused_with_another_body_is_refused_and_the_first_answer_stands() {
    let app = spawn_app().await;
    let first = submit_keyed(&app, "pk_42", "interest", &interest_body("acc_7"), "form-9").await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();

    let mut other = interest_body("acc_7");
    other["candidate"]["name"] = json!("Grace");
    let problem =
        assert_problem(submit_keyed(&app, "pk_42", "interest", &other, "form-9").await, 422, "idempotency_key_reused")
            .await;
    assert_eq!(problem["field"], "Idempotency-Key");
    assert!(problem["detail"].as_str().unwrap().contains("different request"), "{problem}");
    let problem = assert_problem(
        submit_keyed(&app, "pk_42", "interest", &interest_body("acc_8"), "form-9").await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(problem["field"], "Idempotency-Key");

    // The same request, written differently (other key order, an explicit null for a field
    // the form did not collect), is still the same request: the first answer, once stored.
    let same = json!({
        "candidate": {"phone": "+31 6 1234 5678", "email": "ada@example.com", "name": "Ada", "message": null},
        "pack_name": "Senior Rust Engineer", "account_id": "acc_7"
    });
    let again = submit_keyed(&app, "pk_42", "interest", &same, "form-9").await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let events = app.stream_events("pack-pk_42").await;
    assert_eq!(events.len(), 1, "nothing stored for the refused requests");
    match DomainEvent::decode(&events[0].event_type, &events[0].data).unwrap() {
        DomainEvent::CandidateInterested(e) => assert_eq!(e.candidate.name.as_deref(), Some("Ada")),
        other => panic!("unexpected {other:?}"),
    }
    app.stop().await;
}

#[actix_web::test]
async fn a_key_used_for_one_form_is_refused_on_the_other() {
    let app = spawn_app().await;
    assert_eq!(submit_keyed(&app, "pk_42", "interest", &interest_body("acc_7"), "form-1").await.status(), 202);
    assert_problem(
        submit_keyed(&app, "pk_42", "decline", &decline_body("acc_7"), "form-1").await,
        422,
        "idempotency_key_reused",
    )
    .await;

    let declined = submit_keyed(&app, "pk_42", "decline", &decline_body("acc_7"), "form-2").await;
    assert_eq!(declined.status(), 202);
    let declined: Value = declined.json().await.unwrap();
    assert_problem(
        submit_keyed(&app, "pk_42", "interest", &interest_body("acc_7"), "form-2").await,
        422,
        "idempotency_key_reused",
    )
    .await;
    let again = submit_keyed(&app, "pk_42", "decline", &decline_body("acc_7"), "form-2").await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.json::<Value>().await.unwrap(), declined, "a retry of the decline answers as the first time");

    let types: Vec<_> = app.stream_events("pack-pk_42").await.into_iter().map(|e| e.event_type).collect();
    assert_eq!(types, ["CandidateInterested", "CandidateDeclined"]);
    app.stop().await;
}

/// Two different requests with one key at once: one is stored and answered 202, the other
/// is refused, whichever reaches the store first.
#[actix_web::test]
async fn concurrent_different_requests_with_one_key_store_one_and_refuse_the_other() {
    let app = spawn_app().await;
    let mut other = interest_body("acc_7");
    other["candidate"]["name"] = json!("Grace");
    let first = interest_body("acc_7");
    let (a, b) = tokio::join!(
        submit_keyed(&app, "pk_42", "interest", &first, "form-5"),
        submit_keyed(&app, "pk_42", "interest", &other, "form-5"),
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 422]);
    assert_eq!(app.stream_events("pack-pk_42").await.len(), 1);
    app.stop().await;
}
