//! Webhooks: create, list, read, change, enable, disable, rotate, delete; plan and limit
//! rules; URL validation; optimistic concurrency.

use futures::future::join_all;
use packhooks_domain::DomainEvent;
use packhooks_tests::app::{assert_problem, spawn_app, spawn_app_with};
use serde_json::{json, Value};

fn hook(url: &str) -> Value {
    json!({ "url": url, "events": ["interested"], "description": "CRM" })
}

#[actix_web::test]
async fn a_created_webhook_shows_its_secret_once() {
    let app = spawn_app().await;
    app.set_plan("acc_1", "growth").await;
    let response = app.create_webhook("acc_1", &hook("https://example.com/hooks")).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("wh_"), "{created}");
    assert_eq!(location, format!("/v1/webhooks/{id}"));
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["status"], "healthy");
    assert_eq!(created["url"], "https://example.com/hooks");
    assert_eq!(created["events"], json!(["interested"]));
    assert_eq!(created["description"], "CRM");
    assert!(created["failing_since"].is_null() && created["last_delivery"].is_null());

    let one: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(one["id"], id);
    assert!(one.get("secret").is_none(), "reading never shows the secret: {one}");
    let list: Value = app.get("/v1/accounts/acc_1/webhooks").await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], id);
    assert!(list["data"][0].get("secret").is_none());
    assert!(!list.to_string().contains("whsec_"));
    app.stop().await;
}

#[actix_web::test]
async fn lifecycle_update_disable_enable_rotate_delete() {
    let app = spawn_app().await;
    let created = app.given_webhook("acc_1", "https://example.com/a").await;
    let path = format!("/v1/webhooks/{}", created["id"].as_str().unwrap());

    let updated: Value = app
        .patch_json(
            &path,
            &json!({"url": "https://example.com/b", "events": ["declined", "interested"], "description": "CRM"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["url"], "https://example.com/b");
    assert_eq!(updated["events"], json!(["declined", "interested"]));
    assert_eq!(updated["description"], "CRM");
    let cleared: Value = app.patch_json(&path, &json!({"description": null})).await.json().await.unwrap();
    assert!(cleared["description"].is_null(), "{cleared}");
    assert_eq!(cleared["url"], "https://example.com/b", "absent fields stay");

    let disabled: Value = app.post_empty(&format!("{path}/disable")).await.json().await.unwrap();
    assert_eq!(disabled["status"], "disabled");
    assert_eq!(disabled["disabled"]["by"], "owner");
    let listed: Value = app.get("/v1/accounts/acc_1/webhooks").await.json().await.unwrap();
    assert_eq!(listed["data"][0]["status"], "disabled");
    let enabled: Value = app.post_empty(&format!("{path}/enable")).await.json().await.unwrap();
    assert_eq!(enabled["status"], "healthy");
    assert!(enabled["disabled"].is_null());

    let response = app.post_empty(&format!("{path}/rotate-secret")).await;
    assert_eq!(response.status(), 200);
    let rotated: Value = response.json().await.unwrap();
    let secret = rotated["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret != created["secret"].as_str().unwrap());
    assert_eq!(rotated["secret_version"], 2);
    assert!(rotated["previous_valid_until"].is_string());
    let one: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(one["secret_version"], 2);

    assert_eq!(app.delete(&path).await.status(), 204);
    assert_eq!(app.delete(&path).await.status(), 204, "deleting twice is fine");
    assert_problem(app.get(&path).await, 404, "not_found").await;
    assert_problem(app.post_empty(&format!("{path}/enable")).await, 404, "not_found").await;
    let listed: Value = app.get("/v1/accounts/acc_1/webhooks").await.json().await.unwrap();
    assert_eq!(listed["data"], json!([]));

    let stream = format!("webhook-{}", created["id"].as_str().unwrap());
    let types: Vec<_> = app.stream_events(&stream).await.into_iter().map(|e| e.event_type).collect();
    assert_eq!(
        types,
        [
            "WebhookCreated",
            "WebhookUpdated",
            "WebhookUpdated",
            "WebhookDisabled",
            "WebhookEnabled",
            "WebhookSecretRotated",
            "WebhookDeleted"
        ]
    );
    app.stop().await;
}

#[actix_web::test]
async fn unknown_webhook_ids_are_404() {
    let app = spawn_app().await;
    // A malformed id is 400 before any lookup (tests/tests/api/strict_input.rs).
    for id in ["wh_0123456789abcdef0123456789abcdef"] {
        let path = format!("/v1/webhooks/{id}");
        assert_problem(app.get(&path).await, 404, "not_found").await;
        assert_problem(app.patch_json(&path, &json!({"description": "x"})).await, 404, "not_found").await;
        assert_problem(app.delete(&path).await, 404, "not_found").await;
        for action in ["enable", "disable", "rotate-secret"] {
            assert_problem(app.post_empty(&format!("{path}/{action}")).await, 404, "not_found").await;
        }
    }
    app.stop().await;
}

#[actix_web::test]
async fn starter_and_unknown_accounts_may_not_have_webhooks() {
    let app = spawn_app().await;
    let problem =
        assert_problem(app.create_webhook("acc_new", &hook("https://example.com")).await, 403, "plan_not_eligible")
            .await;
    assert!(problem["field"].is_null());
    app.set_plan("acc_2", "starter").await;
    assert_problem(app.create_webhook("acc_2", &hook("https://example.com")).await, 403, "plan_not_eligible").await;
    app.set_plan("acc_2", "scale").await;
    assert_eq!(app.create_webhook("acc_2", &hook("https://example.com")).await.status(), 201);
    app.stop().await;
}

#[actix_web::test]
async fn an_account_has_at_most_four_webhooks_even_when_created_at_once() {
    let app = spawn_app().await;
    app.set_plan("acc_1", "growth").await;
    let body = hook("https://example.com/x");
    let responses = join_all((0..8).map(|_| app.create_webhook("acc_1", &body))).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 4, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 4, "{statuses:?}");
    let refused = responses.into_iter().find(|r| r.status() == 409).unwrap();
    assert_problem(refused, 409, "webhook_limit_reached").await;

    // Deleting one frees a slot.
    let list: Value = app.get("/v1/accounts/acc_1/webhooks").await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 4);
    let id = list["data"][0]["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/v1/webhooks/{id}")).await.status(), 204);
    assert_eq!(app.create_webhook("acc_1", &body).await.status(), 201);
    assert_problem(app.create_webhook("acc_1", &body).await, 409, "webhook_limit_reached").await;
    app.stop().await;
}

#[actix_web::test]
async fn the_limit_is_a_setting() {
    let app = spawn_app_with(|s| s.max_webhooks = 1).await;
    app.set_plan("acc_1", "growth").await;
    assert_eq!(app.create_webhook("acc_1", &hook("https://example.com")).await.status(), 201);
    assert_problem(app.create_webhook("acc_1", &hook("https://example.com")).await, 409, "webhook_limit_reached").await;
    app.stop().await;
}

#[actix_web::test]
async fn bad_urls_and_events_are_refused_with_the_field() {
    let app = spawn_app_with(|s| s.allow_private_targets = false).await;
    app.set_plan("acc_1", "growth").await;
    let too_long = format!("https://example.com/{}", "a".repeat(2048));
    for url in [
        "ftp://example.com/x",
        "https://user:pw@example.com/",
        "not a url",
        too_long.as_str(),
        "http://127.0.0.1:9/x",
        "http://10.0.0.8/x",
        "http://[::1]/x",
    ] {
        let problem = assert_problem(app.create_webhook("acc_1", &hook(url)).await, 400, "invalid_url").await;
        assert_eq!(problem["field"], "url", "{url}");
    }
    let problem = assert_problem(
        app.create_webhook("acc_1", &json!({"url": "https://example.com", "events": []})).await,
        400,
        "invalid_field",
    )
    .await;
    assert_eq!(problem["field"], "events");
    let problem = assert_problem(
        app.create_webhook("acc_1", &json!({"url": "https://example.com", "events": ["interested", "interested"]}))
            .await,
        400,
        "invalid_field",
    )
    .await;
    assert_eq!(problem["field"], "events");
    let problem = assert_problem(
        app.create_webhook("acc_1", &json!({"url": "https://example.com", "events": ["hired"]})).await,
        400,
        "invalid_field",
    )
    .await;
    assert_eq!(problem["field"], "events[0]");

    let created = app.create_webhook("acc_1", &hook("https://example.com")).await.json::<Value>().await.unwrap();
    let path = format!("/v1/webhooks/{}", created["id"].as_str().unwrap());
    let problem =
        assert_problem(app.patch_json(&path, &json!({"url": "gopher://example.com"})).await, 400, "invalid_url").await;
    assert_eq!(problem["field"], "url");
    app.stop().await;
}

#[actix_web::test]
async fn concurrent_changes_of_one_webhook_never_lose_an_update() {
    let app = spawn_app().await;
    let created = app.given_webhook("acc_1", "https://example.com").await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/webhooks/{id}");
    let mut accepted = 0;
    let mut conflicts = 0;
    // Rounds of concurrent patches until a race has shown up (bounded).
    for round in 0..20 {
        let bodies: Vec<Value> =
            (0..16).map(|i| json!({ "description": format!("round {round} patch {i}") })).collect();
        let responses = join_all(bodies.iter().map(|b| app.patch_json(&path, b))).await;
        for response in responses {
            match response.status().as_u16() {
                200 => accepted += 1,
                409 => {
                    assert_problem(response, 409, "conflict").await;
                    conflicts += 1;
                }
                other => panic!("unexpected status {other}"),
            }
        }
        if conflicts > 0 {
            break;
        }
    }
    assert!(conflicts > 0, "no race in 20 rounds of 16 concurrent patches");
    let updates = app
        .stream_events(&format!("webhook-{id}"))
        .await
        .iter()
        .filter(|e| matches!(DomainEvent::decode(&e.event_type, &e.data).unwrap(), DomainEvent::WebhookUpdated(_)))
        .count();
    assert_eq!(updates, accepted, "every 200 is one event, every 409 none");
    app.stop().await;
}
