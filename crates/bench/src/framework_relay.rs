//! The framework relay ceiling of `scripts/bench e2e`: the relay of `relay.rs` (each POST is
//! POSTed on to the receiver before it is answered; nothing stored, signed, routed or
//! projected) built on the web stack the design card mandates for packhooks: an actix-web
//! `HttpServer` takes the POSTs and an `awc::Client` (keep-alive pool) sends them on. Its
//! deliveries/s over the raw ceiling is the most e2e/raw can be with that stack on this
//! machine; set beside the bare hyper relay, it shows how much of the gap between packhooks
//! and the bare relay the stack itself takes.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::http::header::{CONTENT_LENGTH, HOST};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context as _;

/// A running framework relay; stops when dropped.
pub struct FrameworkRelay {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What each worker relays with.
struct Onward {
    /// One client per worker (awc clients are not `Send`), so one pool of keep-alive
    /// connections per worker thread, as the product's webhook actors have per sender.
    client: awc::Client,
    /// `http://<receiver>`; the inbound path is appended.
    base: String,
}

impl FrameworkRelay {
    /// A relay to `target` with `workers` actix-web workers; each worker's client keeps up
    /// to `connections` connections to the receiver (the generator's connection count, so
    /// the pool never makes a request wait; 0 is unlimited). The server and its `System` run
    /// on a thread of their own, apart from the bench's tokio runtime.
    pub fn start(target: SocketAddr, workers: usize, connections: usize) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new().name("framework-relay".into()).spawn(move || {
            actix_rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    let onward = Onward { client: client(connections), base: format!("http://{target}") };
                    App::new().app_data(web::Data::new(onward)).default_service(web::to(relay))
                })
                .workers(workers.max(1))
                .disable_signals()
                .shutdown_timeout(1)
                .listen(listener);
                match server {
                    Ok(server) => {
                        let server = server.run();
                        let _ = tx.send(Ok(server.handle()));
                        if let Err(e) = server.await {
                            eprintln!("the framework relay stopped with an error: {e}");
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })
        })?;
        let handle = rx.recv().context("the framework relay thread ended")??;
        Ok(FrameworkRelay { addr, handle, thread: Some(thread) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for FrameworkRelay {
    fn drop(&mut self) {
        // `stop` sends the command at once; the server's future then ends, and the thread with it.
        drop(self.handle.stop(true));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An awc client configured like the product's sender (`crates/delivery/src/sender.rs`), minus
/// TLS and the SSRF-guarded resolver: no redirects, no default headers, no client timeout and
/// a long connect timeout (none may be shorter than a bench phase), keep-alive connections.
fn client(connections: usize) -> awc::Client {
    let connector = awc::Connector::new()
        .timeout(Duration::from_secs(60))
        .limit(connections)
        .conn_keep_alive(Duration::from_secs(30))
        .conn_lifetime(Duration::from_secs(600));
    awc::Client::builder().connector(connector).disable_redirects().disable_timeout().no_default_headers().finish()
}

/// POSTs the body on with the same headers (but host and content-length) and answers 202
/// `{}` if the receiver answered 2xx, else 502.
async fn relay(request: HttpRequest, body: web::Bytes, onward: web::Data<Onward>) -> HttpResponse {
    let mut outgoing = onward.client.post(format!("{}{}", onward.base, request.uri().path()));
    for (name, value) in request.headers().iter().filter(|(name, _)| **name != HOST && **name != CONTENT_LENGTH) {
        outgoing = outgoing.append_header((name.clone(), value.clone()));
    }
    let status = match outgoing.send_body(body).await {
        Ok(mut answer) => match answer.body().await {
            Ok(_) if answer.status().is_success() => StatusCode::ACCEPTED,
            _ => StatusCode::BAD_GATEWAY,
        },
        Err(_) => StatusCode::BAD_GATEWAY,
    };
    HttpResponse::build(status).body("{}")
}
