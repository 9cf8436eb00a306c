//! Submissions: 202 with id and position; validation; Idempotency-Key.

use futures::future::join_all;
use packhooks_domain::DomainEvent;
use packhooks_tests::app::{assert_problem, interest_body, spawn_app};
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
