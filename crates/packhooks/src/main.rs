//! The `packhooks` binary: parses the command line and runs it (see `packhooks::cli`).

fn main() -> std::process::ExitCode {
    packhooks::cli::main()
}
