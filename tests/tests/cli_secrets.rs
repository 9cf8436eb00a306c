//! Secrets in what the binary prints when it refuses to start: a settings file with a typo
//! near a token, or an EventStoreDB connection string with a password that does not parse,
//! must be reported (the file, the line, the setting) without echoing the secret, by `serve` and by the read-only commands alike. The real binary runs as a child
//! process.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use packhooks_tests::packhooks_bin;

/// Runs the binary with `args` and only `PACKHOOKS_DATA_DIR` in its environment.
fn run(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(packhooks_bin!())
        .args(args)
        .env_clear()
        .env("PACKHOOKS_DATA_DIR", data_dir)
        .env("PACKHOOKS_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

/// Asserts the command failed, said `expected`, and printed `secret` nowhere.
fn refused_without(output: &Output, secret: &str, expected: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused; stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains(expected), "the error says {expected:?}: {stderr}");
    assert!(!stdout.contains(secret) && !stderr.contains(secret), "the secret is printed: {stdout}\n{stderr}");
}

#[test]
fn a_syntax_error_on_a_token_line_of_the_settings_file_does_not_print_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "TOPSECRET-token-0123456789";
    let config = dir.path().join("settings.toml");
    // The closing quote is missing.
    std::fs::write(&config, format!("[api]\ntoken = \"{secret}\n")).unwrap();
    let config = config.to_str().unwrap();
    for command in [&["serve"][..], &["projections", "status"], &["audit", "export"]] {
        let args: Vec<&str> = command.iter().copied().chain(["--config", config]).collect();
        let output = run(&dir.path().join("data"), &args);
        refused_without(&output, secret, "line 2");
    }
}

#[test]
fn a_token_under_a_mistyped_key_of_the_settings_file_is_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "TOPSECRET-token-0123456789";
    let config = dir.path().join("settings.toml");
    // `tokens` (the list of extra tokens) where `token` was meant.
    std::fs::write(&config, format!("[api]\ntokens = \"{secret}\"\n")).unwrap();
    let output = run(&dir.path().join("data"), &["serve", "--config", config.to_str().unwrap()]);
    refused_without(&output, secret, "api.tokens");
}

/// The store-esdb crate redacts the password of a connection string its client cannot read
/// (commit 6ca4f7c); this checks every command that opens a store prints no more than that.
#[test]
fn an_eventstoredb_connection_string_that_does_not_parse_is_refused_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let password = "TOPSECRET-password";
    let url = format!("esdb://admin:{password}@127.0.0.1:notaport?tls=false");
    for command in [&["serve"][..], &["audit", "stream", "pack-pk_1"], &["projections", "status"]] {
        let args: Vec<&str> = command.iter().copied().chain(["--store", url.as_str()]).collect();
        let output = run(&dir.path().join("data"), &args);
        refused_without(&output, password, "connection string");
    }
}
