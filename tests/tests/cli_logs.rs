//! What `packhooks serve` writes to stderr when that is not a terminal (a file, journald,
//! `docker logs`): plain text log lines an operator can grep, without terminal colour codes.
//! The real binary runs as a child process with its stderr in a file.

use std::process::Command;

use packhooks_tests::packhooks_bin;
use packhooks_tests::process::{serve_logging_to, wait_logged};

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
