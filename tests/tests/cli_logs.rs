//! What `packhooks serve` writes to stderr when that is not a terminal (a file, journald,
//! `docker logs`): plain text log lines an operator can grep, without terminal colour codes.
//! The real binary runs as a child process with its stderr in a file or a pipe. Also which
//! requests are logged at which level: probes and scrapes at debug, a client's malformed HTTP
//! at debug (not as a server error).

use std::io::{Read as _, Write as _};
use std::process::Command;
use std::time::{Duration, Instant};

use packhooks_tests::packhooks_bin;
use packhooks_tests::process::{serve_logging_to, wait_logged, Launch, ServerProcess};
use serde_json::Value;

#[test]
fn text_logs_written_to_a_file_carry_no_terminal_escape_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("serve.log");
    let env = [("PACKHOOKS_API_TOKEN", "cli-logs-token-0123456789"), ("PACKHOOKS_LOG_FORMAT", "text")];
    let mut child = serve_logging_to(packhooks_bin!(), &dir.path().join("data"), &env, &log_path);
    wait_logged(&mut child, &log_path, "packhooks is listening");
    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success(), "serve exits 0 after SIGTERM");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("packhooks stopped"), "{log}");
    assert!(!log.contains('\u{1b}'), "escape codes in the log file: {log:?}");
    let listening = log.lines().find(|l| l.contains("packhooks is listening")).unwrap();
    assert!(listening.contains(" INFO ") && listening.contains("port="), "a plain line: {listening:?}");
}

const TOKEN: &str = "cli-logs-token-0123456789";

/// Waits (bounded) for a log line containing `text`. Lines are read in the order serve wrote
/// them, so once it is there every line written before it is too.
async fn wait_for_line(server: &ServerProcess, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(line) = server.logged(text).into_iter().next() {
            return line;
        }
        assert!(Instant::now() < deadline, "serve never logged {text:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn probes_and_scrapes_are_logged_at_debug_and_requests_at_info_in_rounded_milliseconds() {
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::new(packhooks_bin!(), &dir.path().join("data"))
        .env("PACKHOOKS_API_TOKEN", TOKEN)
        .log_filter("info")
        .start();
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz", "/metrics", "/v1/event-types"] {
        client.get(server.url(path)).bearer_auth(TOKEN).send().await.unwrap();
    }
    let line: Value = serde_json::from_str(&wait_for_line(&server, r#""path":"/v1/event-types""#).await).unwrap();
    assert_eq!(line["level"], "INFO", "{line}");
    let elapsed = line["elapsed_ms"].to_string();
    let decimals = elapsed.split_once('.').map_or(0, |(_, fraction)| fraction.len());
    assert!(line["elapsed_ms"].is_number() && decimals <= 3, "milliseconds to the microsecond: {elapsed}");
    for probe in ["/healthz", "/readyz", "/metrics"] {
        let path = format!(r#""path":"{probe}""#);
        assert_eq!(server.logged(&path), Vec::<String>::new(), "{probe} is logged at debug only");
    }
    server.terminate();
}

#[tokio::test]
async fn a_request_the_http_parser_refuses_is_a_debug_line_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::new(packhooks_bin!(), &dir.path().join("data"))
        .env("PACKHOOKS_API_TOKEN", TOKEN)
        .log_filter("info,packhooks::http=debug")
        .start();
    // A NUL byte in a header value: actix-http's parser refuses it before any route runs.
    let address = server.address.trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Bad: a\x00b\r\n\r\n").unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    reqwest::get(server.url("/v1/event-types")).await.unwrap();
    wait_for_line(&server, r#""path":"/v1/event-types""#).await;
    let refused: Value =
        serde_json::from_str(&wait_for_line(&server, "connection closed on a client error").await).unwrap();
    assert_eq!(
        (refused["level"].as_str(), refused["target"].as_str()),
        (Some("DEBUG"), Some("packhooks::http")),
        "{refused}"
    );
    assert!(refused["error"].as_str().is_some_and(|e| e.contains("parse")), "the parser's reason is kept: {refused}");
    assert_eq!(
        server.logged(r#""level":"ERROR""#),
        Vec::<String>::new(),
        "a client's malformed request is not an error of the server"
    );
    server.terminate();
}
