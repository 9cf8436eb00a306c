//! The README's examples, taken from README.md itself and run in order, so the README and
//! the product cannot drift apart.
//!
//! Every fenced block whose info string is exactly `sh` is a step of one walkthrough (blocks
//! marked `sh skip` are not run: starting `serve`, `scripts/test`, docker). The test starts
//! the real binary as the README's `… cargo run --release -- serve` line says (its variables,
//! here `PACKHOOKS_ALLOW_PRIVATE_TARGETS=true`), with its data in `data/` of a temporary
//! directory, then runs the blocks there in one bash, as a reader would paste them, with
//! `docs/` and `.venv` linked in from the repository. What the test changes, and nothing else:
//! - the API address `http://127.0.0.1:8080` becomes the server's (it listens on a free port);
//! - the receiver's port 9000 becomes a free one;
//! - after a command started in the background (the receiver), it waits for its port to
//!   accept connections, as a reader waits for its "listening on" line;
//! - `curl` is wrapped to also report each answer's status, method and URL on stderr, and
//!   `cargo run --release -- …` runs the test binary with the same arguments.
//!
//! Then: bash exits 0 (any failing command fails it), every answer has the status listed in
//! `EXPECTED`, in order, and the receiver (docs/examples/receiver.py, the README's Python
//! example) verified the test event and both submissions with the Standard Webhooks
//! reference library. The README's Python and Node examples must be the example files'
//! code, word for word.

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use packhooks_tests::packhooks_bin;
use packhooks_tests::process::Launch;
use packhooks_tests::signatures::test_python;

const README: &str = include_str!("../../README.md");
const RECEIVER_PY: &str = include_str!("../../docs/examples/receiver.py");
const RECEIVER_JS: &str = include_str!("../../docs/examples/receiver.js");

/// Each answer of the walkthrough, in order: status, method and path (the webhook's id as
/// `{id}`, a time in a query as `…`).
const EXPECTED: &[&str] = &[
    "200 PUT /v1/accounts/acc_7/plan",
    "200 GET /v1/accounts/acc_7",
    "201 POST /v1/accounts/acc_7/webhooks",
    "200 GET /v1/accounts/acc_7/webhooks",
    "200 GET /v1/webhooks/{id}",
    "200 PATCH /v1/webhooks/{id}",
    "200 POST /v1/webhooks/{id}/test?wait=true",
    "200 POST /v1/webhooks/{id}/disable",
    "200 POST /v1/webhooks/{id}/enable",
    "200 POST /v1/webhooks/{id}/rotate-secret",
    "202 POST /v1/packs/pk_42/interest",
    "202 POST /v1/packs/pk_42/decline",
    "200 GET /v1/webhooks/{id}/attempts?limit=20",
    "200 GET /v1/webhooks/{id}/deliveries?state=delivered&since=2026-12-01T00:00:00Z",
    "200 GET /v1/webhooks/{id}/deliveries?limit=1",
    "200 GET /v1/webhooks/{id}/deliveries/{delivery}",
    "200 GET /v1/webhooks/{id}/deliveries/{delivery}",
    "200 GET /v1/submissions/{submission}",
    "200 GET /healthz",
    "200 GET /readyz",
    "200 GET /openapi.json",
    "200 GET /v1/event-types",
    "200 GET /metrics",
    "200 GET /v1/packs/pk_42/stats",
    "200 GET /v1/accounts/acc_7/stats",
    "200 GET /v1/ops/projections",
    "202 POST /v1/ops/projections/pack_stats/rebuild",
    "200 GET /v1/audit/streams/pack-pk_42?limit=10",
    "200 GET /v1/audit/all?direction=backwards&limit=10",
    "200 GET /v1/audit/webhooks/{id}/state?at=…",
    "204 DELETE /v1/webhooks/{id}",
];

/// How long the whole walkthrough may take.
const WALKTHROUGH: Duration = Duration::from_secs(180);
/// How long the receiver may take to print the deliveries once the walkthrough is done.
const WAIT: Duration = Duration::from_secs(20);

/// A fenced block of the README: its info string and its lines.
struct Block {
    info: String,
    lines: Vec<String>,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for line in markdown.lines() {
        match (open.take(), line.strip_prefix("```")) {
            (None, Some(info)) => open = Some(Block { info: info.trim().to_owned(), lines: Vec::new() }),
            (Some(block), Some(_)) => blocks.push(block),
            (Some(mut block), None) => {
                block.lines.push(line.to_owned());
                open = Some(block);
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "README.md has an unclosed code block");
    blocks
}

/// The code of an example file from `first_line` on, as the README shows it.
fn from<'a>(file: &'a str, first_line: &str) -> &'a str {
    &file[file.find(first_line).unwrap_or_else(|| panic!("{first_line:?} is in the example file"))..]
}

/// The variables of the README's `VAR=value … cargo run --release -- serve` line.
fn serve_variables(blocks: &[Block]) -> Vec<(String, String)> {
    let line = blocks
        .iter()
        .filter(|b| b.info == "sh skip")
        .flat_map(|b| &b.lines)
        .find(|l| l.starts_with("PACKHOOKS_") && l.contains("cargo run --release -- serve"))
        .expect("the README starts serve with its variables for the walkthrough");
    let assignments = &line[..line.find("cargo run").expect("cargo run")];
    assignments
        .split_whitespace()
        .map(|pair| {
            let (name, value) = pair.split_once('=').expect("NAME=value");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a listener").local_addr().expect("its address").port()
}

/// Keeps every line a pipe gives, until it closes.
fn collect(pipe: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            kept.lock().expect("lines").push(line);
        }
    });
    lines
}

/// `{status} {method} {path}` of a wrapped curl's report, as in `EXPECTED`.
fn normalized(report: &str, address: &str, webhook: &str) -> String {
    let mut text = report.replacen(address, "", 1);
    if !webhook.is_empty() {
        text = text.replace(webhook, "{id}");
    }
    if let Some(at) = text.find("/deliveries/dlv_") {
        text = format!("{}/deliveries/{{delivery}}", &text[..at]);
    }
    if let Some(at) = text.find("/submissions/sub_") {
        text = format!("{}/submissions/{{submission}}", &text[..at]);
    }
    match text.find("?at=") {
        Some(at) => format!("{}?at=…", &text[..at]),
        None => text,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_examples_run_in_order_against_a_fresh_serve() {
    let blocks = blocks(README);
    let python_block = blocks.iter().find(|b| b.info == "python").expect("the README's Python receiver");
    assert_eq!(python_block.lines.join("\n") + "\n", from(RECEIVER_PY, "import http.server"));
    let node_block = blocks.iter().find(|b| b.info == "js").expect("the README's Node receiver");
    assert_eq!(node_block.lines.join("\n") + "\n", from(RECEIVER_JS, "const http"));

    let steps: Vec<&Block> = blocks.iter().filter(|b| b.info == "sh").collect();
    assert!(steps.len() >= 4, "the walkthrough's blocks were not found");
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository root");
    let python = test_python();
    let venv = Path::new(&python).parent().and_then(Path::parent).expect("python lives in <venv>/bin");
    let work = tempfile::tempdir().expect("a temp dir");
    std::os::unix::fs::symlink(repository.join("docs"), work.path().join("docs")).expect("docs/ linked");
    std::os::unix::fs::symlink(venv, work.path().join(".venv")).expect(".venv linked");

    let server = serve_variables(&blocks)
        .iter()
        .fold(Launch::new(packhooks_bin!(), &work.path().join("data")).name("readme"), |launch, (k, v)| {
            launch.env(k, v)
        })
        .start();
    let address = server.address.clone();
    let port = free_port();
    let mut script = String::from(concat!(
        "set -euo pipefail\n",
        "curl() { command curl -w '%{stderr}README-STATUS %{http_code} %{method} %{url_effective}\\n' \"$@\"; }\n",
        "cargo() {\n",
        "  if [[ $# -ge 3 && $1 == run && $2 == --release && $3 == -- ]]; then shift 3; \"$PACKHOOKS_BIN\" \"$@\";\n",
        "  else echo \"not a README command: cargo $*\" >&2; return 99; fi\n",
        "}\n",
    ));
    for line in steps.iter().flat_map(|b| &b.lines) {
        let line = line
            .replace("http://127.0.0.1:8080", &address)
            .replace("127.0.0.1:9000", &format!("127.0.0.1:{port}"))
            .replace("receiver.py 9000", &format!("receiver.py {port}"));
        script.push_str(&line);
        script.push('\n');
        if line.trim_end().ends_with(" &") {
            script.push_str(&format!(
                "for _ in $(seq 400); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.05; done\n"
            ));
        }
    }
    assert!(
        script.contains(&format!("API={address}\n")) && script.contains(&format!("receiver.py {port} &")),
        "the README's API address or receiver command changed: {script}"
    );

    let mut bash = Command::new("bash")
        .args(["-c", &script])
        .current_dir(work.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", work.path())
        .env("PACKHOOKS_BIN", packhooks_bin!())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so the receiver it leaves in the background is stopped with it.
        .process_group(0)
        .spawn()
        .expect("bash runs");
    let stdout = collect(bash.stdout.take().expect("piped stdout"));
    let stderr = collect(bash.stderr.take().expect("piped stderr"));
    let stop_group = |pid: u32| {
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{pid}")]).status();
    };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = bash.try_wait().expect("bash is polled") {
            break status;
        }
        if started.elapsed() > WALKTHROUGH {
            stop_group(bash.id());
            panic!("the walkthrough did not end in {WALKTHROUGH:?}; stderr: {:#?}", stderr.lock().expect("lines"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let output = || format!("stdout:\n{}\nstderr:\n{}", stdout.lock().expect("lines").join("\n"), stderr.lock().expect("lines").join("\n"));
    if !status.success() {
        stop_group(bash.id());
        panic!("the README's commands failed ({status}); {}", output());
    }

    // The receiver prints the test event and both submissions, each verified. Its lines may
    // follow a curl's answer on the same line (the API's JSON ends with no newline).
    let receiver_lines = |prefix: &str| -> Vec<String> {
        let printed = stdout.lock().expect("lines");
        printed.iter().filter_map(|l| l.find(prefix).map(|at| l[at..].to_owned())).collect()
    };
    let deadline = Instant::now() + WAIT;
    let verified = loop {
        let verified = receiver_lines("verified ");
        if verified.len() >= 3 || Instant::now() > deadline {
            break verified;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    stop_group(bash.id());
    server.terminate();
    let printed = stdout.lock().expect("lines").clone();
    assert_eq!(receiver_lines("listening on "), [format!("listening on http://127.0.0.1:{port}")], "{}", output());
    assert!(receiver_lines("refused:").is_empty(), "the receiver refused a request; {}", output());
    assert_eq!(verified.len(), 3, "{}", output());
    assert!(verified[0].starts_with("verified candidate.interested msg_") && verified[0].ends_with(" (test)"), "{verified:?}");
    let mut submissions: Vec<&str> =
        verified[1..].iter().map(|l| l.split(' ').nth(1).expect("a type")).collect();
    submissions.sort();
    assert_eq!(submissions, ["candidate.declined", "candidate.interested"], "{verified:?}");

    // Every answer had its status.
    let created = printed.iter().find(|l| l.contains(r#""secret":"whsec_"#)).expect("the create's answer was echoed");
    let webhook = created.split(r#""id":""#).nth(1).and_then(|rest| rest.split('"').next()).unwrap_or_default();
    assert!(webhook.starts_with("wh_"), "{created}");
    let answers: Vec<String> = stderr
        .lock()
        .expect("lines")
        .iter()
        .filter_map(|l| l.strip_prefix("README-STATUS "))
        .map(|report| normalized(report, &address, webhook))
        .collect();
    assert_eq!(answers, EXPECTED, "{}", output());
}
