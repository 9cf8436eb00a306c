//! The `packhooks` binary, built inside the tests package so that tests/tests/crash.rs can
//! start it as a real child process (`env!("CARGO_BIN_EXE_packhooks-under-test")`).

fn main() -> std::process::ExitCode {
    packhooks::cli::main()
}
