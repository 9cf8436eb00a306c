//! `Idempotency-Key` on the webhook commands and the plan change: a retry with the key stores
//! nothing new and answers as the first time (a create's webhook and secret, a rotation's
//! secret), even at the webhook limit; the key with another body or on another route is a 422
//! `idempotency_key_reused`; a bad key is a 400 on every route.

use futures::future::join_all;
use packhooks_tests::app::{assert_problem, spawn_app, spawn_app_with, TestApp};
use reqwest::{Method, Response};
use serde_json::{json, Value};

fn hook(url: &str) -> Value {
    json!({ "url": url, "events": ["interested"], "description": "CRM" })
}

/// A request with an optional body and an `Idempotency-Key`.
async fn keyed(app: &TestApp, method: Method, path: &str, body: Option<&Value>, key: &str) -> Response {
    let mut request = app.request(method, path).header("idempotency-key", key);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("request sent")
}

async fn create_keyed(app: &TestApp, account: &str, body: &Value, key: &str) -> Response {
    keyed(app, Method::POST, &format!("/v1/accounts/{account}/webhooks"), Some(body), key).await
}

/// Status, `location` header and JSON body (null when empty) of an answer.
async fn answer(response: Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
    (status, location, body)
}

async fn event_types(app: &TestApp, stream: &str) -> Vec<String> {
    app.stream_events(stream).await.into_iter().map(|e| e.event_type).collect()
}

async fn listed(app: &TestApp, account: &str) -> Vec<Value> {
    let list: Value = app.get(&format!("/v1/accounts/{account}/webhooks")).await.json().await.unwrap();
    list["data"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn a_retried_create_is_the_same_webhook_with_the_same_secret_stored_once() {
    let app = spawn_app().await;
    app.set_plan("acc_1", "growth").await;
    let body = hook("https://example.com/hooks");
    let first = answer(create_keyed(&app, "acc_1", &body, "create-1").await).await;
    assert_eq!(first.0, 201, "{first:?}");
    let id = first.2["id"].as_str().unwrap().to_owned();
    assert_eq!(first.1.as_deref(), Some(format!("/v1/webhooks/{id}").as_str()));
    assert!(first.2["secret"].as_str().unwrap().starts_with("whsec_"));

    // Retries one after the other and at once: the same status, location and body each time.
    assert_eq!(answer(create_keyed(&app, "acc_1", &body, "create-1").await).await, first);
    let at_once = join_all((0..3).map(|_| create_keyed(&app, "acc_1", &body, "create-1"))).await;
    for response in at_once {
        assert_eq!(answer(response).await, first);
    }
    // The same request written differently (key order) is the same request.
    let reordered = json!({ "description": "CRM", "events": ["interested"], "url": "https://example.com/hooks" });
    assert_eq!(answer(create_keyed(&app, "acc_1", &reordered, "create-1").await).await, first);

    assert_eq!(event_types(&app, &format!("webhook-{id}")).await, ["WebhookCreated"]);
    let webhooks = listed(&app, "acc_1").await;
    assert_eq!(webhooks.len(), 1, "{webhooks:?}");
    assert_eq!(webhooks[0]["id"], id.as_str());

    // Another key, or the same key on another account, is another webhook.
    let other = answer(create_keyed(&app, "acc_1", &body, "create-2").await).await;
    assert_eq!(other.0, 201);
    assert_ne!(other.2["id"], first.2["id"]);
    assert_ne!(other.2["secret"], first.2["secret"]);
    app.set_plan("acc_2", "growth").await;
    let elsewhere = answer(create_keyed(&app, "acc_2", &body, "create-1").await).await;
    assert_eq!(elsewhere.0, 201);
    assert_ne!(elsewhere.2["id"], first.2["id"]);
    assert_eq!(listed(&app, "acc_1").await.len(), 2);
    app.stop().await;
}

#[actix_web::test]
async fn creates_without_a_key_are_new_webhooks_each_time() {
    let app = spawn_app().await;
    app.set_plan("acc_1", "growth").await;
    let body = hook("https://example.com/hooks");
    let a: Value = app.create_webhook("acc_1", &body).await.json().await.unwrap();
    let b: Value = app.create_webhook("acc_1", &body).await.json().await.unwrap();
    assert_ne!(a["id"], b["id"]);
    assert_eq!(listed(&app, "acc_1").await.len(), 2);
    app.stop().await;
}

#[actix_web::test]
async fn the_retry_of_the_create_that_took_the_last_slot_answers_with_its_webhook() {
    let app = spawn_app().await;
    app.set_plan("acc_1", "growth").await;
    for i in 0..3 {
        assert_eq!(app.create_webhook("acc_1", &hook(&format!("https://example.com/{i}"))).await.status(), 201);
    }
    let body = hook("https://example.com/fourth");
    let first = answer(create_keyed(&app, "acc_1", &body, "fourth").await).await;
    assert_eq!(first.0, 201, "{first:?}");
    assert_eq!(listed(&app, "acc_1").await.len(), 4);

    let retry = answer(create_keyed(&app, "acc_1", &body, "fourth").await).await;
    assert_eq!(retry, first, "the retry is not refused by the slot its own webhook took");
    assert_problem(create_keyed(&app, "acc_1", &body, "fifth").await, 409, "webhook_limit_reached").await;
    assert_problem(app.create_webhook("acc_1", &body).await, 409, "webhook_limit_reached").await;

    // A retry answers with what the first request made, even after the plan changed.
    app.set_plan("acc_1", "starter").await;
    assert_eq!(answer(create_keyed(&app, "acc_1", &body, "fourth").await).await, first);
    assert_problem(create_keyed(&app, "acc_1", &body, "sixth").await, 403, "plan_not_eligible").await;
    assert_eq!(listed(&app, "acc_1").await.len(), 4);
    app.stop().await;
}

#[actix_web::test]
async fn the_limit_setting_holds_for_keyed_creates_at_once() {
    let app = spawn_app_with(|s| s.max_webhooks = 2).await;
    app.set_plan("acc_1", "growth").await;
    let body = hook("https://example.com/x");
    let keys = ["k1", "k2", "k3", "k1", "k2", "k3"];
    let answers = join_all(keys.iter().map(|key| create_keyed(&app, "acc_1", &body, key))).await;
    let mut statuses = Vec::new();
    for response in answers {
        statuses.push(response.status().as_u16());
    }
    // Two keys win their slot (each answered twice: first and retry), one loses it twice.
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 4, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 2, "{statuses:?}");
    assert_eq!(listed(&app, "acc_1").await.len(), 2);
    app.stop().await;
}

#[actix_web::test]
async fn a_create_key_with_another_body_or_on_another_route_is_refused() {
    let app = spawn_app().await;
    app.set_plan("acc_1", "growth").await;
    let body = hook("https://example.com/hooks");
    let first = answer(create_keyed(&app, "acc_1", &body, "key-1").await).await;
    let id = first.2["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/webhooks/{id}");

    let problem = assert_problem(
        create_keyed(&app, "acc_1", &hook("https://example.com/other"), "key-1").await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(problem["field"], "Idempotency-Key");
    assert!(problem["detail"].as_str().unwrap().contains("different request"), "{problem}");
    // The key that created the webhook, on the webhook's other routes and on the plan.
    let patch = json!({ "description": "changed" });
    assert_problem(keyed(&app, Method::PATCH, &path, Some(&patch), "key-1").await, 422, "idempotency_key_reused").await;
    for action in ["disable", "rotate-secret"] {
        let response = keyed(&app, Method::POST, &format!("{path}/{action}"), None, "key-1").await;
        assert_problem(response, 422, "idempotency_key_reused").await;
    }
    assert_problem(keyed(&app, Method::DELETE, &path, None, "key-1").await, 422, "idempotency_key_reused").await;
    let plan = json!({ "plan": "scale" });
    assert_problem(
        keyed(&app, Method::PUT, "/v1/accounts/acc_1/plan", Some(&plan), "key-1").await,
        422,
        "idempotency_key_reused",
    )
    .await;

    // Nothing of the refused requests was stored, and the first answer stands.
    assert_eq!(event_types(&app, &format!("webhook-{id}")).await, ["WebhookCreated"]);
    assert_eq!(event_types(&app, "account-acc_1").await, ["AccountPlanChanged"]);
    assert_eq!(answer(create_keyed(&app, "acc_1", &body, "key-1").await).await, first);
    let one: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(one["description"], "CRM");
    assert_eq!(one["status"], "healthy");

    // The other way round: a plan change's key on the account's create.
    assert_eq!(keyed(&app, Method::PUT, "/v1/accounts/acc_1/plan", Some(&plan), "key-2").await.status(), 200);
    assert_problem(create_keyed(&app, "acc_1", &body, "key-2").await, 422, "idempotency_key_reused").await;
    assert_eq!(listed(&app, "acc_1").await.len(), 1);
    app.stop().await;
}

#[actix_web::test]
async fn a_lifecycle_key_on_another_route_or_with_another_body_is_refused() {
    let app = spawn_app().await;
    let created = app.given_webhook("acc_1", "https://example.com/a").await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/webhooks/{id}");
    let patch = json!({ "url": "https://example.com/b" });
    assert_eq!(keyed(&app, Method::PATCH, &path, Some(&patch), "op-1").await.status(), 200);
    let other = json!({ "url": "https://example.com/c" });
    assert_problem(keyed(&app, Method::PATCH, &path, Some(&other), "op-1").await, 422, "idempotency_key_reused").await;
    assert_problem(
        keyed(&app, Method::POST, &format!("{path}/disable"), None, "op-1").await,
        422,
        "idempotency_key_reused",
    )
    .await;

    assert_eq!(keyed(&app, Method::POST, &format!("{path}/disable"), None, "op-2").await.status(), 200);
    assert_problem(
        keyed(&app, Method::POST, &format!("{path}/enable"), None, "op-2").await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_problem(
        keyed(&app, Method::POST, &format!("{path}/rotate-secret"), None, "op-2").await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(
        event_types(&app, &format!("webhook-{id}")).await,
        ["WebhookCreated", "WebhookUpdated", "WebhookDisabled"]
    );
    let one: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(one["url"], "https://example.com/b");
    assert_eq!(one["status"], "disabled");
    app.stop().await;
}

#[actix_web::test]
async fn retried_lifecycle_commands_answer_as_the_first_time_and_store_once() {
    let app = spawn_app().await;
    let created = app.given_webhook("acc_1", "https://example.com/a").await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/webhooks/{id}");

    let patch = json!({ "url": "https://example.com/b", "description": null });
    let updated = answer(keyed(&app, Method::PATCH, &path, Some(&patch), "update-1").await).await;
    assert_eq!(updated.0, 200);
    assert_eq!(updated.2["url"], "https://example.com/b");
    assert_eq!(answer(keyed(&app, Method::PATCH, &path, Some(&patch), "update-1").await).await, updated);

    let disable = format!("{path}/disable");
    let disabled = answer(keyed(&app, Method::POST, &disable, None, "disable-1").await).await;
    assert_eq!((disabled.0, disabled.2["status"].as_str()), (200, Some("disabled")));
    assert_eq!(answer(keyed(&app, Method::POST, &disable, None, "disable-1").await).await, disabled);

    let enable = format!("{path}/enable");
    let enabled = answer(keyed(&app, Method::POST, &enable, None, "enable-1").await).await;
    assert_eq!((enabled.0, enabled.2["status"].as_str()), (200, Some("healthy")));
    assert_eq!(answer(keyed(&app, Method::POST, &enable, None, "enable-1").await).await, enabled);

    // A retry answers as the first time even after later changes: the update's answer is the
    // webhook as that update left it, not as it is now.
    assert_eq!(answer(keyed(&app, Method::PATCH, &path, Some(&patch), "update-1").await).await, updated);
    assert_eq!(answer(keyed(&app, Method::POST, &disable, None, "disable-1").await).await, disabled);

    let rotate = format!("{path}/rotate-secret");
    let rotated = answer(keyed(&app, Method::POST, &rotate, None, "rotate-1").await).await;
    assert_eq!((rotated.0, &rotated.2["secret_version"]), (200, &json!(2)));
    let secret = rotated.2["secret"].as_str().unwrap().to_owned();
    assert_ne!(secret, created["secret"].as_str().unwrap());
    let at_once = join_all((0..3).map(|_| keyed(&app, Method::POST, &rotate, None, "rotate-1"))).await;
    for response in at_once {
        assert_eq!(answer(response).await, rotated, "a retried rotation shows the first answer's secret");
    }
    let one: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(one["secret_version"], 2, "rotated once");
    let again = answer(keyed(&app, Method::POST, &rotate, None, "rotate-2").await).await;
    assert_eq!(again.2["secret_version"], 3, "another key is another rotation");
    assert_ne!(again.2["secret"], secret.as_str());
    assert_eq!(answer(keyed(&app, Method::POST, &rotate, None, "rotate-1").await).await, rotated);

    let deleted = answer(keyed(&app, Method::DELETE, &path, None, "delete-1").await).await;
    assert_eq!(deleted, (204, None, Value::Null));
    assert_eq!(answer(keyed(&app, Method::DELETE, &path, None, "delete-1").await).await, deleted);
    // After the deletion, a retry of an earlier command still answers as it did.
    assert_eq!(answer(keyed(&app, Method::POST, &enable, None, "enable-1").await).await, enabled);
    assert_problem(keyed(&app, Method::POST, &enable, None, "enable-2").await, 404, "not_found").await;

    assert_eq!(
        event_types(&app, &format!("webhook-{id}")).await,
        [
            "WebhookCreated",
            "WebhookUpdated",
            "WebhookDisabled",
            "WebhookEnabled",
            "WebhookSecretRotated",
            "WebhookSecretRotated",
            "WebhookDeleted"
        ]
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_keyed_command_that_changes_nothing_stores_nothing_and_its_retry_answers_the_same() {
    let app = spawn_app().await;
    let created = app.given_webhook("acc_1", "https://example.com/a").await;
    let path = format!("/v1/webhooks/{}", created["id"].as_str().unwrap());
    let enable = format!("{path}/enable");
    let first = answer(keyed(&app, Method::POST, &enable, None, "noop-1").await).await;
    assert_eq!(first.0, 200);
    assert_eq!(answer(keyed(&app, Method::POST, &enable, None, "noop-1").await).await, first);
    assert_eq!(event_types(&app, &format!("webhook-{}", created["id"].as_str().unwrap())).await, ["WebhookCreated"]);

    let plan = json!({ "plan": "growth" });
    let set = answer(keyed(&app, Method::PUT, "/v1/accounts/acc_1/plan", Some(&plan), "noop-2").await).await;
    assert_eq!(set, (200, None, json!({ "account_id": "acc_1", "plan": "growth" })));
    assert_eq!(answer(keyed(&app, Method::PUT, "/v1/accounts/acc_1/plan", Some(&plan), "noop-2").await).await, set);
    assert_eq!(event_types(&app, "account-acc_1").await, ["AccountPlanChanged"]);
    app.stop().await;
}

#[actix_web::test]
async fn a_retried_plan_change_is_stored_once_and_its_key_is_refused_for_another_plan() {
    let app = spawn_app().await;
    let plan_path = "/v1/accounts/acc_1/plan";
    let growth = json!({ "plan": "growth" });
    let first = answer(keyed(&app, Method::PUT, plan_path, Some(&growth), "plan-1").await).await;
    assert_eq!(first, (200, None, json!({ "account_id": "acc_1", "plan": "growth" })));
    let scale = json!({ "plan": "scale" });
    assert_eq!(keyed(&app, Method::PUT, plan_path, Some(&scale), "plan-2").await.status(), 200);
    // The retry of the first change does not move the account back to growth.
    assert_eq!(answer(keyed(&app, Method::PUT, plan_path, Some(&growth), "plan-1").await).await, first);
    assert_problem(keyed(&app, Method::PUT, plan_path, Some(&scale), "plan-1").await, 422, "idempotency_key_reused")
        .await;
    let events = app.stream_events("account-acc_1").await;
    assert_eq!(events.len(), 2, "one event per key");
    let last: Value = serde_json::from_slice(&events[1].data).unwrap();
    assert_eq!(last["plan"], "scale");
    app.stop().await;
}

#[actix_web::test]
async fn bad_keys_are_refused_on_every_command_route() {
    let app = spawn_app().await;
    let created = app.given_webhook("acc_1", "https://example.com/a").await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/webhooks/{id}");
    let create = hook("https://example.com/b");
    let plan = json!({ "plan": "scale" });
    let patch = json!({ "description": "x" });
    let routes: Vec<(Method, String, Option<&Value>)> = vec![
        (Method::POST, "/v1/accounts/acc_1/webhooks".to_owned(), Some(&create)),
        (Method::PUT, "/v1/accounts/acc_1/plan".to_owned(), Some(&plan)),
        (Method::PATCH, path.clone(), Some(&patch)),
        (Method::POST, format!("{path}/disable"), None),
        (Method::POST, format!("{path}/enable"), None),
        (Method::POST, format!("{path}/rotate-secret"), None),
        (Method::DELETE, path.clone(), None),
    ];
    for (method, route, body) in &routes {
        for key in ["k".repeat(256), String::new(), "tab\there".to_owned()] {
            let problem =
                assert_problem(keyed(&app, method.clone(), route, *body, &key).await, 400, "invalid_field").await;
            assert_eq!(problem["field"], "Idempotency-Key", "{method} {route}");
        }
    }
    let longest = "k".repeat(255);
    assert_eq!(keyed(&app, Method::POST, &format!("{path}/disable"), None, &longest).await.status(), 200);
    assert_eq!(event_types(&app, &format!("webhook-{id}")).await, ["WebhookCreated", "WebhookDisabled"]);
    assert_eq!(listed(&app, "acc_1").await.len(), 1);
    assert_eq!(event_types(&app, "account-acc_1").await, ["AccountPlanChanged"]);
    app.stop().await;
}

#[actix_web::test]
async fn the_openapi_document_shows_the_key_and_the_422_on_every_command() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let operations = [
        ("/v1/accounts/{account}/webhooks", "post"),
        ("/v1/accounts/{account}/plan", "put"),
        ("/v1/webhooks/{id}", "patch"),
        ("/v1/webhooks/{id}", "delete"),
        ("/v1/webhooks/{id}/enable", "post"),
        ("/v1/webhooks/{id}/disable", "post"),
        ("/v1/webhooks/{id}/rotate-secret", "post"),
    ];
    for (path, method) in operations {
        let operation = &doc["paths"][path][method];
        let params = operation["parameters"].as_array().unwrap_or_else(|| panic!("{method} {path}: {operation}"));
        assert!(
            params.iter().any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
            "{method} {path}: {params:?}"
        );
        assert!(operation["responses"]["422"].is_object(), "{method} {path}");
    }
    app.stop().await;
}
