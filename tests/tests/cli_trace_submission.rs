//! One submission's way through `packhooks serve`, found in its log by its id: the real
//! binary runs at `PACKHOOKS_LOG=info` and `debug`, in the text and the JSON format, takes a
//! submission for a webhook whose endpoint (a `TestReceiver` on 127.0.0.1) always answers
//! 500, and every line about it, from the HTTP request to the last attempt and what followed
//! (abandoned, flagged failing), carries its `submission_id`; the attempts' lines carry the
//! webhook id too.

use std::process::Command;

use packhooks_tests::packhooks_bin;
use packhooks_tests::process::{serve_logging_to, wait_logged};
use packhooks_tests::receiver::{Reply, TestReceiver};
use serde_json::{json, Value};

const TOKEN: &str = "trace-submission-token-0123456789";

/// A log line as the test reads it: its message and every field of it and of its spans.
struct Line {
    text: String,
    message: String,
    /// `name=value` of the event's fields and of every span it is in.
    fields: Vec<(String, String)>,
}

impl Line {
    fn field(&self, name: &str) -> Vec<&str> {
        self.fields.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// Reads a JSON line: the flattened event's fields, `span` and every entry of `spans`.
fn json_line(text: &str) -> Option<Line> {
    let value: Value = serde_json::from_str(text).ok()?;
    let mut fields = Vec::new();
    let mut take = |object: &Value| {
        for (k, v) in object.as_object().into_iter().flatten() {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            fields.push((k.clone(), v));
        }
    };
    take(&value);
    take(&value["span"]);
    value["spans"].as_array().into_iter().flatten().for_each(&mut take);
    Some(Line { text: text.to_owned(), message: value["message"].as_str()?.to_owned(), fields })
}

/// Reads a text line: `… target: message k=v …` with `span{k=v …}:` before the target.
fn text_line(text: &str) -> Option<Line> {
    let mut fields = Vec::new();
    for word in text.split([' ', '{', '}', ':']) {
        if let Some((k, v)) = word.split_once('=') {
            fields.push((k.to_owned(), v.trim_matches('"').to_owned()));
        }
    }
    // The message follows the last `target: ` (targets are Rust paths, `packhooks_…`).
    let after = text.rsplit_once(": ").map(|(_, rest)| rest)?;
    let message = after.split(" ").take_while(|w| !w.contains('=')).collect::<Vec<_>>().join(" ");
    Some(Line { text: text.to_owned(), message, fields })
}

async fn send(request: reqwest::RequestBuilder, expected: u16) -> Value {
    let response = request.bearer_auth(TOKEN).send().await.expect("the request is sent");
    assert_eq!(response.status().as_u16(), expected);
    response.json().await.unwrap_or(Value::Null)
}

/// Runs serve at `level` in `format` through one failing submission; returns its id, the
/// webhook's and the log lines.
async fn one_failing_submission(level: &str, format: &str) -> (String, String, Vec<Line>) {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("serve.log");
    let env = [
        ("PACKHOOKS_API_TOKEN", TOKEN),
        ("PACKHOOKS_ALLOW_PRIVATE_TARGETS", "true"),
        ("PACKHOOKS_RETRY_DELAYS", "50ms,100ms"),
        ("PACKHOOKS_RETRY_JITTER", "0"),
        ("PACKHOOKS_LOG", level),
        ("PACKHOOKS_LOG_FORMAT", format),
    ];
    let mut child = serve_logging_to(packhooks_bin!(), &dir.path().join("data"), &env, &log_path);
    let log = wait_logged(&mut child, &log_path, "packhooks is listening");
    let listening = log.lines().find(|l| l.contains("packhooks is listening")).unwrap();
    let port: String = listening
        .split("port")
        .nth(1)
        .expect("the port is logged")
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let http = reqwest::Client::new();
    let receiver = TestReceiver::start();
    receiver.on("/down", |_| Reply::status(500));

    send(http.put(url("/v1/accounts/acc_t/plan")).json(&json!({"plan": "growth"})), 200).await;
    let created = send(
        http.post(url("/v1/accounts/acc_t/webhooks")).json(&json!({"url": receiver.url("/down"), "events": ["interested"]})),
        201,
    )
    .await;
    let body = json!({"account_id": "acc_t", "pack_name": "Traced", "candidate": {"name": "Ada"}});
    let accepted = send(http.post(url("/v1/packs/pk_t/interest")).json(&body), 202).await;
    tokio::task::spawn_blocking({
        let (mut child, log_path) = (child, log_path.clone());
        move || {
            wait_logged(&mut child, &log_path, "webhook flagged failing");
            let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
            assert!(status.success());
            assert!(child.wait().unwrap().success(), "serve exits 0 after SIGTERM");
        }
    })
    .await
    .unwrap();
    assert_eq!(receiver.requests_to("/down").len(), 3);
    let read = if format == "json" { json_line } else { text_line };
    let lines = std::fs::read_to_string(&log_path).unwrap().lines().filter_map(read).collect();
    let id = |v: &Value| v.as_str().expect("an id").to_owned();
    (id(&accepted["submission_id"]), id(&created["id"]), lines)
}

/// The lines that carry `submission`, by message, checked for what every level must show.
async fn check(level: &str, format: &str) {
    let (submission, webhook, lines) = one_failing_submission(level, format).await;
    let about: Vec<&Line> = lines.iter().filter(|l| l.field("submission_id").contains(&submission.as_str())).collect();
    let messages: Vec<&str> = about.iter().map(|l| l.message.as_str()).collect();
    let all = || about.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n");
    // From the HTTP request …
    let request = about.iter().find(|l| l.message == "request").unwrap_or_else(|| panic!("no request line: {}", all()));
    assert_eq!(request.field("status"), ["202"], "{}", request.text);
    // … to the last attempt and what followed it, each naming the webhook.
    for message in ["delivery abandoned", "webhook flagged failing"] {
        let line = about.iter().find(|l| l.message == message).unwrap_or_else(|| panic!("no {message:?}: {}", all()));
        assert!(line.field("webhook_id").contains(&webhook.as_str()), "{}", line.text);
        assert!(line.field("attempt").contains(&"3"), "{}", line.text);
    }
    if level == "debug" {
        assert!(messages.contains(&"submission stored") && messages.contains(&"routed"), "{messages:?}");
        let attempts: Vec<&&Line> = about.iter().filter(|l| l.message == "attempted").collect();
        assert_eq!(attempts.len(), 3, "{}", all());
        for (n, line) in attempts.iter().enumerate() {
            assert!(line.field("webhook_id").contains(&webhook.as_str()), "{}", line.text);
            assert!(line.field("attempt").contains(&(n + 1).to_string().as_str()), "{}", line.text);
        }
    }
    // Nothing else is said to be about it: the plan and the webhook's requests are not.
    assert!(lines.iter().filter(|l| l.message == "request").count() >= 3);
    assert_eq!(about.iter().filter(|l| l.message == "request").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submissions_text_log_lines_carry_its_id_at_info() {
    check("info", "text").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submissions_json_log_lines_carry_its_id_at_info() {
    check("info", "json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submissions_text_log_lines_carry_its_id_from_request_to_each_attempt_at_debug() {
    check("debug", "text").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submissions_json_log_lines_carry_its_id_from_request_to_each_attempt_at_debug() {
    check("debug", "json").await;
}
