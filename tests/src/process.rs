//! The real `packhooks` binary as a child process: `ServerProcess::start` runs `serve` on
//! 127.0.0.1 port 0 with a clean environment, learns the port from the startup log line, and
//! keeps what the process printed on stdout. Integration tests pass the binary's path as
//! `env!("CARGO_BIN_EXE_packhooks-under-test")`.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `packhooks serve`.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub address: String,
    stdout: Arc<Mutex<String>>,
    /// Ends when the child's stdout closes (it exited).
    stdout_reader: std::thread::JoinHandle<()>,
}

impl ServerProcess {
    /// Starts `binary serve` on `data_dir` with only the given `PACKHOOKS_*` variables (plus
    /// port 0 and JSON logs) and waits for it to listen.
    pub fn start(binary: &str, data_dir: &Path, env: &[(&str, &str)]) -> ServerProcess {
        let mut child = Command::new(binary)
            .arg("serve")
            .env_clear()
            .env("PACKHOOKS_LISTEN", "127.0.0.1:0")
            .env("PACKHOOKS_DATA_DIR", data_dir)
            .env("PACKHOOKS_LOG", "warn,packhooks::startup=info")
            .env("PACKHOOKS_LOG_FORMAT", "json")
            .envs(env.iter().copied())
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
        // The port comes from the startup log line; the rest of stderr is drained so the
        // child never blocks on a full pipe.
        let stderr = child.stderr.take().expect("piped stderr");
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = serde_json::from_str::<Value>(&line).ok().and_then(|e| e["port"].as_u64()) {
                    let _ = port_tx.send(port);
                }
            }
        });
        let port = port_rx.recv_timeout(Duration::from_secs(60)).expect("the server logs its port");
        ServerProcess { child, address: format!("http://127.0.0.1:{port}"), stdout, stdout_reader }
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
            assert!(Instant::now() < deadline, "the server did not become healthy");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9`: `Child::kill` sends SIGKILL on unix.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL sent");
        self.child.wait().expect("the child is reaped");
    }

    /// SIGTERM, then waits (bounded) for a clean exit; returns all it printed on stdout.
    pub fn terminate(mut self) -> String {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                assert!(status.success(), "graceful shutdown exits 0, got {status}");
                self.stdout_reader.join().expect("the stdout reader ends with the process");
                return self.stdout.lock().expect("stdout lock").clone();
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
