//! `packhooks-bench store`: durable append throughput of the SQLite event store (one
//! appender, then 64 concurrent appenders of single events) and how fast subscriptions
//! deliver (live, and a catch-up read over history).
//!
//! Every run uses a fresh store in a scratch directory on a real disk; each measurement is
//! repeated and the median printed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use packhooks_store::sqlite::SqliteStore;
use packhooks_store::{EventData, EventStore, ExpectedRevision, SubscribeFrom, SubscriptionEvent};
use uuid::Uuid;

use crate::measure::{filesystem_of, median, rate, runs, scratch_root, thread_cpu};

pub const ABOUT: &str = "durable appends/s (1 and 64 appenders) and subscription delivery rates of the SQLite store";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Times each measurement is repeated (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Sequential single-event appends by the lone appender, per run.
    #[arg(long, default_value_t = 1_000)]
    single_appends: u64,
    /// Concurrent appenders, each appending single events to its own stream.
    #[arg(long, default_value_t = 64)]
    appenders: u64,
    /// Single-event appends per concurrent appender, per run.
    #[arg(long, default_value_t = 400)]
    appends_each: u64,
    /// Events written for the subscription measurements, per run.
    #[arg(long, default_value_t = 200_000)]
    subscription_events: u64,
    /// Scratch directory (default: the system temp dir, or target/bench-tmp if that is tmpfs).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Targets from issue 2 for this 2-core machine.
const TARGET_CONCURRENT: f64 = 20_000.0;
const TARGET_RATIO: f64 = 10.0;

pub async fn run(args: Args) -> anyhow::Result<()> {
    let root = scratch_root(args.dir.clone())?;
    println!(
        "store benchmark: scratch dir {} ({}), {} runs per measurement, medians",
        root.display(),
        filesystem_of(&root),
        args.runs
    );
    let payload = Payload::new();

    let mut single = Vec::new();
    for _ in 0..args.runs {
        single.push(single_appender(&root, &payload, args.single_appends).await?);
    }
    let single_median = median(&single);
    line(
        &format!("1 appender, {} sequential 1-event appends", args.single_appends),
        single_median,
        "events/s",
        &single,
    );

    let mut concurrent = Vec::new();
    let mut per_commit = Vec::new();
    for _ in 0..args.runs {
        let (events_per_s, appends_per_commit) =
            concurrent_appenders(&root, &payload, args.appenders, args.appends_each).await?;
        concurrent.push(events_per_s);
        per_commit.push(appends_per_commit);
    }
    let concurrent_median = median(&concurrent);
    line(
        &format!("{} concurrent appenders, 1-event appends", args.appenders),
        concurrent_median,
        "events/s",
        &concurrent,
    );
    println!("    {:<52} {:>12.1} appends per commit (group commit)", "", median(&per_commit));
    let ratio = concurrent_median / single_median;
    println!("  {:<54} {ratio:>12.1}x", format!("ratio {} concurrent / 1 appender", args.appenders));

    let mut live = Vec::new();
    let mut catch_up = Vec::new();
    let mut written = Vec::new();
    for _ in 0..args.runs {
        let r = subscriptions(&root, &payload, args.subscription_events).await?;
        live.push(r.live);
        written.push(r.written);
        catch_up.push(r.catch_up);
    }
    line("live subscriber (8 writers appending 500-event batches)", median(&live), "events/s", &live);
    println!("    {:<52} {:>12.0} events/s written meanwhile", "", median(&written));
    line(
        &format!("catch-up subscription over {} events", args.subscription_events),
        median(&catch_up),
        "events/s",
        &catch_up,
    );

    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "targets: {} concurrent >= {TARGET_CONCURRENT:.0} events/s: {}; >= {TARGET_RATIO:.0}x one appender: {}",
        args.appenders,
        verdict(concurrent_median >= TARGET_CONCURRENT),
        verdict(ratio >= TARGET_RATIO),
    );
    Ok(())
}

fn line(what: &str, value: f64, unit: &str, all: &[f64]) {
    println!("  {what:<54} {value:>12.0} {unit}   (runs: {})", runs(all));
}

/// A realistic event body and metadata (a submission, about half a kilobyte).
struct Payload {
    data: Bytes,
    metadata: Bytes,
}

impl Payload {
    fn new() -> Self {
        let data = r#"{"submission_id":"sub_01JDZ8Q9X4","account_id":"acc_7","pack_id":"pk_42","pack_name":"Senior Rust Engineer","submitted_at":"2026-11-28T09:00:00.123456Z","candidate":{"name":"Ada Lovelace","email":"ada@example.com","phone":"+31 6 1234 5678","linkedin_url":"https://www.linkedin.com/in/ada","resume_url":null,"message":"I would love to hear more about the team and the role."}}"#;
        let metadata = r#"{"correlation_id":"sub_01JDZ8Q9X4","causation_id":"cmd_01JDZ8Q9X4"}"#;
        Payload { data: Bytes::from_static(data.as_bytes()), metadata: Bytes::from_static(metadata.as_bytes()) }
    }

    fn event(&self) -> EventData {
        EventData {
            id: Uuid::new_v4(),
            event_type: "CandidateInterested".into(),
            data: self.data.clone(),
            metadata: self.metadata.clone(),
        }
    }
}

/// A fresh store in its own scratch directory (removed when the guard drops).
fn fresh_store(root: &Path) -> anyhow::Result<(tempfile::TempDir, SqliteStore)> {
    let dir = tempfile::Builder::new().prefix("store-bench-").tempdir_in(root)?;
    let store = SqliteStore::open(dir.path().join("events.sqlite")).context("open the store")?;
    Ok((dir, store))
}

async fn single_appender(root: &Path, payload: &Payload, appends: u64) -> anyhow::Result<f64> {
    let (_dir, store) = fresh_store(root)?;
    let started = Instant::now();
    let mut expected = ExpectedRevision::NoStream;
    for _ in 0..appends {
        let result = store.append("deliveries-bench", expected, vec![payload.event()]).await?;
        expected = ExpectedRevision::Exact(result.next_expected_revision);
    }
    let elapsed = started.elapsed();
    store.close().await?;
    Ok(rate(appends, elapsed))
}

/// Returns (events/s, appends per commit).
async fn concurrent_appenders(root: &Path, payload: &Payload, appenders: u64, each: u64) -> anyhow::Result<(f64, f64)> {
    let (_dir, store) = fresh_store(root)?;
    let before = store.stats();
    let started = Instant::now();
    let tasks: Vec<_> = (0..appenders)
        .map(|i| {
            let store = store.clone();
            let events: Vec<EventData> = (0..each).map(|_| payload.event()).collect();
            tokio::spawn(async move {
                let stream = format!("pack-{i}");
                let mut expected = ExpectedRevision::NoStream;
                for event in events {
                    let result = store.append(&stream, expected, vec![event]).await?;
                    expected = ExpectedRevision::Exact(result.next_expected_revision);
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let stats = store.stats();
    let writer_cpu = thread_cpu("packhooks-store");
    store.close().await?;
    let commits = (stats.commits - before.commits).max(1);
    if let Some(cpu) = writer_cpu {
        tracing::info!(
            writer_cpu_us_per_event = cpu.as_secs_f64() * 1e6 / (appenders * each) as f64,
            elapsed_ms = elapsed.as_millis() as u64,
            commits,
            commit_ms = (stats.commit_micros - before.commit_micros) / 1000,
            "concurrent appenders run"
        );
    }
    Ok((rate(appenders * each, elapsed), (stats.appends - before.appends) as f64 / commits as f64))
}

struct SubscriptionRates {
    live: f64,
    written: f64,
    catch_up: f64,
}

async fn subscriptions(root: &Path, payload: &Payload, total: u64) -> anyhow::Result<SubscriptionRates> {
    const WRITERS: u64 = 8;
    const BATCH: u64 = 500;
    let (_dir, store) = fresh_store(root)?;
    let store: Arc<dyn EventStore> = Arc::new(store);

    // Live: a subscriber from the end counts what it receives while writers append.
    let mut sub = store.subscribe_to_all(SubscribeFrom::End, None).await?;
    anyhow::ensure!(matches!(sub.next().await, Some(Ok(SubscriptionEvent::CaughtUp))), "caught-up first");
    let per_writer = total / WRITERS / BATCH;
    let expected = per_writer * WRITERS * BATCH;
    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            let batches: Vec<Vec<EventData>> =
                (0..per_writer).map(|_| (0..BATCH).map(|_| payload.event()).collect()).collect();
            tokio::spawn(async move {
                for batch in batches {
                    store.append(&format!("pack-{w}"), ExpectedRevision::Any, batch).await?;
                }
                anyhow::Ok(started.elapsed())
            })
        })
        .collect();
    let mut received = 0;
    while received < expected {
        match tokio::time::timeout(Duration::from_secs(60), sub.next()).await {
            Ok(Some(Ok(SubscriptionEvent::Event(_)))) => received += 1,
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => anyhow::bail!("the live subscription ended"),
            Err(_) => anyhow::bail!("the live subscription stalled at {received} of {expected}"),
        }
    }
    let live_elapsed = started.elapsed();
    let mut write_elapsed = Duration::ZERO;
    for writer in writers {
        write_elapsed = write_elapsed.max(writer.await??);
    }
    drop(sub);

    // Catch-up: read everything from the start until caught up.
    let started = Instant::now();
    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, None).await?;
    let mut read = 0;
    loop {
        match sub.next().await {
            Some(Ok(SubscriptionEvent::Event(_))) => read += 1,
            Some(Ok(SubscriptionEvent::CaughtUp)) => break,
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("the catch-up subscription ended"),
        }
    }
    let catch_up_elapsed = started.elapsed();
    anyhow::ensure!(read == expected, "catch-up read {read} of {expected} events");
    drop(sub);
    store.close().await?;
    Ok(SubscriptionRates {
        live: rate(expected, live_elapsed),
        written: rate(expected, write_elapsed),
        catch_up: rate(expected, catch_up_elapsed),
    })
}
