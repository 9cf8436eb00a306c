//! A `packhooks serve` child process (the real binary, built in this package as
//! `packhooks-under-test`) for the projections tests: started on a data directory with a
//! fixed token, its port read from the startup log line.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_packhooks-under-test");

pub struct Server {
    child: Child,
    pub address: String,
}

impl Server {
    pub fn start(data_dir: &Path, token: &str) -> Server {
        let mut child = Command::new(BIN)
            .arg("serve")
            .env_clear()
            .env("PACKHOOKS_LISTEN", "127.0.0.1:0")
            .env("PACKHOOKS_DATA_DIR", data_dir)
            .env("PACKHOOKS_API_TOKEN", token)
            .env("PACKHOOKS_ALLOW_PRIVATE_TARGETS", "true")
            .env("PACKHOOKS_LOG", "warn,packhooks::startup=info")
            .env("PACKHOOKS_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
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
        Server { child, address: format!("http://127.0.0.1:{port}") }
    }

    /// SIGKILL: no shutdown, no flush.
    #[allow(dead_code)]
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL sent");
        self.child.wait().expect("the child is reaped");
    }

    /// SIGTERM, then a clean exit.
    #[allow(dead_code)]
    pub fn stop(mut self) {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                assert!(status.success(), "clean exit after SIGTERM: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
