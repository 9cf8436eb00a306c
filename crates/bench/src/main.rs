//! `packhooks-bench`: the benchmarks behind `scripts/bench <name>`.
//!
//! Each benchmark is a module with `pub const ABOUT: &str`, `pub struct Args` (clap) and
//! `pub async fn run(args: Args) -> anyhow::Result<()>`; registering one is one line in the
//! `benchmarks!` list below.

mod framework_relay;
mod measure;
mod relay;

/// The allocator of the `packhooks` binary, so the server measured in-process runs as in
/// production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

/// Declares the benchmark modules and the subcommand enum that dispatches to them.
macro_rules! benchmarks {
    ($($module:ident => $variant:ident),* $(,)?) => {
        $(mod $module;)*

        #[derive(clap::Subcommand)]
        enum Benchmark {
            $(
                #[command(name = stringify!($module), about = $module::ABOUT)]
                $variant($module::Args),
            )*
        }

        impl Benchmark {
            async fn run(self) -> anyhow::Result<()> {
                match self {
                    $(Benchmark::$variant(args) => $module::run(args).await,)*
                }
            }
        }
    };
}

benchmarks! {
    store => Store,
    rebuild => Rebuild,
    e2e => E2e,
}

#[derive(Parser)]
#[command(name = "packhooks-bench", version, about = "packhooks benchmarks (run them through scripts/bench)")]
struct Cli {
    #[command(subcommand)]
    benchmark: Benchmark,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    Cli::parse().benchmark.run().await
}
