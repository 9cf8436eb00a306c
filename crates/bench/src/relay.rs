//! The relay ceiling of `scripts/bench e2e`: the least work any webhook server can do per
//! delivery. A bare hyper server takes each POST and, on a keep-alive connection of its own
//! to the receiver, POSTs the same body on before it answers 202: one exchange in and one
//! out, with nothing stored, signed, routed or projected. Its deliveries/s over the raw
//! ceiling bounds what the e2e/raw ratio of any server can reach on this machine.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1 as client;
use hyper::server::conn::http1 as server;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use packhooks_tests::receiver::serve_on_threads;

/// A running relay; stops when dropped.
pub struct Relay {
    addr: SocketAddr,
    shutdown: tokio::sync::watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Relay {
    /// A relay to `target` on `threads` threads, laid out like the receiver's (see
    /// `serve_on_threads`), so a connection never hops threads.
    pub fn start(target: SocketAddr, threads: usize) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = tokio::sync::watch::channel(false);
        let threads = serve_on_threads(listener, threads, "relay", stopped, move |stream| relay_connection(stream, target))?;
        Ok(Relay { addr, shutdown, threads })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Serves one inbound connection, relaying each request on one outbound connection.
async fn relay_connection(stream: tokio::net::TcpStream, target: SocketAddr) {
    let Ok(outbound) = tokio::net::TcpStream::connect(target).await else { return };
    let _ = outbound.set_nodelay(true);
    let Ok((sender, connection)) = client::handshake::<_, Full<Bytes>>(TokioIo::new(outbound)).await else { return };
    tokio::spawn(connection);
    // One request at a time on an HTTP/1.1 connection: the lock is never contended.
    let sender = Arc::new(tokio::sync::Mutex::new(sender));
    let host = target.to_string();
    let service = service_fn(move |request: Request<Incoming>| {
        let (sender, host) = (sender.clone(), host.clone());
        async move { relay(request, &sender, &host).await }
    });
    let _ = server::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
}

async fn relay(
    request: Request<Incoming>,
    sender: &tokio::sync::Mutex<client::SendRequest<Full<Bytes>>>,
    host: &str,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (head, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut onward = Request::post(head.uri.path()).header("host", host);
    for (name, value) in head.headers.iter().filter(|(name, _)| *name != "host" && *name != "content-length") {
        onward = onward.header(name, value);
    }
    let onward = onward.body(Full::new(body)).expect("a valid request");
    let answer = sender.lock().await.send_request(onward).await?;
    let status = if answer.status().is_success() { StatusCode::ACCEPTED } else { StatusCode::BAD_GATEWAY };
    answer.into_body().collect().await?;
    Ok(Response::builder().status(status).body(Full::new(Bytes::from_static(b"{}"))).expect("a valid response"))
}
