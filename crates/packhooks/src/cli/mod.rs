//! The command line: `packhooks serve`, and the subcommands other modules of this folder add
//! (`audit …`, `projections …`): a module here, a variant in [`Command`], an arm in [`run`].

pub mod audit;
pub mod projections;
pub mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Delivers candidate-pack form submissions to customers' webhooks.
#[derive(Debug, Parser)]
#[command(name = "packhooks", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (and deliver webhooks) until SIGTERM or SIGINT.
    Serve(serve::ServeArgs),
    /// Read the event history: a stream, a webhook at a time, or an export of the whole log.
    Audit(audit::AuditArgs),
    /// Projection status (checkpoints, lag) and blue/green rebuilds.
    Projections(projections::ProjectionsArgs),
}

/// Parses the command line, runs it in an actix system, and reports a failure with its
/// whole chain of causes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match actix_web::rt::System::new().block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("packhooks: {error:#}");
            ExitCode::FAILURE
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Audit(args) => audit::run(args).await,
        Command::Projections(args) => projections::run(args).await,
    }
}
