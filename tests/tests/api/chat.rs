//! Chat destinations end to end: the `format` field through create, PATCH, GET, list and the
//! audit state; a known chat URL choosing its format; and real HTTP to a receiver on
//! 127.0.0.1 answering as Slack, Discord and Teams do (Slack's 200 `ok` and 400
//! `invalid_payload`, a 404 `no_service`, Discord's 204, Teams' 202, a 410), with the chat
//! body signed as every body is and retries, health and disabling as for any webhook.

use std::time::Duration;

use packhooks_tests::app::{assert_problem, eventually, spawn_app, TestApp};
use packhooks_tests::receiver::{Received, Reply, TestReceiver};
use packhooks_tests::signatures::{case, verify_with_reference_library};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);
const EVIL: &str = "<!channel> @everyone <https://evil.example|click>";

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.expect("a JSON body")
}

async fn create(app: &TestApp, account: &str, body: Value) -> Value {
    app.set_plan(account, "growth").await;
    json_of(app.create_webhook(account, &body).await, 201).await
}

async fn view(app: &TestApp, id: &str) -> Value {
    json_of(app.get(&format!("/v1/webhooks/{id}")).await, 200).await
}

#[actix_web::test]
async fn a_known_chat_url_chooses_its_format_an_explicit_one_wins_and_every_view_shows_it() {
    let app = spawn_app().await;
    let events = json!(["interested", "declined"]);
    let slack =
        create(&app, "acc_c", json!({"url": "https://hooks.slack.com/services/T0/B0/x", "events": events})).await;
    assert_eq!((slack["format"].clone(), slack["format_detected"].clone()), (json!("slack"), json!(true)));
    let teams = create(&app, "acc_c", json!({"url": "https://prod-1.westus.logic.azure.com/workflows/a/triggers/manual/paths/invoke", "events": events})).await;
    assert_eq!((teams["format"].clone(), teams["format_detected"].clone()), (json!("teams"), json!(true)));
    let explicit = create(
        &app,
        "acc_c",
        json!({"url": "https://discord.com/api/webhooks/1/t", "events": events, "format": "standard"}),
    )
    .await;
    assert_eq!((explicit["format"].clone(), explicit["format_detected"].clone()), (json!("standard"), json!(false)));
    let plain = create(&app, "acc_d", json!({"url": "https://hooks.example.com/in", "events": events})).await;
    assert_eq!((plain["format"].clone(), plain["format_detected"].clone()), (json!("standard"), json!(false)));
    assert_problem(
        app.create_webhook(
            "acc_d",
            &json!({"url": "https://hooks.example.com/x", "events": events, "format": "email"}),
        )
        .await,
        400,
        "invalid_field",
    )
    .await;

    // PATCH: an explicit format; a new chat URL brings its own; the views all agree.
    let id = plain["id"].as_str().expect("an id");
    let patched = json_of(app.patch_json(&format!("/v1/webhooks/{id}"), &json!({"format": "teams"})).await, 200).await;
    assert_eq!((patched["format"].clone(), patched["format_detected"].clone()), (json!("teams"), json!(false)));
    let before_move = chrono::Utc::now();
    let moved =
        app.patch_json(&format!("/v1/webhooks/{id}"), &json!({"url": "https://discordapp.com/api/webhooks/2/t"})).await;
    let moved = json_of(moved, 200).await;
    assert_eq!((moved["format"].clone(), moved["format_detected"].clone()), (json!("discord"), json!(true)));
    assert_problem(app.patch_json(&format!("/v1/webhooks/{id}"), &json!({"format": 3})).await, 400, "invalid_type")
        .await;
    assert_eq!(view(&app, id).await["format"], "discord");
    let list = json_of(app.get("/v1/accounts/acc_d/webhooks").await, 200).await;
    assert_eq!(list["data"][0]["format"], "discord");
    assert!(list["data"][0].get("format_detected").is_none(), "only a change says what it detected");

    // The audit state at a time shows the format the webhook had then.
    let at = before_move.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let then = json_of(app.get(&format!("/v1/audit/webhooks/{id}/state?at={at}")).await, 200).await;
    assert_eq!(then["state"]["format"], "teams", "{then}");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let now = json_of(app.get(&format!("/v1/audit/webhooks/{id}/state?at={now}")).await, 200).await;
    assert_eq!(now["state"]["format"], "discord", "{now}");
}

/// A webhook of `format` to `path` on the receiver, for both event types; its id and secret.
async fn chat_webhook(app: &TestApp, receiver: &TestReceiver, path: &str, format: &str) -> (String, String) {
    let hook = create(
        app,
        "acc_chat",
        json!({"url": receiver.url(path), "events": ["interested", "declined"], "format": format}),
    )
    .await;
    assert_eq!(hook["format"], format);
    (hook["id"].as_str().expect("id").to_owned(), hook["secret"].as_str().expect("secret").to_owned())
}

/// A decline from a candidate with a hostile name and a custom reason.
async fn decline(app: &TestApp) {
    let body = json!({
        "account_id": "acc_chat", "pack_name": "Senior Rust Engineer",
        "candidate": {"name": EVIL, "email": "ada@example.com"},
        "reason": {"custom": "Reason #2"}, "feedback": "Thanks **all** @here"
    });
    assert_eq!(app.post_json("/v1/packs/pk_chat/decline", &body).await.status(), 202);
}

/// One decline delivered to a webhook of `format` at `path`, which answers with `reply`.
struct Delivered {
    app: TestApp,
    /// Kept so the receiver keeps answering.
    receiver: TestReceiver,
    id: String,
    secret: String,
    /// The request received, its signature checked by the reference library.
    received: Received,
}

async fn deliver_one(format: &str, path: &str, reply: Reply) -> Delivered {
    let app = spawn_app().await;
    let receiver = TestReceiver::start();
    receiver.on(path, move |_| reply.clone());
    let (id, secret) = chat_webhook(&app, &receiver, path, format).await;
    decline(&app).await;
    assert!(receiver.wait_for(Some(path), 1, WAIT).await, "nothing was delivered");
    let received = receiver.requests_to(path).remove(0);
    verify_with_reference_library(&[case(&secret, &received)]);
    assert_eq!(received.header("content-type"), Some("application/json"));
    Delivered { app, receiver, id, secret, received }
}

/// The webhook's only delivery once it is no longer pending.
async fn settled_delivery(app: &TestApp, id: &str) -> Value {
    eventually(WAIT, "the delivery to settle", || async {
        let page = json_of(app.get(&format!("/v1/webhooks/{id}/deliveries")).await, 200).await;
        page["data"].as_array().and_then(|d| d.first().cloned()).filter(|d| d["state"] != "pending")
    })
    .await
}

async fn status_becomes(app: &TestApp, id: &str, status: &str) -> Value {
    eventually(WAIT, &format!("the webhook to be {status}"), || async {
        let webhook = view(app, id).await;
        (webhook["status"] == status).then_some(webhook)
    })
    .await
}

#[actix_web::test]
async fn slack_gets_a_signed_block_kit_message_with_the_name_as_text_and_answers_ok() {
    let Delivered { app, receiver, id, secret, received } =
        deliver_one("slack", "/services/T0/B0/ok", Reply::ok().body("ok")).await;
    let body = received.json();
    assert!(body["text"]
        .as_str()
        .expect("text")
        .contains("&lt;!channel&gt; @everyone &lt;https://evil.example|click&gt;"));
    assert!(body["blocks"].as_array().is_some_and(|b| !b.is_empty()));
    let text = body.to_string();
    assert!(text.contains("Reason #2") && text.contains("Thanks **all** @here"), "{text}");
    assert!(!text.contains("<!channel>") && !text.contains("null"), "{text}");

    let delivery = settled_delivery(&app, &id).await;
    assert_eq!((delivery["state"].clone(), delivery["attempts"].clone()), (json!("delivered"), json!(1)));
    let dlv = delivery["delivery_id"].as_str().expect("a delivery id");
    let detail = json_of(app.get(&format!("/v1/webhooks/{id}/deliveries/{dlv}")).await, 200).await;
    assert_eq!(detail["body"].as_str().expect("a body").as_bytes(), &received.body[..], "the exact body sent");
    assert_eq!(detail["attempts"][0]["response_body"], "ok");
    assert_eq!(view(&app, &id).await["status"], "healthy");

    // A test event is a chat message too, marked as a test.
    let tested = app.post_json(&format!("/v1/webhooks/{id}/test?wait=true"), &json!({"event": "interested"})).await;
    assert_eq!(tested.status(), 200);
    let test = receiver.requests_to("/services/T0/B0/ok").pop().expect("the test event");
    verify_with_reference_library(&[case(&secret, &test)]);
    assert!(test.json()["text"].as_str().expect("text").starts_with("[Test] "), "{}", test.json());
}

#[actix_web::test]
async fn slacks_invalid_payload_and_no_service_are_failures_retried_then_abandoned_and_the_webhook_fails() {
    let app = spawn_app().await;
    let receiver = TestReceiver::start();
    receiver.on("/services/bad", |_| Reply::status(400).body("invalid_payload"));
    receiver.on("/services/gone", |_| Reply::status(404).body("no_service"));
    let (bad, _) = chat_webhook(&app, &receiver, "/services/bad", "slack").await;
    let (gone, _) = chat_webhook(&app, &receiver, "/services/gone", "slack").await;
    decline(&app).await;
    for (id, path, status, answer) in
        [(&bad, "/services/bad", 400, "invalid_payload"), (&gone, "/services/gone", 404, "no_service")]
    {
        let delivery = settled_delivery(&app, id).await;
        assert_eq!((delivery["state"].clone(), delivery["attempts"].clone()), (json!("abandoned"), json!(3)), "{path}");
        assert_eq!(delivery["last_attempt"]["status_code"], status);
        let dlv = delivery["delivery_id"].as_str().expect("a delivery id");
        let detail = json_of(app.get(&format!("/v1/webhooks/{id}/deliveries/{dlv}")).await, 200).await;
        assert!(detail["attempts"].as_array().expect("attempts").iter().all(|a| a["response_body"] == answer));
        let failing = status_becomes(&app, id, "failing").await;
        assert!(failing["disabled"].is_null(), "a failure, not a disable: {failing}");
        let sent = receiver.requests_to(path);
        assert_eq!(sent.len(), 3);
        assert!(
            sent.iter().all(|r| r.body == sent[0].body && r.webhook_id() == sent[0].webhook_id()),
            "every attempt the same"
        );
    }
}

#[actix_web::test]
async fn discord_gets_content_and_one_embed_that_ping_no_one_and_answers_204() {
    let Delivered { app, receiver: _receiver, id, received, .. } =
        deliver_one("discord", "/api/webhooks/1/t", Reply::status(204)).await;
    let body = received.json();
    assert_eq!(body["allowed_mentions"], json!({"parse": []}));
    assert_eq!(body["embeds"].as_array().map(Vec::len), Some(1));
    let content = body["content"].as_str().expect("content");
    assert!(content.contains("\\<!channel\\> @\u{200B}everyone"), "{content}");
    assert!(!body.to_string().contains("@everyone"), "{body}");
    let delivery = settled_delivery(&app, &id).await;
    assert_eq!(
        (delivery["state"].clone(), delivery["last_attempt"]["status_code"].clone()),
        (json!("delivered"), json!(204))
    );
}

#[actix_web::test]
async fn teams_gets_an_adaptive_card_and_answers_202() {
    let path = "/workflows/w/triggers/manual/paths/invoke";
    let Delivered { app, receiver: _receiver, id, received, .. } = deliver_one("teams", path, Reply::status(202)).await;
    let body = received.json();
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(attachment["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    let runs: Vec<&str> = attachment["content"]["body"]
        .as_array()
        .expect("a card body")
        .iter()
        .flat_map(|e| e["inlines"].as_array().into_iter().flatten())
        .filter_map(|r| r["text"].as_str())
        .collect();
    assert!(runs.contains(&EVIL), "the name as a plain text run: {runs:?}");
    let delivery = settled_delivery(&app, &id).await;
    assert_eq!(delivery["state"], "delivered");
}

#[actix_web::test]
async fn a_chat_endpoint_answering_410_is_disabled_like_any_other() {
    let app = spawn_app().await;
    let receiver = TestReceiver::start();
    receiver.on("/api/webhooks/9/gone", |_| Reply::status(410));
    let (id, _) = chat_webhook(&app, &receiver, "/api/webhooks/9/gone", "discord").await;
    decline(&app).await;
    let disabled = status_becomes(&app, &id, "disabled").await;
    assert_eq!(disabled["disabled"]["by"], "auto", "{disabled}");
    assert_eq!(receiver.requests().len(), 1, "no retry after a 410");
}
