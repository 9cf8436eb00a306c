//! The `packhooks` binary: parses the command line and runs it (see `packhooks::cli`).

/// mimalloc rather than glibc's allocator: event bytes are allocated on the HTTP workers and
/// freed on the store's writer thread, a pattern glibc serves slowly (7-8% of the workers'
/// CPU under load went to malloc/free).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    packhooks::cli::main()
}
