//! The command line: `packhooks serve`, and the subcommands other modules of this folder add
//! (`audit …`, `projections …`): a module here, a variant in [`Command`], an arm in [`run`].

pub mod audit;
pub mod projections;
mod rows;
pub mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// packhooks: signed webhooks for candidate-pack form submissions.
///
/// When a candidate submits a pack's Interested or Declined form, packhooks sends it to every
/// webhook of the recruiter's account that subscribes to it: a signed HTTP POST (Standard
/// Webhooks), retried when it fails, with every step kept as an event for audits.
///
/// Start with `packhooks serve`: the HTTP API on 127.0.0.1:8080 with its data in ./data; on the
/// first start it prints the API token to use. `packhooks audit` reads the event history and
/// `packhooks projections` shows and rebuilds the read models, beside a running server.
///
/// Settings: built-in defaults, then --config FILE, then PACKHOOKS_* environment variables,
/// then flags; `packhooks serve --help` lists them all.
#[derive(Debug, Parser)]
#[command(name = "packhooks", version)]
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
/// whole chain of causes. The output of `audit` and `projections` whose reader went away
/// (`| head`) ends quietly, as with `cat`: the reader asked for no more.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let prints_output = !matches!(cli.command, Command::Serve(_));
    match actix_web::rt::System::new().block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if prints_output && is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("packhooks: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `error` was caused by writing to a pipe whose reader is gone.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || cause.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind)
                == Some(std::io::ErrorKind::BrokenPipe)
    })
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Audit(args) => audit::run(args).await,
        Command::Projections(args) => projections::run(args).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn help(path: &[&str]) -> String {
        let mut command = Cli::command();
        let mut sub = &mut command;
        for name in path {
            sub = sub.find_subcommand_mut(name).expect("a subcommand");
        }
        sub.render_help().to_string()
    }

    #[test]
    fn read_only_commands_list_only_the_settings_they_use() {
        for path in
            [&["audit", "stream"][..], &["audit", "export"], &["projections", "status"], &["projections", "rebuild"]]
        {
            let text = help(path);
            assert!(
                text.contains("--data-dir") && text.contains("--store") && text.contains("--log"),
                "{path:?}: {text}"
            );
            assert!(!text.contains("--max-attempts") && !text.contains("--listen"), "{path:?}: {text}");
        }
        let serve = help(&["serve"]);
        assert!(serve.contains("--max-attempts") && serve.contains("--listen"), "{serve}");
    }

    #[test]
    fn the_help_says_what_the_tool_is_for_and_every_argument_has_help() {
        let top = Cli::command().render_long_help().to_string();
        assert!(top.contains("signed webhooks for candidate-pack form submissions"), "{top}");
        assert!(top.contains("packhooks serve") && top.contains("API token"), "{top}");
        fn check(command: &clap::Command, path: &str) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" {
                    assert!(arg.get_help().is_some(), "{path} {id} has no help");
                }
            }
            for sub in command.get_subcommands() {
                assert!(sub.get_about().is_some(), "{path} {} has no help", sub.get_name());
                check(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        let mut command = Cli::command();
        command.build();
        check(&command, "packhooks");
    }

    #[test]
    fn bad_values_say_what_is_expected() {
        let refused = |args: &[&str]| Cli::try_parse_from(args).expect_err("refused").to_string();
        let at =
            refused(&["packhooks", "audit", "webhook", "wh_0123456789abcdef0123456789abcdef", "--at", "yesterday"]);
        assert!(at.contains("RFC 3339") && at.contains("2026-11-28T09:00:00Z"), "{at}");
        let id = refused(&["packhooks", "audit", "webhook", "wh_0123", "--at", "2026-11-28T09:00:00Z"]);
        assert!(id.contains("32 lowercase hex digits"), "{id}");
        let limit = refused(&["packhooks", "audit", "stream", "pack-pk_1", "--limit", "0"]);
        assert!(limit.contains("1..=1000000"), "{limit}");
        let name = refused(&["packhooks", "projections", "rebuild", "webhooks"]);
        for known in packhooks_projections::NAMES {
            assert!(name.contains(known), "{name}");
        }
        let from = refused(&["packhooks", "audit", "export", "--from", "start"]);
        assert!(from.contains("log position"), "{from}");
    }

    #[test]
    fn hidden_settings_are_still_accepted() {
        let cli =
            Cli::try_parse_from(["packhooks", "projections", "status", "--max-attempts", "5", "--data-dir", "/srv/ph"])
                .expect("accepted");
        let Command::Projections(args) = cli.command else { panic!("projections") };
        let projections::ProjectionsCommand::Status { settings } = args.command else { panic!("status") };
        let loaded = crate::Settings::load(&settings).expect("valid settings");
        assert_eq!(loaded.delivery.max_attempts, 5);
        assert_eq!(loaded.data_dir, std::path::PathBuf::from("/srv/ph"));
    }
}
