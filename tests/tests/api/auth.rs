//! Bearer tokens: 401 without or with a wrong token, 403 without the route's role; the token
//! file is created owner-only on first start and reused after.

use std::os::unix::fs::PermissionsExt as _;

use packhooks::settings::ExtraToken;
use packhooks_api::auth::{Role, Token};
use packhooks_tests::app::{assert_problem, spawn_app, spawn_app_with, wrong_token};
use reqwest::Method;
use serde_json::json;

#[actix_web::test]
async fn no_token_or_a_wrong_one_is_401_with_a_challenge() {
    let app = spawn_app().await;
    let path = "/v1/accounts/acc_1/webhooks";
    let response = app.anonymous(Method::GET, path).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_problem(response, 401, "unauthorized").await;

    let response = app.anonymous(Method::GET, path).bearer_auth(wrong_token().expose()).send().await.unwrap();
    assert_problem(response, 401, "unauthorized").await;

    let response =
        app.anonymous(Method::GET, path).header("authorization", format!("Basic {}", app.token)).send().await.unwrap();
    assert_problem(response, 401, "unauthorized").await;
    app.stop().await;
}

#[actix_web::test]
async fn authentication_comes_before_reading_the_body() {
    let app = spawn_app().await;
    let response = app
        .anonymous(Method::PUT, "/v1/accounts/acc_1/plan")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(response, 401, "unauthorized").await;
    app.stop().await;
}

#[actix_web::test]
async fn each_role_opens_its_own_routes_and_403s_the_others() {
    let auditor = Token::parse("auditor-token-for-tests-0001").unwrap();
    let ops = Token::parse("ops-token-for-tests-000000001").unwrap();
    let frontend = Token::parse("frontend-token-for-tests-0001").unwrap();
    let app = spawn_app_with(|s| {
        s.api.tokens = vec![
            ExtraToken { token: auditor.clone(), roles: vec![Role::Auditor], name: None },
            ExtraToken { token: ops.clone(), roles: vec![Role::Ops], name: None },
            ExtraToken { token: frontend.clone(), roles: vec![Role::Frontend], name: None },
        ];
    })
    .await;
    let put_plan = |token: &Token| {
        app.anonymous(Method::PUT, "/v1/accounts/acc_1/plan")
            .bearer_auth(token.expose())
            .json(&json!({"plan": "growth"}))
            .send()
    };
    for token in [&auditor, &ops] {
        let body = assert_problem(put_plan(token).await.unwrap(), 403, "forbidden").await;
        assert!(body["detail"].as_str().unwrap().contains("frontend"), "{body}");
    }
    assert_eq!(put_plan(&frontend).await.unwrap().status(), 200);

    // Each role opens its own routes and no others.
    let status = |token: &Token, path: &str| {
        let request = app.anonymous(Method::GET, path).bearer_auth(token.expose());
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let routes =
        [("/v1/accounts/acc_1/webhooks", &frontend), ("/v1/audit/all", &auditor), ("/v1/ops/projections", &ops)];
    for (path, owner) in routes {
        for token in [&frontend, &auditor, &ops] {
            let expected = if std::ptr::eq(token, owner) { 200 } else { 403 };
            assert_eq!(status(token, path).await, expected, "{path}");
        }
        let all_roles = Token::parse(app.token.clone()).unwrap();
        assert_eq!(status(&all_roles, path).await, 200, "the generated token has every role: {path}");
    }
    app.stop().await;
}

#[actix_web::test]
async fn the_token_file_is_created_owner_only_and_reused_after_a_restart() {
    let app = spawn_app().await;
    let path = app.data_dir.path().join("api-token");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
    let first = app.token.clone();
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), first);
    app.set_plan("acc_1", "growth").await;

    let app = app.restart(|_| {}).await;
    assert_eq!(app.token, first, "the same token after a restart");
    app.set_plan("acc_1", "scale").await;
    app.stop().await;
}

#[actix_web::test]
async fn a_configured_token_is_used_and_no_file_is_written() {
    let configured = Token::parse("configured-token-0123456789").unwrap();
    let app = spawn_app_with(|s| s.api.token = Some(configured.clone())).await;
    assert_eq!(app.token, configured.expose());
    assert!(!app.data_dir.path().join("api-token").exists());
    app.set_plan("acc_1", "growth").await;
    app.stop().await;
}

#[actix_web::test]
async fn every_command_records_the_name_of_the_token_that_issued_it_never_the_token() {
    let named = Token::parse("recruiting-backend-token-0001").unwrap();
    let app = spawn_app_with(|s| {
        s.api.tokens = vec![ExtraToken {
            token: named.clone(),
            roles: vec![Role::Frontend],
            name: Some(packhooks_api::auth::TokenName::parse("recruiting-backend").unwrap()),
        }];
    })
    .await;
    let as_named = |method: Method, path: &str| app.anonymous(method, path).bearer_auth(named.expose());
    let plan = as_named(Method::PUT, "/v1/accounts/acc_1/plan").json(&json!({"plan": "growth"})).send().await.unwrap();
    assert_eq!(plan.status(), 200);
    let submitted = as_named(Method::POST, "/v1/packs/pk_1/interest")
        .json(&packhooks_tests::app::interest_body("acc_1"))
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 202);
    // The all-roles token has no name: its events record the role the route needed.
    let created = app.given_webhook("acc_1", "https://example.com/hook").await;

    let (shared, named) = (&app, &named);
    let issuers = |stream: String| {
        async move {
            let page: serde_json::Value = shared.get(&format!("/v1/audit/streams/{stream}")).await.json().await.unwrap();
            let events = page["data"].as_array().unwrap().clone();
            assert!(!page.to_string().contains(named.expose()), "the token never shows: {page}");
            events.iter().map(|e| (e["issued_by"].clone(), e["metadata"]["issued_by"].clone())).collect::<Vec<_>>()
        }
    };
    let by_name = json!({"role": "frontend", "token": "recruiting-backend"});
    assert_eq!(issuers("account-acc_1".into()).await, [(by_name.clone(), by_name.clone())]);
    assert_eq!(issuers("pack-pk_1".into()).await, [(by_name.clone(), by_name)]);
    let by_role = json!({"role": "frontend"});
    assert_eq!(issuers(format!("webhook-{}", created["id"].as_str().unwrap())).await, [(by_role.clone(), by_role)]);
    app.stop().await;
}
