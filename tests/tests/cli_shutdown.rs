//! Stopping `packhooks serve`: a first SIGTERM or SIGINT stops it gracefully, letting
//! attempts in flight finish (up to the attempt timeout); a second signal stops it at once,
//! as an operator pressing Ctrl-C again expects (nothing acknowledged is lost: a stop at any
//! moment is as safe as kill -9). The real binary runs as a child process, delivering to an
//! endpoint that accepts connections and never answers, with an attempt timeout of an hour.

use std::io::Read as _;
use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use packhooks_tests::packhooks_bin;
use packhooks_tests::process::{serve_logging_to, wait_logged};
use serde_json::json;

const TOKEN: &str = "cli-shutdown-token-0123456789";

/// Sends `signal` (`TERM`, `INT`) to the child.
fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
    assert!(status.success(), "kill -{signal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_serve_at_once_while_an_attempt_is_in_flight() {
    // An endpoint that takes each connection and never answers.
    let endpoint = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint_port = endpoint.local_addr().unwrap().port();
    let (accepted_tx, accepted) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in endpoint.incoming().map_while(Result::ok) {
            let mut first = [0u8; 1];
            let mut reader = stream.try_clone().unwrap();
            if reader.read(&mut first).unwrap_or(0) > 0 {
                let _ = accepted_tx.send(());
            }
            held.push(stream);
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("serve.log");
    let env = [
        ("PACKHOOKS_API_TOKEN", TOKEN),
        ("PACKHOOKS_ALLOW_PRIVATE_TARGETS", "true"),
        ("PACKHOOKS_ATTEMPT_TIMEOUT", "1h"),
        ("PACKHOOKS_LOG", "warn,packhooks::startup=info"),
    ];
    let mut child = serve_logging_to(packhooks_bin!(), &dir.path().join("data"), &env, &log_path);
    let log = wait_logged(&mut child, &log_path, "packhooks is listening");
    let port: u16 = log.split("port=").nth(1).and_then(|rest| rest.split(' ').next()).unwrap().parse().unwrap();
    let base = format!("http://127.0.0.1:{port}");

    let client = reqwest::Client::new();
    let plan = client.put(format!("{base}/v1/accounts/acc_1/plan")).bearer_auth(TOKEN).json(&json!({"plan": "growth"}));
    assert!(plan.send().await.unwrap().status().is_success());
    let hook = json!({"url": format!("http://127.0.0.1:{endpoint_port}/hook"), "events": ["interested"]});
    let create = client.post(format!("{base}/v1/accounts/acc_1/webhooks")).bearer_auth(TOKEN).json(&hook);
    assert_eq!(create.send().await.unwrap().status(), 201);
    let submission = json!({"account_id": "acc_1", "pack_name": "Backend", "candidate": {"name": "Ada"}});
    let submit = client.post(format!("{base}/v1/packs/pk_1/interest")).bearer_auth(TOKEN).json(&submission);
    assert_eq!(submit.send().await.unwrap().status(), 202);
    accepted.recv_timeout(Duration::from_secs(30)).expect("the attempt reaches the endpoint");

    // The first signal waits for the attempt in flight (an hour at most)…
    signal(&child, "TERM");
    wait_logged(&mut child, &log_path, "shutting down");
    assert!(child.try_wait().unwrap().is_none(), "still stopping gracefully");
    // …the second does not.
    signal(&child, "INT");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let log = std::fs::read_to_string(&log_path).unwrap();
            panic!("serve still running 30 s after a second signal: {log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "a forced stop is not a clean one: {status}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("second signal"), "{log}");
}
