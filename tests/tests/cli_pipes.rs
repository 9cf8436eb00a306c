//! The read-only commands piped into a reader that stops early (`| head`, a pager quit):
//! they end quietly, without a panic, a backtrace or an error, as `cat` does. Their stdout
//! here is a pipe whose read end is closed before they start, so every write fails with
//! EPIPE. The real binary runs against the SQLite log a real `serve` wrote.

use std::path::Path;
use std::process::{Command, Stdio};

use packhooks_tests::packhooks_bin;
use packhooks_tests::process::Launch;

const TOKEN: &str = "cli-pipes-token-0123456789";

/// Runs the binary on `data_dir` writing to a pipe nobody reads; returns its exit code and stderr.
fn into_closed_pipe(data_dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = Command::new(packhooks_bin!())
        .args(args)
        .env_clear()
        .env("PACKHOOKS_DATA_DIR", data_dir)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("the CLI runs");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_commands_end_quietly_when_their_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::new(packhooks_bin!(), dir.path()).env("PACKHOOKS_API_TOKEN", TOKEN).start();
    let client = reqwest::Client::new();
    server.set_plan(&client, TOKEN, "acc_1", "growth").await;
    let created = server.create_webhook(&client, TOKEN, "acc_1", "https://hooks.example.com/in").await;
    let id = created["id"].as_str().expect("an id").to_owned();
    server.terminate();

    let stream = format!("webhook-{id}");
    for args in [
        &["audit", "webhook", &id, "--at", "2100-01-01T00:00:00Z"][..],
        &["audit", "webhook", &id, "--at", "2100-01-01T00:00:00Z", "--json"],
        &["audit", "stream", &stream],
        &["audit", "export"],
        &["projections", "status"],
    ] {
        let (code, stderr) = into_closed_pipe(dir.path(), args);
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert_eq!(code, Some(0), "{args:?} ends quietly: {stderr}");
    }
}
