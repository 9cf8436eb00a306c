//! `packhooks audit stream|webhook|submission|export`: the event history for auditors, from
//! the store itself: a stream as readable rows ([`super::rows`]) or JSON lines, a webhook's
//! state at a time, a submission explained (where it went and why not elsewhere, with the
//! read models' deliveries), and `$all` as JSON lines. Secrets are redacted in all of them.
//! The store is opened read-only (and the read models only read), so these run beside a server
//! writing to the same data directory. Every error (a bad argument, a missing stream) comes
//! before the first line of output.

use std::io::{IsTerminal as _, Write as _};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use packhooks_domain::webhook::{WebhookState, WebhookStatus};
use packhooks_domain::{SubmissionId, WebhookId};
use packhooks_projections::{audit, explain, ReadModels};
use packhooks_store::{Direction, Position};

use super::projections::{open_store, settings};
use super::rows;
use crate::settings::StoreOverrides;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print one stream's events, oldest first: revision, time, type and the fields that
    /// matter for the type, or every field with `--json`.
    Stream {
        /// The stream: `account-<account>`, `webhook-wh_…`, `pack-<pack>` or `deliveries-wh_…`.
        name: String,
        /// One JSON object per line, with every field, instead of rows.
        #[arg(long)]
        json: bool,
        /// Newest first.
        #[arg(long)]
        backwards: bool,
        /// Start at this revision (inclusive; 0 is the stream's first event).
        #[arg(long, value_name = "REVISION")]
        from: Option<u64>,
        /// Print at most this many events (1 to 1000000) [default: all].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        limit: Option<u64>,
        #[command(flatten)]
        settings: StoreOverrides,
    },
    /// Show a webhook as it was at a time: url, event types, status, health, secret version.
    Webhook {
        /// The webhook id, `wh_` and 32 lowercase hex digits.
        #[arg(value_parser = webhook_id)]
        id: WebhookId,
        /// The time, in RFC 3339: `2026-11-28T09:00:00Z` or `2026-11-28T10:00:00+01:00`.
        #[arg(long, value_name = "TIME", value_parser = rfc3339)]
        at: DateTime<Utc>,
        /// The state as one JSON object instead of lines of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        settings: StoreOverrides,
    },
    /// Explain a submission: for each webhook its account has or had, whether it was routed
    /// there and if not why, and each delivery's state and attempts.
    Submission {
        /// The submission id, `sub_` and 32 lowercase hex digits.
        #[arg(value_parser = submission_id)]
        id: SubmissionId,
        /// The explanation as one JSON object (as `GET /v1/submissions/{id}` answers).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        settings: StoreOverrides,
    },
    /// Write every event of the log as JSON lines to stdout.
    Export {
        /// Start at this log position (inclusive), as printed in an event's `position`
        /// (`commit/prepare` when the two differ, on EventStoreDB).
        #[arg(long, value_name = "POSITION", value_parser = position)]
        from: Option<Position>,
        /// Include the store's own system events (EventStoreDB's `$`-streams and types).
        #[arg(long)]
        system: bool,
        #[command(flatten)]
        settings: StoreOverrides,
    },
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    match args.command {
        AuditCommand::Stream { name, json, backwards, from, limit, settings: overrides } => {
            let store = open_store(&settings(&overrides)?)?;
            let direction = if backwards { Direction::Backwards } else { Direction::Forwards };
            let mut left = limit.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
            let read = |from, left: usize| {
                let (store, name) = (&store, &name);
                async move {
                    audit::stream_page(store.as_ref(), name, from, direction, left.min(audit::MAX_PAGE))
                        .await
                        .with_context(|| format!("cannot read stream {name}"))
                }
            };
            // The first page is read before anything is printed, so a failure or a stream
            // that does not exist leaves no header behind.
            let mut page = read(from, left).await?;
            if page.events.is_empty() && from.is_none() {
                anyhow::bail!(
                    "no stream {name} in the log (streams are account-<account>, webhook-wh_…, pack-<pack> \
                     and deliveries-wh_…)"
                );
            }
            let mut out = std::io::BufWriter::new(std::io::stdout());
            if !json {
                writeln!(out, "{}", rows::HEADER)?;
            }
            loop {
                for e in page.events.iter().take(left) {
                    if json {
                        serde_json::to_writer(&mut out, e)?;
                        writeln!(out)?;
                    } else {
                        writeln!(out, "{}", rows::row(e))?;
                    }
                }
                left = left.saturating_sub(page.events.len());
                match page.next {
                    Some(next) if left > 0 => {
                        page = read(Some(next.parse().context("a revision cursor")?), left).await?
                    }
                    _ => break,
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
        AuditCommand::Submission { id, json, settings: overrides } => {
            let settings = settings(&overrides)?;
            let store = open_store(&settings)?;
            let read = ReadModels::open(&packhooks_projections::db_path(&settings.data_dir))
                .context("cannot open the read models")?;
            let found = explain::explain(store.as_ref(), &read, id)
                .await
                .context("cannot explain the submission")?
                .with_context(|| format!("no submission {id} in the read models"))?;
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string(&found)?)?;
            } else {
                print_submission(&mut out, &found)?;
            }
            out.flush()?;
            Ok(())
        }
        AuditCommand::Export { from, system, settings: overrides } => {
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
            let written = audit::export(store.as_ref(), from, system, &mut out, &move |_, at: Position| {
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

/// A time as every output of packhooks shows it: RFC 3339 UTC with `Z`.
fn z(t: impl std::borrow::Borrow<chrono::DateTime<chrono::Utc>>) -> String {
    t.borrow().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn print_submission(out: &mut impl std::io::Write, found: &explain::SubmissionExplained) -> std::io::Result<()> {
    writeln!(
        out,
        "submission {} ({}) at {}",
        found.submission_id,
        found.event_type.message_type(),
        z(found.submitted_at)
    )?;
    writeln!(out, "account: {}", found.account_id)?;
    writeln!(out, "pack: {} ({})", found.pack_id, found.pack_name)?;
    writeln!(out, "position: {}", found.position)?;
    for w in &found.webhooks {
        let deleted = if w.deleted { " (deleted since)" } else { "" };
        match w.reason {
            None => writeln!(out, "webhook {}{deleted}: routed", w.webhook_id)?,
            Some(reason) => writeln!(out, "webhook {}{deleted}: not routed: {}", w.webhook_id, reason.as_str())?,
        }
        if let Some(d) = &w.delivery {
            writeln!(
                out,
                "  delivery {} ({}): {}, {} attempts",
                d.delivery_id,
                d.message_id,
                d.state,
                d.attempts.len()
            )?;
            for a in &d.attempts {
                let result = if a.success { "success" } else { a.code.as_deref().unwrap_or("failure") };
                let status = a.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
                writeln!(
                    out,
                    "  attempt {} at {}: {result}, status {status}, {} ms",
                    a.attempt,
                    z(a.recorded_at),
                    a.latency_ms
                )?;
            }
        }
    }
    Ok(())
}

fn print_webhook(out: &mut impl std::io::Write, found: &audit::WebhookAt) -> std::io::Result<()> {
    writeln!(out, "webhook {} at {}", found.webhook_id, z(found.at))?;
    writeln!(out, "events folded: {}", found.events)?;
    let (webhook, deleted) = match &found.state {
        WebhookState::None => {
            return writeln!(out, "state: did not exist yet");
        }
        WebhookState::Active(webhook) => (webhook, None),
        WebhookState::Deleted { webhook, deleted_at } => (webhook, Some(deleted_at)),
    };
    match deleted {
        Some(at) => writeln!(out, "state: deleted at {}", z(at))?,
        None => writeln!(out, "state: active")?,
    }
    writeln!(out, "account: {}", webhook.account_id)?;
    writeln!(out, "url: {}", webhook.url)?;
    let events: Vec<_> = webhook.events.iter().map(|e| e.message_type()).collect();
    writeln!(out, "event types: {}", events.join(", "))?;
    match &webhook.status {
        WebhookStatus::Enabled => writeln!(out, "status: enabled")?,
        WebhookStatus::Disabled { by, reason, since } => {
            writeln!(out, "status: disabled by {by:?} since {} ({reason})", z(since))?
        }
    }
    match found.health.failing_since {
        Some(since) => writeln!(out, "health: failing since {}", z(since))?,
        None => writeln!(out, "health: healthy")?,
    }
    write!(out, "secret version: {}", webhook.secrets.version)?;
    match &webhook.secrets.previous {
        Some(p) => writeln!(out, " (version {} also signs until {})", p.version, z(p.valid_until))?,
        None => writeln!(out)?,
    }
    writeln!(out, "created: {}  updated: {}", z(webhook.created_at), z(webhook.updated_at))
}

/// `--at`: a time in RFC 3339, with an error that shows the form.
fn rfc3339(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim()).map(|t| t.with_timezone(&Utc)).map_err(|e| {
        format!("{e}: expected an RFC 3339 time such as 2026-11-28T09:00:00Z or 2026-11-28T10:00:00+01:00")
    })
}

/// A webhook id argument, with an error that shows the form.
fn webhook_id(text: &str) -> Result<WebhookId, String> {
    WebhookId::parse(text.trim()).map_err(|e| format!("{e}: expected wh_ and 32 lowercase hex digits"))
}

fn submission_id(text: &str) -> Result<SubmissionId, String> {
    SubmissionId::parse(text.trim()).map_err(|e| format!("{e}: expected sub_ and 32 lowercase hex digits"))
}

/// `--from` of an export: a log position.
fn position(text: &str) -> Result<Position, String> {
    text.trim().parse().map_err(|_| {
        "expected a log position as shown in an event's \"position\" (a whole number, or commit/prepare on \
         EventStoreDB)"
            .to_owned()
    })
}
