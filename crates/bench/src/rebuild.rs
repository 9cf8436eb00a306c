//! `packhooks-bench rebuild`: how fast the projections rebuild from the log, against how
//! fast the same log can merely be read.
//!
//! Generates a store of realistic events (submissions to many packs, delivery attempts to
//! many webhooks with failures, abandons, recoveries and test events), appended in batches,
//! then in the same run measures (1) reading all of `$all` with `read_all` paging, and (2) a
//! blue/green rebuild of every projection into a fresh read-model file, repeating each and
//! reporting medians.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, TimeZone, Utc};
use packhooks_domain::delivery::{
    AttemptOutcome, DeliveryAbandoned, DeliveryAttempted, DeliverySource, FailureCode, WebhookFlaggedFailing,
    WebhookRecovered,
};
use packhooks_domain::submission::{
    CandidateDeclined, CandidateInterested, DeclineReason, DeclinedCandidate, InterestedCandidate, StandardReason,
};
use packhooks_domain::webhook::{EventType, Secret, TestEventRequested, WebhookCreated};
use packhooks_domain::{
    AccountId, DeliveryId, DomainEvent, EventMetadata, PackId, SubmissionId, TestEventId, WebhookId,
};
use packhooks_projections::RebuildOptions;
use packhooks_store::sqlite::SqliteStore;
use packhooks_store::{AllPosition, Direction, EventData, EventStore, ExpectedRevision, Position};
use uuid::Uuid;

use crate::measure::{filesystem_of, median, runs, scratch_root};

pub const ABOUT: &str = "rebuild events/s of all projections vs the raw read rate of the same events (SQLite)";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Events in the generated store (at least this many).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Times each measurement is repeated (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Accounts; each has two webhooks and five packs.
    #[arg(long, default_value_t = 100)]
    accounts: u64,
    /// Scratch directory (default: the system temp dir, or target/bench-tmp if that is tmpfs).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Targets from issue 4.
const TARGET_RATE: f64 = 200_000.0;
const TARGET_RATIO: f64 = 0.3;

/// Events per append (one stream per append).
const APPEND_BATCH: usize = 64;

pub async fn run(args: Args) -> anyhow::Result<()> {
    let root = scratch_root(args.dir.clone())?;
    let dir = tempfile::tempdir_in(&root)?;
    println!(
        "rebuild benchmark: scratch dir {} ({}), {} runs per measurement, medians",
        root.display(),
        filesystem_of(&root),
        args.runs
    );
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(dir.path().join("events.sqlite"))?);
    let started = Instant::now();
    let head = generate(store.as_ref(), args.events, args.accounts).await?;
    let generated = started.elapsed();
    println!(
        "  generated {head} events in {:.1} s ({:.0} events/s, batched appends of {APPEND_BATCH})",
        generated.as_secs_f64(),
        head as f64 / generated.as_secs_f64()
    );

    let mut reads = Vec::new();
    let mut decodes = Vec::new();
    let mut busy = Vec::new();
    let mut rebuilds = Vec::new();
    let (mut read_cpu, mut rebuild_cpu) = (Vec::new(), Vec::new());
    for run in 0..args.runs {
        let started = Instant::now();
        let cpu = process_cpu();
        let read = read_everything(store.as_ref()).await?;
        anyhow::ensure!(read == head, "read {read} events, expected {head}");
        reads.push(read as f64 / started.elapsed().as_secs_f64());
        read_cpu.push(process_cpu() - cpu);
        let started = Instant::now();
        read_pages(store.as_ref(), true).await?;
        decodes.push(head as f64 / started.elapsed().as_secs_f64());
        let cpu = process_cpu();

        let db = dir.path().join(format!("read-models-{run}.sqlite"));
        let report = packhooks_projections::rebuild::rebuild(
            store.clone(),
            &db,
            packhooks_projections::all(),
            RebuildOptions::default(),
            None,
        )
        .await
        .context("rebuild")?;
        anyhow::ensure!(report.scanned == head, "rebuild scanned {} events, expected {head}", report.scanned);
        rebuilds.push(report.events_per_second());
        busy.push(report.writer_busy.as_secs_f64() / report.elapsed.as_secs_f64());
        rebuild_cpu.push(process_cpu() - cpu);
        std::fs::remove_file(&db).ok();
    }
    println!(
        "  rebuild writer busy (share of the rebuild's wall time): {}",
        busy.iter().map(|b| format!("{:.0} %", b * 100.0)).collect::<Vec<_>>().join(", ")
    );
    println!(
        "  CPU seconds (all threads) per raw read: {}; per rebuild: {}",
        read_cpu.iter().map(|c| format!("{c:.2}")).collect::<Vec<_>>().join(", "),
        rebuild_cpu.iter().map(|c| format!("{c:.2}")).collect::<Vec<_>>().join(", ")
    );
    let read = median(&reads);
    let rebuild = median(&rebuilds);
    println!("  {:<54} {read:>12.0} events/s   (runs: {})", "raw read of $all (read_all, pages of 4096)", runs(&reads));
    println!(
        "  {:<54} {:>12.0} events/s   (runs: {})",
        "read and decode (no projection work)",
        median(&decodes),
        runs(&decodes)
    );
    println!(
        "  {:<54} {rebuild:>12.0} events/s   (runs: {})",
        "rebuild of all three projections (blue/green)",
        runs(&rebuilds)
    );
    let ratio = rebuild / read;
    println!("  {:<54} {ratio:>12.2}", "rebuild / raw read");
    verdict(&format!("rebuild >= {TARGET_RATE:.0} events/s"), rebuild >= TARGET_RATE);
    verdict(&format!("rebuild >= {TARGET_RATIO} x raw read"), ratio >= TARGET_RATIO);
    Ok(())
}

/// CPU time (user + system) this process has used, in seconds (Linux; 0 elsewhere). Shows
/// whether a slow number came from this work or from a busy machine.
fn process_cpu() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn verdict(what: &str, ok: bool) {
    println!("  target {what}: {}", if ok { "met" } else { "NOT met" });
}

async fn read_everything(store: &dyn EventStore) -> anyhow::Result<u64> {
    read_pages(store, false).await
}

/// Reads all of `$all`, decoding each event into a domain event when `decode` is set.
async fn read_pages(store: &dyn EventStore, decode: bool) -> anyhow::Result<u64> {
    let mut from = AllPosition::Start;
    let mut last: Option<Position> = None;
    let mut count = 0u64;
    loop {
        let page = store.read_all(from, Direction::Forwards, 4096).await?;
        let full = page.len() == 4096;
        count += page.iter().filter(|e| Some(e.position) > last).count() as u64;
        if decode {
            // The projections' own decode: the types they read, the fields they keep.
            for e in &page {
                packhooks_projections::event::Event::decode(&e.event_type, &e.data)
                    .with_context(|| format!("undecodable {} at {}", e.event_type, e.position))?;
            }
        }
        match page.last() {
            Some(e) => {
                last = Some(e.position);
                from = AllPosition::Position(e.position);
            }
            None => break,
        }
        if !full {
            break;
        }
    }
    Ok(count)
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
}

fn data(event: &DomainEvent, metadata: &[u8]) -> EventData {
    EventData::json(Uuid::new_v4(), event.event_type(), event.to_json(), metadata.to_vec())
}

fn source(stream: &str, message: Uuid, test: bool) -> DeliverySource {
    DeliverySource {
        stream: stream.to_owned(),
        revision: 0,
        position: packhooks_domain::Position::at(0),
        message_id: format!("msg_{}", message.simple()),
        test,
    }
}

/// Appends at least `total` events: per round, a batch of submissions to one pack, then a
/// batch of delivery outcomes for one of that account's webhooks (2 % of deliveries fail
/// three times and are abandoned, flagging the webhook, which recovers on its next success;
/// some rounds carry test events). Appends run 16 at a time, each to its own stream.
async fn generate(store: &dyn EventStore, total: u64, accounts: u64) -> anyhow::Result<u64> {
    let metadata = serde_json::to_vec(&EventMetadata::correlated("bench"))?;
    let accounts: Vec<AccountId> =
        (0..accounts).map(|a| AccountId::parse(format!("acc_{a}")).expect("valid")).collect();
    let webhooks: Vec<WebhookId> =
        (0..accounts.len() * 2).map(|w| WebhookId::from_uuid(Uuid::from_u128(w as u128 + 1))).collect();
    for (i, wh) in webhooks.iter().enumerate() {
        let created: DomainEvent = WebhookCreated {
            webhook_id: *wh,
            account_id: accounts[i / 2].clone(),
            url: format!("https://hooks.example.com/{i}"),
            events: vec![EventType::Interested, EventType::Declined],
            description: None,
            format: Default::default(),
            secret: Secret::new("whsec_YmVuY2htYXJrYmVuY2htYXJrYmVuY2htYXJr".into()),
            secret_version: 1,
            recorded_at: t0(),
        }
        .into();
        store.append(&wh.stream(), ExpectedRevision::Any, vec![data(&created, &metadata)]).await?;
    }
    let mut written = webhooks.len() as u64;
    let mut failing = vec![false; webhooks.len()];
    let mut round = 0u64;
    let mut pending: Vec<(String, Vec<EventData>)> = Vec::new();
    while written < total {
        round += 1;
        let a = (round % accounts.len() as u64) as usize;
        let account = &accounts[a];
        let pack = PackId::parse(format!("pk_{a}_{}", round % 5)).expect("valid");
        let w = a * 2 + (round % 2) as usize;
        let wh = webhooks[w];
        let at = t0() + Duration::seconds(round as i64 * 7);
        let mut submissions = Vec::with_capacity(APPEND_BATCH);
        let mut deliveries = Vec::with_capacity(APPEND_BATCH * 2);
        for i in 0..APPEND_BATCH as u64 {
            let n = round * APPEND_BATCH as u64 + i;
            let message = Uuid::from_u128(n as u128 | (1 << 100));
            let submitted_at = at + Duration::milliseconds(i as i64);
            let submission: DomainEvent = match n % 4 {
                0 => CandidateDeclined {
                    submission_id: SubmissionId::from_uuid(message),
                    account_id: account.clone(),
                    pack_id: pack.clone(),
                    pack_name: "Senior Rust Engineer".into(),
                    candidate: DeclinedCandidate { name: Some("Ada".into()), email: Some("ada@example.com".into()) },
                    reason: if n.is_multiple_of(8) {
                        DeclineReason::Custom(format!("Reason #{}", n % 3))
                    } else {
                        DeclineReason::Standard(StandardReason::ALL[(n % 7) as usize])
                    },
                    feedback: Some("Thanks, but not now.".into()),
                    submitted_at,
                }
                .into(),
                _ => CandidateInterested {
                    submission_id: SubmissionId::from_uuid(message),
                    account_id: account.clone(),
                    pack_id: pack.clone(),
                    pack_name: "Senior Rust Engineer".into(),
                    candidate: InterestedCandidate {
                        name: Some("Ada Lovelace".into()),
                        email: Some("ada@example.com".into()),
                        phone: Some("+31 6 1234 5678".into()),
                        ..Default::default()
                    },
                    submitted_at,
                }
                .into(),
            };
            submissions.push(data(&submission, &metadata));
            let delivery = DeliveryId::for_message(wh, message);
            let src = source(&pack.stream(), message, false);
            let attempt = |attempt: u32, outcome: AttemptOutcome, at: DateTime<Utc>| -> DomainEvent {
                DeliveryAttempted {
                    webhook_id: wh,
                    delivery_id: delivery,
                    source: src.clone(),
                    attempt,
                    next_attempt_at: (!outcome.is_success() && attempt < 3).then(|| at + Duration::minutes(1)),
                    outcome,
                    latency_ms: 40 + n % 50,
                    response_body: Some("ok".into()),
                    recorded_at: at,
                }
                .into()
            };
            if n % 50 == 7 {
                for k in 1..=3u32 {
                    let outcome =
                        AttemptOutcome::Failure { code: FailureCode::Status, status: Some(503), detail: "503".into() };
                    deliveries.push(attempt(k, outcome, submitted_at + Duration::minutes(k as i64)));
                }
                let gave_up = submitted_at + Duration::minutes(3);
                deliveries.push(
                    DeliveryAbandoned {
                        webhook_id: wh,
                        delivery_id: delivery,
                        source: src.clone(),
                        attempts: 3,
                        recorded_at: gave_up,
                    }
                    .into(),
                );
                if !failing[w] {
                    failing[w] = true;
                    deliveries.push(
                        WebhookFlaggedFailing {
                            webhook_id: wh,
                            delivery_id: delivery,
                            failing_since: gave_up,
                            recorded_at: gave_up,
                        }
                        .into(),
                    );
                }
            } else {
                deliveries.push(attempt(1, AttemptOutcome::Success { status: 200 }, submitted_at));
                if failing[w] {
                    failing[w] = false;
                    deliveries.push(
                        WebhookRecovered { webhook_id: wh, delivery_id: delivery, recorded_at: submitted_at }.into(),
                    );
                }
            }
        }
        if round.is_multiple_of(10) {
            let test_id = TestEventId::from_uuid(Uuid::from_u128(round as u128 | (1 << 110)));
            let requested: DomainEvent = TestEventRequested {
                webhook_id: wh,
                account_id: account.clone(),
                test_id,
                event: EventType::Interested,
                recorded_at: at,
            }
            .into();
            pending.push((wh.stream(), vec![data(&requested, &metadata)]));
            let test: DomainEvent = DeliveryAttempted {
                webhook_id: wh,
                delivery_id: DeliveryId::for_message(wh, test_id.uuid()),
                source: source(&wh.stream(), test_id.uuid(), true),
                attempt: 1,
                outcome: AttemptOutcome::Failure {
                    code: FailureCode::Timeout,
                    status: None,
                    detail: "timed out".into(),
                },
                latency_ms: 10_000,
                response_body: None,
                next_attempt_at: None,
                recorded_at: at,
            }
            .into();
            deliveries.push(test);
        }
        written += (submissions.len() + deliveries.len() + usize::from(round.is_multiple_of(10))) as u64;
        pending.push((pack.stream(), submissions));
        pending.push((wh.deliveries_stream(), deliveries.iter().map(|e| data(e, &metadata)).collect()));
        if pending.len() >= 32 {
            flush(store, &mut pending).await?;
        }
    }
    flush(store, &mut pending).await?;
    Ok(store.head().await?.map(|p| p.commit).unwrap_or(0))
}

/// Appends the pending batches, 16 at a time; batches of one stream keep their order.
async fn flush(store: &dyn EventStore, pending: &mut Vec<(String, Vec<EventData>)>) -> anyhow::Result<()> {
    use futures::stream::{self, TryStreamExt};
    let mut by_stream: std::collections::BTreeMap<String, Vec<EventData>> = std::collections::BTreeMap::new();
    for (stream, events) in pending.drain(..) {
        by_stream.entry(stream).or_default().extend(events);
    }
    stream::iter(by_stream.into_iter().map(Ok::<_, anyhow::Error>))
        .try_for_each_concurrent(16, |(stream, events)| async move {
            store.append(&stream, ExpectedRevision::Any, events).await?;
            Ok(())
        })
        .await
}
