//! `scripts/bench e2e`: end-to-end delivery throughput and latency, against a raw ceiling.
//!
//! 1. Raw ceiling: the load generator (hyper 1 client, N keep-alive connections, one request
//!    at a time on each) POSTs a webhook-sized body straight to the `TestReceiver`.
//! 2. End to end: the same generator POSTs form submissions to a real packhooks (SQLite on a
//!    real disk, every 2xx durable; a fresh data directory each run), which delivers each,
//!    signed, to every webhook of the account (the fan-out), all on the same receiver; the
//!    rate counts until every delivery arrived and its `DeliveryAttempted` is on disk. The
//!    projections run as in production; how long they take to catch up is printed.
//!    1 and 2 alternate for `--runs` runs; medians and their ratio are reported.
//! 3. Relay ceiling (`relay.rs`): the same generator POSTs the webhook-sized body to a bare
//!    hyper relay that POSTs it on to the receiver before it answers: the least work any
//!    webhook server can do per delivery, so relay/raw bounds what e2e/raw can reach here.
//!    Measured in the same alternation.
//! 4. Framework relay ceiling (`framework_relay.rs`): the same relay on the stack packhooks
//!    must use, an actix-web server taking the POSTs and an awc client sending them on; set
//!    beside 3, it shows how much of the gap to the bare relay the web stack itself takes.
//!    Measured in the same alternation.
//! 5. Latency: submissions at a fixed rate (open loop) to a fresh server; submission sent →
//!    signed POST arrived, p50 and p99.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use packhooks::settings::Overrides;
use packhooks::{Application, Settings};
use packhooks_store::{Direction, EventStore, StoreError, StreamPosition};
use packhooks_tests::receiver::{Recording, TestReceiver};

use crate::framework_relay::FrameworkRelay;
use crate::measure;
use crate::relay::Relay;

pub const ABOUT: &str = "End-to-end deliveries/s (HTTP submission → signed POST received, all durable) against the raw ceiling of the same generator POSTing straight to the receiver; p50/p99 submission→arrival latency at fixed rates";

#[derive(clap::Args)]
pub struct Args {
    /// Seconds each throughput phase runs.
    #[arg(long, default_value_t = 4.0)]
    seconds: f64,
    /// Concurrent keep-alive connections of the load generator.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Fan-outs to measure: webhooks on the account, each submission delivered to every
    /// one (1 is the least favourable: a whole submission per delivery; 4 is the plan limit).
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    webhooks: Vec<usize>,
    /// Alternated runs of the raw ceiling and each end-to-end fan-out; medians are reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Fixed submission rates for the latency phase, per second.
    #[arg(long, value_delimiter = ',', default_value = "200,1000")]
    rates: Vec<u32>,
    /// Seconds each latency phase runs.
    #[arg(long, default_value_t = 5.0)]
    latency_seconds: f64,
    /// Threads of the load generator. One, with one receiver thread: on a 2-core machine
    /// the two then each keep a core without preempting each other (about 10% less CPU per
    /// raw POST than 2 + 2 threads, measured by CPU time); the e2e server has its own threads.
    #[arg(long, default_value_t = 1)]
    generator_threads: usize,
    /// Stop after the raw ceiling.
    #[arg(long)]
    raw_only: bool,
    /// Server threads of the receiver (see `generator_threads`).
    #[arg(long, default_value_t = 1)]
    receiver_threads: usize,
    /// Threads of the relay (see `relay.rs`); 0 skips the relay ceiling. One, like the
    /// generator and the receiver: 2 threads measured 0.39 of raw against 0.45 for one.
    #[arg(long, default_value_t = 1)]
    relay_threads: usize,
    /// actix-web workers of the framework relay (see `framework_relay.rs`), each with its
    /// own awc client; 0 skips the framework relay ceiling. One, like the bare relay.
    #[arg(long, default_value_t = 1)]
    framework_relay_threads: usize,
    /// Where the data directory goes (default: a temp dir on a real disk).
    #[arg(long)]
    scratch: Option<PathBuf>,
}

const TOKEN: &str = "bench-token-0123456789abcdef";

/// One kind of request the generator sends over and over.
struct Shot {
    addr: SocketAddr,
    /// Built once; each request clones it.
    template: Request<Full<Bytes>>,
}

impl Shot {
    fn new(addr: SocketAddr, path: &str, headers: &[(&'static str, String)], body: Bytes) -> Self {
        let mut builder = Request::post(path).header("host", addr.to_string());
        for (name, value) in headers {
            builder = builder.header(*name, value.as_str());
        }
        Shot { addr, template: builder.body(Full::new(body)).expect("a valid request") }
    }

    /// The same request, sent to `addr`.
    fn to(&self, addr: SocketAddr) -> Self {
        let mut template = self.request();
        template.headers_mut().insert("host", addr.to_string().parse().expect("a valid host header"));
        Shot { addr, template }
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(self.template.body().clone());
        *request.method_mut() = self.template.method().clone();
        *request.uri_mut() = self.template.uri().clone();
        *request.headers_mut() = self.template.headers().clone();
        request
    }
}

async fn connect(addr: SocketAddr) -> anyhow::Result<http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends `shot` on `connections` connections, one request at a time each, for `duration`,
/// from `threads` generator threads (each a current-thread runtime, so a connection's
/// request and answer never hop threads); returns the 2xx answers and the time taken.
async fn closed_loop(shot: Arc<Shot>, connections: usize, threads: usize, duration: Duration) -> anyhow::Result<(u64, Duration)> {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let threads = threads.clamp(1, connections.max(1));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (shot, done) = (shot.clone(), done.clone());
            let mine = connections / threads + usize::from(t < connections % threads);
            std::thread::spawn(move || -> anyhow::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                runtime.block_on(async move {
                    let mut tasks = Vec::new();
                    for _ in 0..mine {
                        let (shot, done) = (shot.clone(), done.clone());
                        let mut sender = connect(shot.addr).await?;
                        tasks.push(tokio::spawn(async move {
                            while Instant::now() < deadline {
                                let Ok(response) = sender.send_request(shot.request()).await else { break };
                                let ok = response.status().is_success();
                                let _ = response.into_body().collect().await;
                                if ok {
                                    done.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }));
                    }
                    for task in tasks {
                        task.await?;
                    }
                    Ok(())
                })
            })
        })
        .collect();
    for worker in workers {
        worker.join().map_err(|_| anyhow::anyhow!("a generator thread panicked"))??;
    }
    Ok((done.load(Ordering::Relaxed), started.elapsed()))
}

/// Runs the generator's webhook-sized POSTs through a relay at `addr`: the 2xx answers, the
/// time taken and the process's CPU time meanwhile.
async fn through_relay(args: &Args, raw_shot: &Shot, addr: SocketAddr) -> anyhow::Result<(u64, Duration, Duration)> {
    let shot = Arc::new(raw_shot.to(addr));
    let cpu_before = process_cpu();
    let (relayed, elapsed) =
        closed_loop(shot, args.connections, args.generator_threads, Duration::from_secs_f64(args.seconds)).await?;
    Ok((relayed, elapsed, process_cpu() - cpu_before))
}

/// The running server: its address, its store, and a way to stop it.
struct Server {
    addr: SocketAddr,
    store: Arc<dyn EventStore>,
    stop: actix_web::dev::ServerHandle,
    thread: std::thread::JoinHandle<()>,
}

fn start_server(data_dir: PathBuf) -> anyhow::Result<Server> {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let overrides = Overrides::default()
                .set("PACKHOOKS_LISTEN", "127.0.0.1:0")
                .set("PACKHOOKS_DATA_DIR", data_dir.to_string_lossy())
                .set("PACKHOOKS_API_TOKEN", TOKEN)
                .set("PACKHOOKS_ALLOW_PRIVATE_TARGETS", "true");
            let app = match Settings::load(&overrides).map_err(anyhow::Error::from) {
                Ok(settings) => Application::build(settings).await.map_err(anyhow::Error::from),
                Err(e) => Err(e),
            };
            match app {
                Ok(app) => {
                    let addr = SocketAddr::from(([127, 0, 0, 1], app.port()));
                    let _ = tx.send(Ok((addr, app.store(), app.server_handle())));
                    if let Err(e) = app.run_until_stopped().await {
                        eprintln!("server stopped with an error: {e:#}");
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
    });
    let (addr, store, stop) = rx.recv().context("the server thread ended")??;
    Ok(Server { addr, store, stop, thread })
}

async fn call(client: &reqwest::Client, method: reqwest::Method, url: String, body: serde_json::Value) -> anyhow::Result<serde_json::Value> {
    let mut request = client.request(method, url).bearer_auth(TOKEN);
    if !body.is_null() {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "setup call failed: {status} {body}");
    Ok(body)
}

fn submission_shot(addr: SocketAddr) -> Shot {
    let body = serde_json::json!({
        "account_id": "acc_bench",
        "pack_name": "Senior Rust Engineer",
        "candidate": {"name": "Ada", "email": "ada@example.com", "phone": "+31 6 1234 5678"}
    });
    Shot::new(
        addr,
        "/v1/packs/pk_bench/interest",
        &[("authorization", format!("Bearer {TOKEN}")), ("content-type", "application/json".into())],
        Bytes::from(body.to_string()),
    )
}

/// Counts `DeliveryAttempted` events over all the webhooks' `deliveries-` streams.
async fn durable_attempts(store: &dyn EventStore, webhooks: &[String]) -> anyhow::Result<usize> {
    let mut total = 0;
    for id in webhooks {
        let stream = packhooks_domain::WebhookId::parse(id)?.deliveries_stream();
        let mut from = StreamPosition::Start;
        loop {
            let page = match store.read_stream(&stream, from, Direction::Forwards, 4096).await {
                Ok(page) => page,
                Err(StoreError::StreamNotFound(_)) => break,
                Err(e) => return Err(e.into()),
            };
            total += page.iter().filter(|e| e.event_type == "DeliveryAttempted").count();
            match page.last() {
                Some(last) if page.len() == 4096 => from = StreamPosition::Revision(last.revision + 1),
                _ => break,
            }
        }
    }
    Ok(total)
}

/// CPU time (user + system) this process used so far, exited threads included.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / 100.0)
}

/// CPU time (user + system) each live thread of this process used so far, summed by thread
/// name (threads that share a name are summed together).
fn thread_cpu() -> std::collections::BTreeMap<String, Duration> {
    let mut by_name = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return by_name };
    for task in tasks.flatten() {
        let path = task.path();
        let (Ok(name), Ok(stat)) =
            (std::fs::read_to_string(path.join("comm")), std::fs::read_to_string(path.join("stat")))
        else {
            continue;
        };
        let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        *by_name.entry(name.trim().to_owned()).or_default() +=
            Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / 100.0);
    }
    by_name
}

/// The server's storage threads (see `packhooks_store::sqlite` and `packhooks_projections`):
/// what durable events and read models cost per delivery, apart from HTTP and delivery.
const STORAGE_THREADS: [(&str, &str); 3] =
    [("packhooks-store", "store writer"), ("packhooks-ckpt", "WAL checkpointer"), ("projections", "projection runner")];

/// Microseconds of CPU per delivery of each storage thread between two `thread_cpu` reads.
fn storage_cpu_per_delivery(
    before: &std::collections::BTreeMap<String, Duration>,
    after: &std::collections::BTreeMap<String, Duration>,
    deliveries: usize,
) -> Vec<(&'static str, f64)> {
    STORAGE_THREADS
        .iter()
        .map(|(thread, label)| {
            let of = |cpu: &std::collections::BTreeMap<String, Duration>| cpu.get(*thread).copied().unwrap_or_default();
            let used = of(after).saturating_sub(of(before));
            (*label, used.as_secs_f64() * 1e6 / deliveries.max(1) as f64)
        })
        .collect()
}

/// The rate if the work had every core to itself: work / (CPU seconds / cores). Other
/// processes on the machine (builds, other benchmarks) lower the wall-clock rate, not this.
fn cpu_rate(count: u64, cpu: Duration) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    count as f64 / (cpu.as_secs_f64() / cores)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The server with an account on the scale plan and `fanout` webhooks on `interested`, all
/// pointing at the receiver.
struct Deployment {
    server: Server,
    webhook_ids: Vec<String>,
    client: reqwest::Client,
    _data_dir: tempfile::TempDir,
}

impl Deployment {
    async fn start(scratch: &std::path::Path, receiver: &TestReceiver, fanout: usize) -> anyhow::Result<Self> {
        let data_dir = tempfile::tempdir_in(scratch)?;
        let server = start_server(data_dir.path().to_path_buf())?;
        let base = format!("http://{}", server.addr);
        let client = reqwest::Client::new();
        call(&client, reqwest::Method::PUT, format!("{base}/v1/accounts/acc_bench/plan"), serde_json::json!({"plan": "scale"})).await?;
        let mut webhook_ids = Vec::new();
        for i in 0..fanout {
            let created = call(
                &client,
                reqwest::Method::POST,
                format!("{base}/v1/accounts/acc_bench/webhooks"),
                serde_json::json!({"url": receiver.url(&format!("/hook{i}")), "events": ["interested"]}),
            )
            .await?;
            webhook_ids.push(created["id"].as_str().context("webhook id")?.to_owned());
        }
        Ok(Deployment { server, webhook_ids, client, _data_dir: data_dir })
    }

    /// Polls the projections' status until none lags behind the head of the log.
    async fn projections_caught_up(&self, deadline: Instant) -> anyhow::Result<bool> {
        let url = format!("http://{}/v1/ops/projections", self.server.addr);
        while Instant::now() < deadline {
            let status = call(&self.client, reqwest::Method::GET, url.clone(), serde_json::Value::Null).await?;
            let projections = status["data"].as_array().context("projection status list")?;
            if projections.iter().all(|p| p["lag"]["events"].as_u64() == Some(0)) {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(false)
    }

    async fn stop(self) {
        self.server.stop.stop(true).await;
        let _ = self.server.thread.join();
    }
}

/// One end-to-end throughput run.
struct Throughput {
    /// Deliveries per second, wall clock, until the last outcome was durable.
    rate: f64,
    by_cpu: f64,
}

async fn throughput(args: &Args, scratch: &std::path::Path, receiver: &TestReceiver, fanout: usize) -> anyhow::Result<Throughput> {
    receiver.clear();
    let deployment = Deployment::start(scratch, receiver, fanout).await?;
    let shot = Arc::new(submission_shot(deployment.server.addr));
    let cpu_before = process_cpu();
    let threads_before = thread_cpu();
    let started = Instant::now();
    let (submitted, submit_elapsed) =
        closed_loop(shot, args.connections, args.generator_threads, Duration::from_secs_f64(args.seconds)).await?;
    let expected = submitted as usize * fanout;
    let wait_until = Instant::now() + Duration::from_secs(120);
    while receiver.count() < expected && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let arrived_at = Instant::now();
    let arrived = receiver.count();
    while durable_attempts(deployment.server.store.as_ref(), &deployment.webhook_ids).await? < expected
        && Instant::now() < wait_until
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let durable_at = Instant::now();
    let cpu = process_cpu() - cpu_before;
    anyhow::ensure!(arrived >= expected, "only {arrived} of {expected} deliveries arrived within 120 s");
    let caught_up = deployment.projections_caught_up(Instant::now() + Duration::from_secs(120)).await?;
    let projected_at = Instant::now();
    let storage = storage_cpu_per_delivery(&threads_before, &thread_cpu(), expected);
    deployment.stop().await;
    let run = Throughput { rate: measure::rate(expected as u64, durable_at - started), by_cpu: cpu_rate(expected as u64, cpu) };
    println!(
        "  fan-out {fanout}: {:.0} deliveries/s ({:.0} by CPU time); {submitted} submissions accepted in {:.2} s, {expected} deliveries arrived after {:.2} s, outcomes durable after {:.2} s, projections {} after {:.2} s",
        run.rate,
        run.by_cpu,
        submit_elapsed.as_secs_f64(),
        (arrived_at - started).as_secs_f64(),
        (durable_at - started).as_secs_f64(),
        if caught_up { "caught up" } else { "STILL BEHIND" },
        (projected_at - started).as_secs_f64(),
    );
    let per_delivery = cpu.as_secs_f64() * 1e6 / expected.max(1) as f64;
    let listed: Vec<String> = storage.iter().map(|(label, us)| format!("{label} {us:.1}")).collect();
    println!(
        "    CPU per delivery: {per_delivery:.1} µs in all (generator and receiver included, until outcomes were durable); storage threads (until projections caught up): {} µs",
        listed.join(", ")
    );
    Ok(run)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let receiver = TestReceiver::with(Recording::Arrivals, args.receiver_threads);
    let duration = Duration::from_secs_f64(args.seconds);
    let sample = Bytes::from(format!(
        r#"{{"type":"candidate.interested","id":"msg_{0}","timestamp":"2026-11-28T09:00:00.123456Z","test":false,"data":{{"account_id":"acc_bench","submission_id":"sub_{0}","submitted_at":"2026-11-28T09:00:00.123456Z","pack":{{"id":"pk_bench","name":"Senior Rust Engineer"}},"candidate":{{"name":"Ada","email":"ada@example.com","phone":"+31 6 1234 5678","linkedin_url":null,"resume_url":null,"message":null}}}}}}"#,
        "0".repeat(32)
    ));
    let raw_shot = Arc::new(Shot::new(
        receiver.addr(),
        "/raw",
        &[
            ("content-type", "application/json".into()),
            ("webhook-id", format!("msg_{}", "0".repeat(32))),
            ("webhook-timestamp", "1764320400".into()),
            ("webhook-signature", format!("v1,{}", "A".repeat(44))),
            ("user-agent", "packhooks/0.1.0".into()),
        ],
        sample,
    ));
    let scratch = measure::scratch_root(args.scratch.clone())?;
    println!("data directories on {}", measure::filesystem_of(&scratch));

    // Raw ceiling and end to end, alternated so that a noisy moment hits both alike.
    let mut raw_runs = Vec::new();
    let mut raw_cpu_runs = Vec::new();
    let mut relay_runs = Vec::new();
    let mut relay_cpu_runs = Vec::new();
    let mut framework_runs = Vec::new();
    let mut framework_cpu_runs = Vec::new();
    let mut e2e_runs: Vec<Vec<Throughput>> = args.webhooks.iter().map(|_| Vec::new()).collect();
    for run in 1..=args.runs {
        println!("run {run} of {}", args.runs);
        receiver.clear();
        let cpu_before = process_cpu();
        let (raw_count, raw_elapsed) = closed_loop(raw_shot.clone(), args.connections, args.generator_threads, duration).await?;
        let raw_cpu = process_cpu() - cpu_before;
        raw_runs.push(measure::rate(raw_count, raw_elapsed));
        raw_cpu_runs.push(cpu_rate(raw_count, raw_cpu));
        println!(
            "  raw ceiling: {:.0} POSTs/s ({raw_count} in {:.2} s, {} connections; {:.0} by CPU time)",
            raw_runs.last().unwrap(),
            raw_elapsed.as_secs_f64(),
            args.connections,
            raw_cpu_runs.last().unwrap()
        );
        if args.raw_only {
            continue;
        }
        if args.relay_threads > 0 {
            receiver.clear();
            let relay = Relay::start(receiver.addr(), args.relay_threads)?;
            let (relayed, elapsed, cpu) = through_relay(&args, &raw_shot, relay.addr()).await?;
            drop(relay);
            anyhow::ensure!(receiver.count() as u64 >= relayed, "the relay answered 2xx for more POSTs than arrived");
            relay_runs.push(measure::rate(relayed, elapsed));
            relay_cpu_runs.push(cpu_rate(relayed, cpu));
            println!(
                "  relay ceiling: {:.0} deliveries/s ({relayed} in {:.2} s; {:.0} by CPU time)",
                relay_runs.last().unwrap(),
                elapsed.as_secs_f64(),
                relay_cpu_runs.last().unwrap()
            );
        }
        if args.framework_relay_threads > 0 {
            receiver.clear();
            let relay = FrameworkRelay::start(receiver.addr(), args.framework_relay_threads, args.connections)?;
            let (relayed, elapsed, cpu) = through_relay(&args, &raw_shot, relay.addr()).await?;
            drop(relay);
            anyhow::ensure!(
                receiver.count() as u64 >= relayed,
                "the framework relay answered 2xx for more POSTs than arrived"
            );
            framework_runs.push(measure::rate(relayed, elapsed));
            framework_cpu_runs.push(cpu_rate(relayed, cpu));
            println!(
                "  framework relay ceiling: {:.0} deliveries/s ({relayed} in {:.2} s; {:.0} by CPU time)",
                framework_runs.last().unwrap(),
                elapsed.as_secs_f64(),
                framework_cpu_runs.last().unwrap()
            );
        }
        for (i, fanout) in args.webhooks.iter().enumerate() {
            e2e_runs[i].push(throughput(&args, &scratch, &receiver, *fanout).await?);
        }
    }
    let raw = measure::median(&raw_runs);
    let raw_by_cpu = measure::median(&raw_cpu_runs);
    println!("raw ceiling: median {raw:.0} POSTs/s (runs: {}); by CPU time {raw_by_cpu:.0}", measure::runs(&raw_runs));
    if args.raw_only {
        return Ok(());
    }
    if !relay_runs.is_empty() {
        let (relay, relay_by_cpu) = (measure::median(&relay_runs), measure::median(&relay_cpu_runs));
        println!(
            "relay ceiling (bare hyper relay on {} thread(s): one exchange in, one out, nothing stored or signed): median {relay:.0} deliveries/s (runs: {}); ratio relay/raw {:.3} wall clock, {:.3} by CPU time (the most any e2e/raw can be here)",
            args.relay_threads,
            measure::runs(&relay_runs),
            relay / raw,
            relay_by_cpu / raw_by_cpu,
        );
    }
    if !framework_runs.is_empty() {
        let (framework, framework_by_cpu) = (measure::median(&framework_runs), measure::median(&framework_cpu_runs));
        let beside_bare = if relay_runs.is_empty() {
            String::new()
        } else {
            format!(
                "; framework/bare relay {:.3} wall clock, {:.3} by CPU time",
                framework / measure::median(&relay_runs),
                framework_by_cpu / measure::median(&relay_cpu_runs)
            )
        };
        println!(
            "framework relay ceiling (actix-web in, awc out, on {} thread(s), nothing stored or signed): median {framework:.0} deliveries/s (runs: {}); ratio framework relay/raw {:.3} wall clock, {:.3} by CPU time (the most e2e/raw can be on this stack){beside_bare}",
            args.framework_relay_threads,
            measure::runs(&framework_runs),
            framework / raw,
            framework_by_cpu / raw_by_cpu,
        );
    }
    for (fanout, runs) in args.webhooks.iter().zip(&e2e_runs) {
        let rates: Vec<f64> = runs.iter().map(|r| r.rate).collect();
        let by_cpu: Vec<f64> = runs.iter().map(|r| r.by_cpu).collect();
        let (e2e, e2e_by_cpu) = (measure::median(&rates), measure::median(&by_cpu));
        println!(
            "end to end, fan-out {fanout} (each submission to {fanout} webhook{}): median {e2e:.0} deliveries/s (runs: {}); ratio e2e/raw {:.3} wall clock, {:.3} by CPU time (target >= 0.33)",
            if *fanout == 1 { "" } else { "s" },
            measure::runs(&rates),
            e2e / raw,
            e2e_by_cpu / raw_by_cpu,
        );
    }

    // Latency at fixed rates, each on a fresh server.
    for fanout in &args.webhooks {
        for rate in &args.rates {
            receiver.clear();
            let deployment = Deployment::start(&scratch, &receiver, *fanout).await?;
            let shot = Arc::new(submission_shot(deployment.server.addr));
            let (p50, p99, n) =
                fixed_rate(shot, *rate, Duration::from_secs_f64(args.latency_seconds), &receiver, *fanout).await?;
            deployment.stop().await;
            println!(
                "latency at {rate} submissions/s, fan-out {fanout}: submission sent -> signed POST arrived p50 {} p99 {} ({n} deliveries; target p99 < 10 ms)",
                ms(p50),
                ms(p99)
            );
        }
    }
    Ok(())
}

/// Sends submissions at `rate` per second (open loop, a few connections), then matches each
/// delivery's arrival to its submission's send time.
async fn fixed_rate(
    shot: Arc<Shot>,
    rate: u32,
    duration: Duration,
    receiver: &TestReceiver,
    webhooks: usize,
) -> anyhow::Result<(Duration, Duration, usize)> {
    let total = (f64::from(rate) * duration.as_secs_f64()) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let next = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(parking_lot::Mutex::new(HashMap::<String, Instant>::with_capacity(total)));
    let answered = Arc::new(parking_lot::Mutex::new(Vec::<Duration>::with_capacity(total)));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (shot, next, sent, answered) = (shot.clone(), next.clone(), sent.clone(), answered.clone());
        let mut sender = connect(shot.addr).await?;
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return;
                }
                tokio::time::sleep_until((started + interval * i as u32).into()).await;
                let at = Instant::now();
                let Ok(response) = sender.send_request(shot.request()).await else { return };
                let Ok(body) = response.into_body().collect().await else { return };
                answered.lock().push(at.elapsed());
                let answer: serde_json::Value = serde_json::from_slice(&body.to_bytes()).unwrap_or_default();
                if let Some(id) = answer["submission_id"].as_str() {
                    sent.lock().insert(format!("msg_{}", id.trim_start_matches("sub_")), at);
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let expected = sent.lock().len() * webhooks;
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.count() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sent = sent.lock();
    let mut latencies: Vec<Duration> = receiver
        .arrivals()
        .iter()
        .filter_map(|(id, at)| {
            let id = std::str::from_utf8(id.as_ref()?).ok()?;
            Some(at.saturating_duration_since(*sent.get(id)?))
        })
        .collect();
    latencies.sort();
    let mut answered = answered.lock().clone();
    answered.sort();
    println!(
        "  (the API answered the submissions in p50 {} p99 {})",
        ms(percentile(&answered, 0.5)),
        ms(percentile(&answered, 0.99))
    );
    Ok((percentile(&latencies, 0.5), percentile(&latencies, 0.99), latencies.len()))
}
