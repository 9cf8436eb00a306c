//! `TestReceiver`: a real HTTP server on 127.0.0.1:0 that answers webhook POSTs with
//! scripted statuses, delays and `Retry-After`s (per path, per attempt) and records every
//! request it got, headers and body.
//!
//! It runs on its own threads and tokio runtimes (hyper 1, HTTP/1.1 keep-alive), so it
//! works under any test runtime and is fast enough to measure delivery against
//! (`scripts/bench e2e` uses it for the raw ceiling too, with lean recording).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;

/// What the receiver answers to one request.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    /// Waits this long before answering.
    pub delay: Duration,
    /// A `Retry-After` header value.
    pub retry_after: Option<String>,
    pub body: Bytes,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply { status, delay: Duration::ZERO, retry_after: None, body: Bytes::new() }
    }
    pub fn ok() -> Self {
        Reply::status(200)
    }
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    pub fn retry_after(mut self, value: impl Into<String>) -> Self {
        self.retry_after = Some(value.into());
        self
    }
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }
}

/// What a script sees of a request.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    pub path: &'a str,
    pub webhook_id: Option<&'a str>,
    /// How many earlier requests to this path carried the same `webhook-id` (0 on the first
    /// attempt of a delivery).
    pub seen: usize,
}

/// Decides the reply to each request.
pub type Script = Arc<dyn Fn(Call<'_>) -> Reply + Send + Sync>;

/// A request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Bytes,
    pub at: Instant,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    pub fn webhook_id(&self) -> Option<&str> {
        self.header("webhook-id")
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// How much the receiver keeps of each request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recording {
    /// Path, headers, body and time of every request.
    Full,
    /// Only the `webhook-id` and arrival time (for benchmarks).
    Arrivals,
}

struct Shared {
    recording: Recording,
    scripts: Mutex<HashMap<String, Script>>,
    default: Mutex<Script>,
    log: Mutex<Vec<Received>>,
    arrivals: Mutex<Vec<(Option<Bytes>, Instant)>>,
    seen: Mutex<HashMap<(String, String), usize>>,
}

pub struct TestReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: tokio::sync::watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl TestReceiver {
    /// A receiver answering 200 to everything, recording in full, on one thread.
    pub fn start() -> Self {
        Self::with(Recording::Full, 1)
    }

    /// A receiver with the given recording and number of server threads.
    pub fn with(recording: Recording, threads: usize) -> Self {
        let shared = Arc::new(Shared {
            recording,
            scripts: Mutex::new(HashMap::new()),
            default: Mutex::new(Arc::new(|_| Reply::ok())),
            log: Mutex::new(Vec::new()),
            arrivals: Mutex::new(Vec::new()),
            seen: Mutex::new(HashMap::new()),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking listener");
        let addr = listener.local_addr().expect("local address");
        let shared_for_threads = shared.clone();
        let (shutdown, stopped) = tokio::sync::watch::channel(false);
        let threads = serve_on_threads(listener, threads, "test-receiver", stopped, move |stream| {
            let shared = shared_for_threads.clone();
            async move {
                let service = service_fn(move |request| answer(shared.clone(), request));
                let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
            }
        })
        .expect("receiver threads");
        TestReceiver { addr, shared, shutdown, threads }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of `path` (which starts with `/`) on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers requests to `path` with `script`.
    pub fn on(&self, path: &str, script: impl Fn(Call<'_>) -> Reply + Send + Sync + 'static) {
        self.shared.scripts.lock().insert(path.to_owned(), Arc::new(script));
    }

    /// Answers requests to paths without their own script with `script`.
    pub fn otherwise(&self, script: impl Fn(Call<'_>) -> Reply + Send + Sync + 'static) {
        *self.shared.default.lock() = Arc::new(script);
    }

    /// Every request so far (full recording).
    pub fn requests(&self) -> Vec<Received> {
        self.shared.log.lock().clone()
    }

    /// The requests to `path` so far.
    pub fn requests_to(&self, path: &str) -> Vec<Received> {
        self.shared.log.lock().iter().filter(|r| r.path == path).cloned().collect()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        match self.shared.recording {
            Recording::Full => self.shared.log.lock().len(),
            Recording::Arrivals => self.shared.arrivals.lock().len(),
        }
    }

    /// `(webhook-id, arrival)` of every request (lean recording).
    pub fn arrivals(&self) -> Vec<(Option<Bytes>, Instant)> {
        self.shared.arrivals.lock().clone()
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        self.shared.log.lock().clear();
        self.shared.arrivals.lock().clear();
        self.shared.seen.lock().clear();
    }

    /// Waits until `condition` holds of the requests so far, polling until `timeout`;
    /// returns whether it held.
    pub async fn wait_until(&self, timeout: Duration, condition: impl Fn(&[Received]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if condition(&self.shared.log.lock()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until at least `count` requests arrived to `path` (or anywhere with `None`).
    pub async fn wait_for(&self, path: Option<&str>, count: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |log| log.iter().filter(|r| path.is_none_or(|p| r.path == p)).count() >= count).await
    }
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

async fn answer(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let path = parts.uri.path();
    let webhook_id = parts.headers.get("webhook-id").map(|v| Bytes::copy_from_slice(v.as_bytes()));
    let id_text = webhook_id.as_ref().and_then(|v| std::str::from_utf8(v).ok());
    let script = shared.scripts.lock().get(path).cloned().unwrap_or_else(|| shared.default.lock().clone());
    let reply = match shared.recording {
        Recording::Arrivals => {
            let reply = script(Call { path, webhook_id: id_text, seen: 0 });
            shared.arrivals.lock().push((webhook_id.clone(), at));
            reply
        }
        Recording::Full => {
            let seen = match id_text {
                Some(id) => {
                    let mut seen = shared.seen.lock();
                    let count = seen.entry((path.to_owned(), id.to_owned())).or_insert(0);
                    *count += 1;
                    *count - 1
                }
                None => 0,
            };
            let reply = script(Call { path, webhook_id: id_text, seen });
            let headers = parts
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            shared.log.lock().push(Received { path: path.to_owned(), headers, body, at, status: reply.status });
            reply
        }
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(retry_after) = reply.retry_after {
        if let Ok(value) = retry_after.parse() {
            response.headers_mut().insert("retry-after", value);
        }
    }
    Ok(response)
}

/// Serves `listener` (non-blocking) on `threads` threads named `{name}-{n}`, each a
/// current-thread runtime accepting on the same socket, so a connection stays on the thread
/// that accepted it, with no cross-thread wake-ups; `serve` handles each accepted connection
/// (with `TCP_NODELAY` set). The threads end when `stopped` changes.
pub fn serve_on_threads<S, F>(
    listener: std::net::TcpListener,
    threads: usize,
    name: &str,
    stopped: tokio::sync::watch::Receiver<bool>,
    serve: S,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>>
where
    S: Fn(tokio::net::TcpStream) -> F + Clone + Send + 'static,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    (0..threads.max(1))
        .map(|n| {
            let (listener, mut stopped, serve) = (listener.try_clone()?, stopped.clone(), serve.clone());
            std::thread::Builder::new().name(format!("{name}-{n}")).spawn(move || {
                let runtime =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a server runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    loop {
                        tokio::select! {
                            _ = stopped.changed() => break,
                            accepted = listener.accept() => {
                                let Ok((stream, _)) = accepted else { continue };
                                let _ = stream.set_nodelay(true);
                                tokio::spawn(serve(stream));
                            }
                        }
                    }
                });
                runtime.shutdown_timeout(Duration::from_millis(100));
            })
        })
        .collect()
}
