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

#[actix_web::test]
async fn an_account_shows_its_plan_eligibility_webhook_limit_and_count() {
    let app = spawn_app().await;
    let read = |account: &'static str| {
        let app = &app;
        async move {
            let response = app.get(&format!("/v1/accounts/{account}")).await;
            assert_eq!(response.status(), 200, "GET /v1/accounts/{account}");
            response.json::<Value>().await.unwrap()
        }
    };
    let unknown = read("acc_new").await;
    assert_eq!(
        unknown,
        json!({"account_id": "acc_new", "plan": null, "webhooks_allowed": false, "webhook_limit": 4, "webhook_count": 0})
    );
    app.given_webhook("acc_7", "https://example.com/hook").await;
    let growth = read("acc_7").await;
    assert_eq!((growth["plan"].clone(), growth["webhooks_allowed"].clone()), (json!("growth"), json!(true)));
    assert_eq!((growth["webhook_limit"].clone(), growth["webhook_count"].clone()), (json!(4), json!(1)));
    app.set_plan("acc_7", "starter").await;
    let starter = read("acc_7").await;
    assert_eq!((starter["plan"].clone(), starter["webhooks_allowed"].clone()), (json!("starter"), json!(false)));
    assert_problem(app.get("/v1/accounts/a%20b").await, 400, "invalid_field").await;
    app.stop().await;
}
