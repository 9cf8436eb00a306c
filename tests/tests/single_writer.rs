//! One `packhooks serve` per data directory, with real processes: a second `serve` on the
//! same directory exits non-zero at once with one clear line while the first keeps serving;
//! the `audit` CLI reads the directory while the server writes it; after a SIGKILL of the
//! server the OS has released its lock and a new `serve` starts on the same directory.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use packhooks_tests::packhooks_bin;
use packhooks_tests::process::{Launch, ServerProcess};
use serde_json::{json, Value};

const TOKEN: &str = "single-writer-token-0123456789ab";

/// Bound on a process that should end by itself (a refused `serve`, a CLI command).
const EXIT_WAIT: Duration = Duration::from_secs(60);

/// Runs `packhooks <args>` on `data_dir` to its exit (bounded; killed if it overruns).
async fn run(data_dir: &Path, args: &[&str]) -> Output {
    let child = tokio::process::Command::new(packhooks_bin!())
        .args(args)
        .env_clear()
        .env("PACKHOOKS_DATA_DIR", data_dir)
        .env("PACKHOOKS_LISTEN", "127.0.0.1:0")
        .env("PACKHOOKS_API_TOKEN", TOKEN)
        .env("PACKHOOKS_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    tokio::time::timeout(EXIT_WAIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("packhooks {args:?} did not exit within {EXIT_WAIT:?}"))
        .expect("its output is collected")
}

fn start(data_dir: &Path, name: &str) -> ServerProcess {
    Launch::new(packhooks_bin!(), data_dir).name(name).env("PACKHOOKS_API_TOKEN", TOKEN).start()
}

/// Submits an interest to `pack`; returns its log position.
async fn submit(client: &reqwest::Client, server: &ServerProcess, pack: &str, n: u32) -> u64 {
    let response = client
        .post(server.url(&format!("/v1/packs/{pack}/interest")))
        .bearer_auth(TOKEN)
        .json(&json!({"account_id": "acc_1", "pack_name": "Backend", "candidate": {"name": format!("Candidate {n}")}}))
        .send()
        .await
        .expect("the submission is answered");
    assert_eq!(response.status(), 202, "{} accepts a submission", server.name);
    let answer: Value = response.json().await.expect("a JSON answer");
    answer["position"].as_str().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("a position in {answer}"))
}

/// The `audit stream <stream> --json` lines, as JSON.
async fn audit_stream(data_dir: &Path, stream: &str) -> Vec<Value> {
    let output = run(data_dir, &["audit", "stream", stream, "--json"]).await;
    assert!(output.status.success(), "audit stream fails: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_a_data_directory_is_refused_and_a_killed_one_leaves_it_free() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("events.sqlite");
    let client = reqwest::Client::new();
    let first = start(dir.path(), "first");
    first.wait_healthy(&client).await;
    let before = submit(&client, &first, "pk_1", 1).await;
    let holder = std::fs::read_to_string(dir.path().join("events.sqlite.lock")).expect("the lock file");
    let holder = holder.trim();
    assert!(holder.parse::<u32>().is_ok(), "the lock file holds the server's pid: {holder:?}");

    // A second serve on the same directory: refused at once, one clear line, no panic.
    let second = run(dir.path(), &["serve"]).await;
    let stderr = String::from_utf8_lossy(&second.stderr).into_owned();
    assert!(!second.status.success(), "the second serve exits non-zero: {stderr}");
    let line = stderr.lines().find(|l| l.contains("is writing to it")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.starts_with("packhooks: "), "{line}");
    assert!(line.contains(&database.display().to_string()), "names the database: {line}");
    assert!(line.contains(&format!("another process (pid {holder}) is writing to it")), "{line}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    assert!(!String::from_utf8_lossy(&second.stdout).contains("token"), "it stopped before anything else");

    // The first keeps serving, and the CLI reads beside it, including what it writes later.
    let after = submit(&client, &first, "pk_1", 2).await;
    assert!(after > before);
    let events = audit_stream(dir.path(), "pack-pk_1").await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| e["event_type"] == "CandidateInterested"), "{events:?}");
    let status = run(dir.path(), &["projections", "status"]).await;
    assert!(status.status.success(), "projections status fails: {}", String::from_utf8_lossy(&status.stderr));
    let third_pack = submit(&client, &first, "pk_1", 3).await;
    assert_eq!(audit_stream(dir.path(), "pack-pk_1").await.len(), 3, "the CLI sees a later append");

    // SIGKILL: nothing releases the lock but the OS, and a new serve starts at once.
    first.kill();
    let restarted = start(dir.path(), "restarted");
    restarted.wait_healthy(&client).await;
    let resumed = submit(&client, &restarted, "pk_1", 4).await;
    assert!(resumed > third_pack, "the new writer continues the log after {third_pack}, got {resumed}");
    restarted.terminate();

    let events = audit_stream(dir.path(), "pack-pk_1").await;
    let revisions: Vec<u64> = events.iter().map(|e| e["revision"].as_u64().expect("a revision")).collect();
    assert_eq!(revisions, vec![0, 1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_no_store_on_an_empty_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["audit", "export"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success());
    let expected = format!("no event store at {}", dir.path().join("events.sqlite").display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!dir.path().join("events.sqlite").exists(), "nothing was created");
}
