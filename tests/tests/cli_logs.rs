//! What `packhooks serve` writes to stderr when that is not a terminal (a file, journald,
//! `docker logs`): plain text log lines an operator can grep, without terminal colour codes.
//! The real binary runs as a child process with its stderr in a file.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use packhooks_tests::packhooks_bin;

#[test]
fn text_logs_written_to_a_file_carry_no_terminal_escape_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("serve.log");
    let mut child = Command::new(packhooks_bin!())
        .arg("serve")
        .env_clear()
        .env("PACKHOOKS_DATA_DIR", dir.path().join("data"))
        .env("PACKHOOKS_LISTEN", "127.0.0.1:0")
        .env("PACKHOOKS_API_TOKEN", "cli-logs-token-0123456789")
        .env("PACKHOOKS_LOG_FORMAT", "text")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("the binary starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut log = String::new();
    while !log.contains("packhooks is listening") {
        assert!(child.try_wait().unwrap().is_none(), "serve exited early: {log}");
        assert!(Instant::now() < deadline, "serve never logged that it listens: {log}");
        std::thread::sleep(Duration::from_millis(20));
        log = std::fs::read_to_string(&log_path).unwrap();
    }
    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success(), "serve exits 0 after SIGTERM");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("packhooks stopped"), "{log}");
    assert!(!log.contains('\u{1b}'), "escape codes in the log file: {log:?}");
    let listening = log.lines().find(|l| l.contains("packhooks is listening")).unwrap();
    assert!(listening.contains(" INFO ") && listening.contains("port="), "a plain line: {listening:?}");
}
