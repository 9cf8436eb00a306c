//! `packhooks audit stream|webhook|export`: the event history for auditors, from the store
//! itself: a stream as a table (or JSON lines), a webhook's state at a time, and `$all` as
//! JSON lines. Secrets are redacted in all of them. The store is opened read-only, so these
//! run beside a server writing to the same data directory.

use std::io::{IsTerminal as _, Write as _};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use packhooks_domain::webhook::{WebhookState, WebhookStatus};
use packhooks_domain::WebhookId;
use packhooks_projections::audit;
use packhooks_store::{Direction, Position};

use super::projections::{open_store, settings};
use crate::settings::StoreOverrides;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print one stream's events, oldest first (a table, or `--json` lines).
    Stream {
        /// The stream, e.g. `webhook-wh_…` or `pack-pk_42`.
        name: String,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// Newest first.
        #[arg(long)]
        backwards: bool,
        #[command(flatten)]
        settings: StoreOverrides,
    },
    /// Show a webhook as it was at a time: url, event types, status, secret version.
    Webhook {
        /// The webhook id, `wh_…`.
        id: WebhookId,
        /// An RFC 3339 time, e.g. `2026-11-28T09:00:00Z`.
        #[arg(long)]
        at: DateTime<Utc>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        settings: StoreOverrides,
    },
    /// Write every event of the log as JSON lines to stdout.
    Export {
        /// Start at this position (inclusive).
        #[arg(long)]
        from: Option<Position>,
        #[command(flatten)]
        settings: StoreOverrides,
    },
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    match args.command {
        AuditCommand::Stream { name, json, backwards, settings: overrides } => {
            let store = open_store(&settings(&overrides)?)?;
            let direction = if backwards { Direction::Backwards } else { Direction::Forwards };
            let mut out = std::io::BufWriter::new(std::io::stdout());
            if !json {
                writeln!(out, "{:>8} {:>10}  {:<27} {:<22} DATA", "REVISION", "POSITION", "CREATED", "TYPE")?;
            }
            let mut from = None;
            loop {
                let page = audit::stream_page(store.as_ref(), &name, from, direction, audit::MAX_PAGE)
                    .await
                    .with_context(|| format!("cannot read stream {name}"))?;
                for e in &page.events {
                    if json {
                        serde_json::to_writer(&mut out, e)?;
                        writeln!(out)?;
                    } else {
                        let mut data = e.data.to_string();
                        if data.chars().count() > 100 {
                            data = data.chars().take(99).collect::<String>() + "…";
                        }
                        let created = e.created.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
                        writeln!(
                            out,
                            "{:>8} {:>10}  {:<27} {:<22} {}",
                            e.revision, e.position, created, e.event_type, data
                        )?;
                    }
                }
                match page.next {
                    Some(next) => from = Some(next.parse().context("a revision cursor")?),
                    None => break,
                }
            }
            out.flush()?;
            Ok(())
        }
        AuditCommand::Webhook { id, at, json, settings: overrides } => {
            let store = open_store(&settings(&overrides)?)?;
            let found = audit::webhook_at(store.as_ref(), id, at).await.context("cannot read the webhook's history")?;
            // "Did not exist yet" only for a webhook created later; an id no webhook ever had
            // (a typo) is an error.
            if matches!(found.state, WebhookState::None)
                && !audit::webhook_ever_created(store.as_ref(), id)
                    .await
                    .context("cannot read the webhook's history")?
            {
                anyhow::bail!("no webhook {id} in the log");
            }
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string(&found)?)?;
            } else {
                print_webhook(&mut out, &found)?;
            }
            out.flush()?;
            Ok(())
        }
        AuditCommand::Export { from, settings: overrides } => {
            let store = open_store(&settings(&overrides)?)?;
            let head = store.head().await?.map(|h| h.commit).unwrap_or(0);
            let bar = ProgressBar::with_draw_target(Some(head), ProgressDrawTarget::stderr());
            if !std::io::stderr().is_terminal() {
                bar.set_draw_target(ProgressDrawTarget::hidden());
            }
            bar.set_style(
                ProgressStyle::with_template(
                    "exporting [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, ETA {eta})",
                )
                .expect("a valid template"),
            );
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
            let progress_bar = bar.clone();
            let written = audit::export(store.as_ref(), from, &mut out, &move |_, at: Position| {
                progress_bar.set_position(at.commit)
            })
            .await
            .context("the export failed")?;
            bar.finish_and_clear();
            eprintln!("exported {written} events");
            Ok(())
        }
    }
}

fn print_webhook(out: &mut impl std::io::Write, found: &audit::WebhookAt) -> std::io::Result<()> {
    writeln!(out, "webhook {} at {}", found.webhook_id, found.at.to_rfc3339())?;
    writeln!(out, "events folded: {}", found.events)?;
    let (webhook, deleted) = match &found.state {
        WebhookState::None => {
            return writeln!(out, "state: did not exist yet");
        }
        WebhookState::Active(webhook) => (webhook, None),
        WebhookState::Deleted { webhook, deleted_at } => (webhook, Some(deleted_at)),
    };
    match deleted {
        Some(at) => writeln!(out, "state: deleted at {}", at.to_rfc3339())?,
        None => writeln!(out, "state: active")?,
    }
    writeln!(out, "account: {}", webhook.account_id)?;
    writeln!(out, "url: {}", webhook.url)?;
    let events: Vec<_> = webhook.events.iter().map(|e| e.message_type()).collect();
    writeln!(out, "event types: {}", events.join(", "))?;
    match &webhook.status {
        WebhookStatus::Enabled => writeln!(out, "status: enabled")?,
        WebhookStatus::Disabled { by, reason, since } => {
            writeln!(out, "status: disabled by {by:?} since {} ({reason})", since.to_rfc3339())?
        }
    }
    match found.health.failing_since {
        Some(since) => writeln!(out, "health: failing since {}", since.to_rfc3339())?,
        None => writeln!(out, "health: healthy")?,
    }
    write!(out, "secret version: {}", webhook.secrets.version)?;
    match &webhook.secrets.previous {
        Some(p) => writeln!(out, " (version {} also signs until {})", p.version, p.valid_until.to_rfc3339())?,
        None => writeln!(out)?,
    }
    writeln!(out, "created: {}  updated: {}", webhook.created_at.to_rfc3339(), webhook.updated_at.to_rfc3339())
}
