//! The real `packhooks` binary as a child process, the one helper every process-level test
//! uses (crash, delivery crash, shards, projections kill/CLI, startup): [`Launch`] runs
//! `serve` on 127.0.0.1 port 0 with a clean environment plus the variables and flags a test
//! names, learns the port from the startup log line, and keeps what the process wrote (stdout
//! as text, stderr as JSON log lines). Integration tests pass the binary's path as
//! [`packhooks_bin!()`](crate::packhooks_bin) (`CARGO_BIN_EXE_packhooks-under-test` exists
//! only while an integration test is compiled, so the macro expands it there).

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a start may take to log its port, and a SIGTERM to end in an exit.
const WAIT: Duration = Duration::from_secs(60);

/// The path of the real binary (built in this package as `packhooks-under-test`); only in
/// integration tests and benchmarks of this package.
#[macro_export]
macro_rules! packhooks_bin {
    () => {
        env!("CARGO_BIN_EXE_packhooks-under-test")
    };
}

/// Runs `binary args…` to its end on a data directory with no other variable (the CLI's
/// read-only commands: `audit`, `projections`).
pub fn run_cli(binary: &str, data_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(binary)
        .args(args)
        .env_clear()
        .env("PACKHOOKS_DATA_DIR", data_dir)
        .stdin(Stdio::null())
        .output()
        .expect("the CLI runs")
}

/// `binary serve` on `data_dir` (port 0) with only `env`, its stderr (the log, as written)
/// into `log_path`: for tests that read the log file itself, or signal the process.
pub fn serve_logging_to(binary: &str, data_dir: &Path, env: &[(&str, &str)], log_path: &Path) -> Child {
    Command::new(binary)
        .arg("serve")
        .env_clear()
        .env("PACKHOOKS_DATA_DIR", data_dir)
        .env("PACKHOOKS_LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log_path).expect("the log file is created"))
        .spawn()
        .expect("the binary starts")
}

/// Waits (bounded) until the log file of [`serve_logging_to`] holds `text`; returns the log.
pub fn wait_logged(child: &mut Child, log_path: &Path, text: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let log = std::fs::read_to_string(log_path).unwrap_or_default();
        if log.contains(text) {
            return log;
        }
        assert!(
            child.try_wait().expect("the child is polled").is_none(),
            "serve exited before logging {text:?}: {log}"
        );
        assert!(Instant::now() < deadline, "serve never logged {text:?}: {log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What to start: `binary serve [args]` on a data directory with only the given variables.
pub struct Launch {
    binary: String,
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// `PACKHOOKS_LOG`; must keep `packhooks::startup=info`, the line the port is read from.
    log_filter: String,
}

impl Launch {
    /// `binary serve` on `data_dir`, listening on 127.0.0.1 port 0, logging JSON.
    pub fn new(binary: &str, data_dir: &Path) -> Launch {
        Launch {
            binary: binary.to_owned(),
            name: "server".to_owned(),
            args: Vec::new(),
            env: vec![("PACKHOOKS_DATA_DIR".to_owned(), data_dir.to_string_lossy().into_owned())],
            log_filter: "warn,packhooks::startup=info".to_owned(),
        }
    }

    /// The name failures and echoed errors are reported under.
    pub fn name(mut self, name: &str) -> Launch {
        self.name = name.to_owned();
        self
    }

    /// A command-line argument after `serve`.
    pub fn arg(mut self, arg: &str) -> Launch {
        self.args.push(arg.to_owned());
        self
    }

    /// An environment variable (the environment is otherwise cleared).
    pub fn env(mut self, key: &str, value: impl ToString) -> Launch {
        self.env.push((key.to_owned(), value.to_string()));
        self
    }

    /// `PACKHOOKS_API_TOKEN` and `PACKHOOKS_ALLOW_PRIVATE_TARGETS=true`: what a test that
    /// calls the API and delivers to a `TestReceiver` on 127.0.0.1 needs.
    pub fn token_and_private_targets(self, token: &str) -> Launch {
        self.env("PACKHOOKS_API_TOKEN", token).env("PACKHOOKS_ALLOW_PRIVATE_TARGETS", "true")
    }

    /// Replaces the `PACKHOOKS_LOG` filter (to capture more log lines for [`ServerProcess::logged`]).
    pub fn log_filter(mut self, filter: &str) -> Launch {
        self.log_filter = filter.to_owned();
        self
    }

    /// Starts the process and waits (bounded) for it to log its port.
    pub fn start(self) -> ServerProcess {
        let mut child = Command::new(&self.binary)
            .arg("serve")
            .args(&self.args)
            .env_clear()
            .env("PACKHOOKS_LISTEN", "127.0.0.1:0")
            .env("PACKHOOKS_LOG", &self.log_filter)
            .env("PACKHOOKS_LOG_FORMAT", "json")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stdout = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("piped stdout");
        let kept = Arc::clone(&stdout);
        let stdout_reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let mut kept = kept.lock().expect("stdout lock");
                kept.push_str(&line);
                kept.push('\n');
            }
        });
        // The port comes from the startup log line; every line is kept (and ERROR lines
        // echoed), and reading on drains the pipe so the child never blocks on it.
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (kept, name) = (Arc::clone(&log), self.name.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                match serde_json::from_str::<Value>(&line) {
                    Ok(entry) if entry["port"].as_u64().is_some() => {
                        let _ = port_tx.send(entry["port"].as_u64().unwrap_or_default());
                    }
                    Ok(entry) if entry["level"] == "ERROR" => eprintln!("{name}: {line}"),
                    _ => {}
                }
                kept.lock().expect("log lock").push(line);
            }
        });
        let name = self.name;
        let port = port_rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("{name} never logged its port"));
        ServerProcess {
            child,
            name,
            address: format!("http://127.0.0.1:{port}"),
            stdout,
            stdout_reader: Some(stdout_reader),
            log,
        }
    }
}

/// A running `packhooks serve`; killed on drop, so a failed assertion leaves nothing behind.
pub struct ServerProcess {
    child: Child,
    /// What failures call it.
    pub name: String,
    /// `http://127.0.0.1:<port>`
    pub address: String,
    stdout: Arc<Mutex<String>>,
    /// Ends when the child's stdout closes (it exited).
    stdout_reader: Option<std::thread::JoinHandle<()>>,
    /// Every line it wrote to stderr (JSON log lines).
    log: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts `binary serve` on `data_dir` with only the given `PACKHOOKS_*` variables (plus
    /// port 0 and JSON logs) and waits for it to listen.
    pub fn start(binary: &str, data_dir: &Path, env: &[(&str, &str)]) -> ServerProcess {
        env.iter().fold(Launch::new(binary, data_dir), |launch, (k, v)| launch.env(k, v)).start()
    }

    /// `address` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The log lines containing `text`.
    pub fn logged(&self, text: &str) -> Vec<String> {
        self.log.lock().expect("log lock").iter().filter(|l| l.contains(text)).cloned().collect()
    }

    /// Puts `account` on `plan` (`growth`, `scale`, …) with `token`; panics unless 2xx.
    pub async fn set_plan(&self, client: &reqwest::Client, token: &str, account: &str, plan: &str) {
        let response = client
            .put(self.url(&format!("/v1/accounts/{account}/plan")))
            .bearer_auth(token)
            .json(&serde_json::json!({ "plan": plan }))
            .send()
            .await
            .expect("plan set");
        assert!(response.status().is_success(), "setting the plan of {account}: {}", response.status());
    }

    /// Creates a webhook of `account` on `url` for `interested` with `token`; its answer
    /// (id, secret, …). Panics unless 201.
    pub async fn create_webhook(&self, client: &reqwest::Client, token: &str, account: &str, url: &str) -> Value {
        let response = client
            .post(self.url(&format!("/v1/accounts/{account}/webhooks")))
            .bearer_auth(token)
            .json(&serde_json::json!({"url": url, "events": ["interested"]}))
            .send()
            .await
            .expect("create sent");
        assert_eq!(response.status().as_u16(), 201, "creating a webhook of {account}");
        response.json().await.expect("a JSON answer")
    }

    /// Waits (bounded) until `/healthz` answers.
    pub async fn wait_healthy(&self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = client.get(format!("{}/healthz", self.address)).send().await {
                if response.status().is_success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "{} did not become healthy", self.name);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9` (no shutdown, no flush): `Child::kill` sends SIGKILL on unix.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL sent");
        self.child.wait().expect("the child is reaped");
    }

    /// SIGTERM, then waits (bounded) for a clean exit (attempts in flight land first);
    /// returns all it printed on stdout.
    pub fn terminate(mut self) -> String {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                assert!(status.success(), "{} exits 0 after SIGTERM, got {status}", self.name);
                if let Some(reader) = self.stdout_reader.take() {
                    reader.join().expect("the stdout reader ends with the process");
                }
                return self.stdout.lock().expect("stdout lock").clone();
            }
            assert!(Instant::now() < deadline, "{} did not exit after SIGTERM", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // A no-op after kill or terminate (the child was reaped).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
