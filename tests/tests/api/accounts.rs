//! `PUT /v1/accounts/{account}/plan`.

use packhooks_domain::DomainEvent;
use packhooks_tests::app::{assert_problem, spawn_app};
use reqwest::Method;
use serde_json::{json, Value};

#[actix_web::test]
async fn setting_a_plan_records_one_event_per_change() {
    let app = spawn_app().await;
    let put = |plan: &str| app.request(Method::PUT, "/v1/accounts/acc_7/plan").json(&json!({ "plan": plan })).send();
    let response = put("growth").await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"account_id": "acc_7", "plan": "growth"}));
    assert_eq!(put("growth").await.unwrap().status(), 200, "the same plan again is fine");
    assert_eq!(put("starter").await.unwrap().status(), 200);

    let events = app.stream_events("account-acc_7").await;
    let plans: Vec<_> = events
        .iter()
        .map(|e| match DomainEvent::decode(&e.event_type, &e.data).unwrap() {
            DomainEvent::AccountPlanChanged(c) => (c.previous, c.plan),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    use packhooks_domain::account::Plan;
    assert_eq!(plans, vec![(None, Plan::Growth), (Some(Plan::Growth), Plan::Starter)]);
    app.stop().await;
}

#[actix_web::test]
async fn unknown_plans_and_bad_account_ids_are_refused() {
    let app = spawn_app().await;
    let response =
        app.request(Method::PUT, "/v1/accounts/acc_7/plan").json(&json!({"plan": "gold"})).send().await.unwrap();
    let body = assert_problem(response, 400, "invalid_field").await;
    assert_eq!(body["field"], "plan");

    let response =
        app.request(Method::PUT, "/v1/accounts/acc!7/plan").json(&json!({"plan": "growth"})).send().await.unwrap();
    let body = assert_problem(response, 400, "invalid_field").await;
    assert_eq!(body["field"], "account");
    app.stop().await;
}
