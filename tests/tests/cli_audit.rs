//! A webhook's state at a time, as auditors ask for it: over HTTP
//! (`GET /v1/audit/webhooks/{id}/state?at=`) and with `packhooks audit webhook --at`,
//! against a real `serve` process and its SQLite log. Times are written as people write
//! them: with a UTC offset, its `+` typed straight into the query string (where form
//! decoding turns it into a space); an id that no webhook ever had is not "not created yet".
//! `packhooks audit submission` explains a submission as `GET /v1/submissions/{id}` does.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use packhooks_tests::packhooks_bin;
use packhooks_tests::process::{run_cli, Launch, ServerProcess};
use serde_json::{json, Value};

const TOKEN: &str = "cli-audit-token-0123456789";

/// `GET /v1/audit/webhooks/{id}/state?at={at}`, `at` put into the URL as it is.
async fn state_at(client: &reqwest::Client, server: &ServerProcess, id: &str, at: &str) -> (u16, Value) {
    let response = client
        .get(server.url(&format!("/v1/audit/webhooks/{id}/state?at={at}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request sent");
    (response.status().as_u16(), response.json().await.expect("a JSON answer"))
}

/// A webhook created on a growth account; its id and its `WebhookCreated` time.
async fn created_webhook(client: &reqwest::Client, server: &ServerProcess) -> (String, DateTime<Utc>) {
    server.set_plan(client, TOKEN, "acc_1", "growth").await;
    let created = server.create_webhook(client, TOKEN, "acc_1", "https://hooks.example.com/in").await;
    let id = created["id"].as_str().expect("an id").to_owned();
    let history: Value = client
        .get(server.url(&format!("/v1/audit/streams/webhook-{id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = &history["data"][0];
    assert_eq!(event["event_type"], "WebhookCreated");
    let at = event["data"]["recorded_at"].as_str().unwrap().parse().unwrap();
    (id, at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_with_a_utc_offset_typed_into_the_query_is_the_same_instant() {
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::new(packhooks_bin!(), dir.path()).env("PACKHOOKS_API_TOKEN", TOKEN).start();
    let client = reqwest::Client::new();
    let (id, created_at) = created_webhook(&client, &server).await;

    let plus_one = FixedOffset::east_opt(3600).unwrap();
    let written = |t: DateTime<Utc>| t.with_timezone(&plus_one).to_rfc3339_opts(SecondsFormat::AutoSi, false);
    let at_creation = written(created_at);
    assert!(at_creation.ends_with("+01:00"), "{at_creation}");
    let (status, state) = state_at(&client, &server, &id, &at_creation).await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["state"]["state"], "active", "exactly at its creation it exists: {state}");
    assert_eq!(state["at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), created_at);

    let just_before = written(created_at - chrono::Duration::nanoseconds(1));
    let (status, state) = state_at(&client, &server, &id, &just_before).await;
    assert_eq!((status, &state["state"]["state"]), (200, &json!("none")), "{state}");

    // Encoded, and in UTC, the answers are the same.
    let encoded = at_creation.replace('+', "%2B");
    assert_eq!(state_at(&client, &server, &id, &encoded).await.1["state"]["state"], "active");
    let utc = created_at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    assert_eq!(state_at(&client, &server, &id, &utc).await.1["state"]["state"], "active");

    // The CLI takes the same time with its offset.
    let output = run_cli(packhooks_bin!(), dir.path(), &["audit", "webhook", &id, "--at", &at_creation, "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let state: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(state["state"]["state"], "active");
    // As text, every time is RFC 3339 UTC with Z (it was +00:00).
    let output = run_cli(packhooks_bin!(), dir.path(), &["audit", "webhook", &id, "--at", &utc]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && text.contains(&format!(" at {utc}")), "{text}");
    assert!(!text.contains("+00:00") && text.contains(&format!("created: {utc}")), "{text}");
    server.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_id_that_never_existed_is_not_found_rather_than_not_created_yet() {
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::new(packhooks_bin!(), dir.path()).env("PACKHOOKS_API_TOKEN", TOKEN).start();
    let client = reqwest::Client::new();
    let (id, created_at) = created_webhook(&client, &server).await;
    let never = "wh_00000000000000000000000000000000";
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::AutoSi, true);

    let (status, problem) = state_at(&client, &server, never, &now).await;
    assert_eq!((status, &problem["code"]), (404, &json!("not_found")), "{problem}");
    // A webhook created later is still "none" before its creation.
    let before = (created_at - chrono::Duration::seconds(1)).to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let (status, state) = state_at(&client, &server, &id, &before).await;
    assert_eq!((status, &state["state"]["state"]), (200, &json!("none")), "{state}");

    let output = run_cli(packhooks_bin!(), dir.path(), &["audit", "webhook", never, "--at", &now]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused: {}", String::from_utf8_lossy(&output.stdout));
    assert!(stderr.contains(never) && stderr.contains("no webhook"), "{stderr}");
    let output = run_cli(packhooks_bin!(), dir.path(), &["audit", "webhook", &id, "--at", &before]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("did not exist yet"));
    server.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_stream_shows_readable_rows_with_limit_and_from_and_errors_before_any_header() {
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::new(packhooks_bin!(), dir.path()).env("PACKHOOKS_API_TOKEN", TOKEN).start();
    let client = reqwest::Client::new();
    server.set_plan(&client, TOKEN, "acc_1", "scale").await;
    server.set_plan(&client, TOKEN, "acc_1", "growth").await;
    let (id, _) = created_webhook(&client, &server).await;

    let text = |args: &[&str]| {
        let output = run_cli(packhooks_bin!(), dir.path(), args);
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let account = text(&["audit", "stream", "account-acc_1"]);
    let lines: Vec<&str> = account.lines().collect();
    assert!(lines[0].starts_with("REVISION") && lines[0].contains("TIME") && lines[0].contains("DETAILS"), "{account}");
    assert_eq!(lines.len(), 3, "a header and two plan changes (growth again changes nothing): {account}");
    assert!(lines[1].contains("AccountPlanChanged") && lines[1].contains("plan=scale"), "{account}");
    assert!(lines[2].contains("plan=growth previous=scale"), "{account}");
    assert!(lines[1].contains('Z') && !lines[1].contains('{'), "a time in UTC, no JSON: {account}");

    let webhook = text(&["audit", "stream", &format!("webhook-{id}")]);
    assert!(webhook.contains(&format!("webhook={id} url=https://hooks.example.com/in events=")), "{webhook}");

    let limited = text(&["audit", "stream", "account-acc_1", "--from", "1", "--limit", "1"]);
    let rows: Vec<&str> = limited.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{limited}");
    assert!(rows[0].trim_start().starts_with("1 ") && rows[0].contains("plan=growth previous=scale"), "{limited}");
    let newest = text(&["audit", "stream", "account-acc_1", "--backwards", "--limit", "1", "--json"]);
    let event: Value = serde_json::from_str(newest.trim()).expect("one JSON line");
    assert_eq!(event["revision"], 1);

    for (args, expected) in [
        (&["audit", "stream", "account-nobody"][..], "stream account-nobody not found"),
        (&["audit", "stream", "account-acc_1", "--limit", "0"], "1..=1000000"),
        (&["audit", "stream", "account-acc_1", "--from", "first"], "invalid digit"),
    ] {
        let output = run_cli(packhooks_bin!(), dir.path(), args);
        assert!(!output.status.success(), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?} printed {}", String::from_utf8_lossy(&output.stdout));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    server.terminate();
}

async fn post(client: &reqwest::Client, server: &ServerProcess, path: &str, body: Value) -> Value {
    let response = client.post(server.url(path)).bearer_auth(TOKEN).json(&body).send().await.expect("request sent");
    response.json().await.expect("a JSON answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_submission_explains_as_the_api_does_beside_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::new(packhooks_bin!(), dir.path()).env("PACKHOOKS_API_TOKEN", TOKEN).start();
    let client = reqwest::Client::new();
    server.set_plan(&client, TOKEN, "acc_1", "growth").await;
    let created = post(
        &client,
        &server,
        "/v1/accounts/acc_1/webhooks",
        json!({"url": "https://hooks.example.com/in", "events": ["declined"]}),
    )
    .await;
    let webhook = created["id"].as_str().unwrap().to_owned();
    let body = json!({"account_id": "acc_1", "pack_name": "Pack", "candidate": {"name": "Ada"}});
    let accepted = post(&client, &server, "/v1/packs/pk_1/interest", body).await;
    let submission = accepted["submission_id"].as_str().unwrap().to_owned();
    let mut api = Value::Null;
    for _ in 0..200 {
        let response =
            client.get(server.url(&format!("/v1/submissions/{submission}"))).bearer_auth(TOKEN).send().await.unwrap();
        if response.status() == 200 {
            api = response.json().await.unwrap();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(api["webhooks"][0]["webhook_id"], webhook.as_str(), "{api}");
    assert_eq!(api["webhooks"][0]["reason"], "other_event_type", "{api}");

    let output = run_cli(packhooks_bin!(), dir.path(), &["audit", "submission", &submission, "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let cli: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(cli, api, "the CLI's explanation is the API's");
    let output = run_cli(packhooks_bin!(), dir.path(), &["audit", "submission", &submission]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains(&format!("webhook {webhook}: not routed: other_event_type")), "{text}");

    let output =
        run_cli(packhooks_bin!(), dir.path(), &["audit", "submission", "sub_0000000000000000000000000000abcd"]);
    assert!(!output.status.success() && output.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no submission"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    server.terminate();
}
