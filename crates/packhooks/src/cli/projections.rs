//! `packhooks projections status|rebuild`: each projection's checkpoint and lag, and
//! blue/green rebuilds with a progress bar (events/s and ETA). Both work whether or not a
//! server runs on the same data directory: a rebuild builds new tables beside the serving
//! ones and swaps them in one transaction, and the server's runner follows the swap. The
//! event store is only read (`head` and `read_all`; the read models are a file of their
//! own), so it is opened read-only, beside the server's writer.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use packhooks_projections::{Projections, RebuildProgress, RunnerOptions};
use packhooks_store::EventStore;

use crate::settings::{LogSettings, Overrides, Settings, StoreOverrides, StoreSetting};
use crate::startup::StoreAccess;
use crate::telemetry;

#[derive(Debug, Args)]
pub struct ProjectionsArgs {
    #[command(subcommand)]
    pub command: ProjectionsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Show each projection's table sets, checkpoint and lag behind the head of the log.
    Status {
        #[command(flatten)]
        settings: StoreOverrides,
    },
    /// Rebuild a projection (or all) from position 0 beside the serving tables, then swap.
    Rebuild {
        /// The projection: `webhook_health`, `pack_stats` or `delivery_log`.
        #[arg(
            required_unless_present = "all",
            conflicts_with = "all",
            value_parser = clap::builder::PossibleValuesParser::new(packhooks_projections::NAMES),
        )]
        name: Option<String>,
        /// Rebuild every projection (reading the log once).
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        settings: StoreOverrides,
    },
}

/// Loads the settings and sets up quiet logging (warnings and errors, unless asked for more)
/// so that log lines do not tear up the progress bar or the output.
pub(crate) fn settings(overrides: &Overrides) -> anyhow::Result<Settings> {
    let settings = Settings::load(overrides).context("invalid settings")?;
    let filter = if settings.log.filter == "info" { "warn".to_owned() } else { settings.log.filter.clone() };
    telemetry::init(&LogSettings { filter, format: settings.log.format });
    Ok(settings)
}

/// Opens the configured event store read-only: on SQLite beside a server that may be
/// writing it (no writer lock, no writer or checkpoint thread, nothing appended), and never
/// creating a store where there is none.
pub(crate) fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn EventStore>> {
    let opened = crate::startup::open_store(settings, StoreAccess::ReadOnly);
    match &settings.store {
        // The store's errors name the file (e.g. "no event store at …").
        StoreSetting::Sqlite => Ok(opened?),
        // Not the URL: it may hold credentials.
        StoreSetting::EventStoreDb(_) => opened.context("cannot connect to EventStoreDB"),
    }
}

fn open(overrides: &Overrides) -> anyhow::Result<Arc<Projections>> {
    let settings = settings(overrides)?;
    let store = open_store(&settings)?;
    let db = packhooks_projections::db_path(&settings.data_dir);
    Projections::new(store, &db, RunnerOptions::default()).context("cannot open the read models")
}

pub async fn run(args: ProjectionsArgs) -> anyhow::Result<()> {
    match args.command {
        ProjectionsCommand::Status { settings } => {
            let projections = open(&settings)?;
            status(&projections).await
        }
        ProjectionsCommand::Rebuild { name, all: _, settings } => {
            let projections = open(&settings)?;
            rebuild(&projections, name.as_deref()).await
        }
    }
}

async fn status(projections: &Projections) -> anyhow::Result<()> {
    let status = projections.status().await.context("cannot read the projection status")?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<16} {:>7} {:>10} {:>12} {:>12} {:>10} {:>10}  REBUILD",
        "PROJECTION", "VERSION", "GENERATION", "CHECKPOINT", "HEAD", "LAG", "LAG (S)"
    )?;
    for s in status {
        let (generation, version, checkpoint) = match &s.active {
            Some(a) => {
                (a.generation.to_string(), a.version.to_string(), a.checkpoint.clone().unwrap_or_else(|| "-".into()))
            }
            None => ("-".into(), "-".into(), "-".into()),
        };
        let version = if version == s.code_version.to_string() || version == "-" {
            version
        } else {
            format!("{version}→{}", s.code_version)
        };
        let (lag, seconds) = match &s.lag {
            Some(l) => (format!("{}{}", l.events, if l.at_least { "+" } else { "" }), format!("{:.1}", l.seconds)),
            None => ("-".into(), "-".into()),
        };
        let building = match &s.building {
            Some(b) => format!(
                "building generation {} at {} of {}",
                b.generation,
                b.checkpoint.clone().unwrap_or_else(|| "0".into()),
                b.target.map(|t| t.to_string()).unwrap_or_else(|| "?".into())
            ),
            None => "-".into(),
        };
        writeln!(
            out,
            "{:<16} {:>7} {:>10} {:>12} {:>12} {:>10} {:>10}  {}",
            s.name,
            version,
            generation,
            checkpoint,
            s.head.clone().unwrap_or_else(|| "-".into()),
            lag,
            seconds,
            building
        )?;
    }
    out.flush()?;
    Ok(())
}

async fn rebuild(projections: &Projections, name: Option<&str>) -> anyhow::Result<()> {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} events ({per_sec}, ETA {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("rebuilding {}", name.unwrap_or("all projections")));
    let progress_bar = bar.clone();
    let progress = Arc::new(move |p: &RebuildProgress| {
        progress_bar.set_length(p.target.max(p.scanned));
        progress_bar.set_position(p.scanned);
    });
    let report = projections.rebuild(name, Some(progress)).await.context("the rebuild failed")?;
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "rebuilt {}: {} events in {:.1} s ({:.0} events/s), checkpoint {}",
        report.projections.join(", "),
        report.scanned,
        report.elapsed.as_secs_f64(),
        report.events_per_second(),
        report.checkpoint.map(|c| c.to_string()).unwrap_or_else(|| "-".into())
    )?;
    out.flush()?;
    Ok(())
}
