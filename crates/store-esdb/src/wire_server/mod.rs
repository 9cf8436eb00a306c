//! A wire-level EventStoreDB look-alike for tests: the subset of the server's public gRPC
//! protocol that the `eventstore` client uses against a single node, served by tonic over
//! any [`EventStore`] (the tests use the SQLite store).
//!
//! What it speaks: `ServerFeatures/GetSupportedMethods` (no optional features, so the
//! client never tries `BatchAppend`), `Streams/Append`, `Streams/Read` (stream and `$all`
//! reads in both directions; filtered `$all` catch-up subscriptions with confirmation,
//! checkpoints, caught-up and fell-behind), `Streams/Delete` and `Streams/Tombstone`.
//! Errors take the forms the client decodes (see `streams.rs`).
//!
//! It behaves as a real server at the edges where code written against a tidy log goes
//! wrong (see `log.rs`): sparse positions with commit ≠ prepare inside multi-event
//! appends, `$`-system events in `$all` (`$metadata` on deletes, periodic
//! `$statsCollected`), idempotency for expected "any" only while the id is in a bounded
//! cache; and, from the store beneath, backwards `$all` reads that exclude their start and
//! EventStoreDB's delete rules. `scripts/esdb_client_check.py` holds it to the vendor's
//! own Python client, whose documentation and tests describe a real server.
//!
//! What it proves: the client's requests, as our backend makes them, and our mapping of
//! the answers. What it does not: clustering, leader election, regex filters, links,
//! performance, or anything of the real server not listed above. The messages come from
//! packhooks' own .proto subset in `proto/`, compiled by `build.rs`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use packhooks_store::EventStore;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;

mod features;
mod log;
mod streams;

/// The code generated from `proto/` (module nesting follows the proto packages).
#[allow(clippy::all, missing_docs)]
pub mod proto {
    pub mod event_store {
        pub mod client {
            tonic::include_proto!("event_store.client");
            pub mod streams {
                tonic::include_proto!("event_store.client.streams");
            }
            pub mod server_features {
                tonic::include_proto!("event_store.client.server_features");
            }
        }
    }
    pub use event_store::client::{server_features, streams, uuid, Empty, StreamIdentifier, Uuid};
}

/// Answers of the real server that a client must cope with. The first ones are switched on
/// one by one so a test can show the backend copes; the defaults of the others are the
/// real server's habits, which every test meets (see `log.rs`).
#[derive(Clone, Copy, Debug)]
pub struct Quirks {
    /// Answer successful appends without a position, as the server may for an idempotent
    /// retry (the client then reports position 0/0).
    pub appends_without_position: bool,
    /// Answer an append that writes with the server's write timeout once it is written, as
    /// a node whose replication is slow does: ABORTED `Operation timed out` (the write may
    /// have landed). The same append again is answered as the idempotent retry it is.
    pub appends_time_out: bool,
    /// Write a `$statsCollected` event (to `$stats-<address>`) after every this many writes
    /// by clients, as a real node does every 30 s; 0 for never.
    pub stats_every: u32,
    /// Event ids remembered for recognising a retry with expected "any"; a retry whose
    /// first id left this cache is written again, as on a real server.
    pub idempotency_cache: usize,
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks { appends_without_position: false, appends_time_out: false, stats_every: 5, idempotency_cache: 10_000 }
    }
}

/// How long [`WireServer::stop`] waits for connections to close before cutting them.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running wire test server; stops when dropped (abruptly) or with [`WireServer::stop`].
pub struct WireServer {
    address: SocketAddr,
    /// Set to true to stop: open subscriptions end with UNAVAILABLE (as when a real node
    /// goes away) and the server stops accepting and closes its connections.
    stopping: watch::Sender<bool>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl WireServer {
    /// Serves `store` on a free port of 127.0.0.1.
    pub async fn start(store: Arc<dyn EventStore>) -> std::io::Result<WireServer> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), store).await
    }

    /// Serves `store` on `address` (tests that start the server after the client use a
    /// port they picked before).
    pub async fn start_on(address: SocketAddr, store: Arc<dyn EventStore>) -> std::io::Result<WireServer> {
        Self::start_with(address, store, Quirks::default()).await
    }

    /// Serves `store` on `address`, imitating the real server's `quirks`.
    pub async fn start_with(
        address: SocketAddr,
        store: Arc<dyn EventStore>,
        quirks: Quirks,
    ) -> std::io::Result<WireServer> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let (stopping, stopped) = watch::channel(false);
        let mut signal = stopped.clone();
        let server = tonic::transport::Server::builder()
            .add_service(proto::streams::streams_server::StreamsServer::new(streams::StreamsService::new(
                store,
                stopped,
                log::ServerLog::new(quirks, address),
            )))
            .add_service(proto::server_features::server_features_server::ServerFeaturesServer::new(
                features::FeaturesService,
            ))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
                let _ = signal.wait_for(|stop| *stop).await;
            });
        let task = tokio::spawn(server);
        Ok(WireServer { address, stopping, task })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// A single-node connection string for this server, with a 10 ms discovery interval so
    /// the client's first call does not wait the default 500 ms.
    pub fn connection_string(&self) -> String {
        connection_string(self.address)
    }

    /// Stops like a node going away: subscriptions end with UNAVAILABLE, connections close,
    /// and the port is free again when this returns.
    pub async fn stop(mut self) {
        let _ = self.stopping.send(true);
        if tokio::time::timeout(STOP_GRACE, &mut self.task).await.is_err() {
            self.task.abort();
        }
    }
}

/// The connection string the tests use for a wire server at `address`.
pub fn connection_string(address: SocketAddr) -> String {
    format!("esdb://{address}?tls=false&discoveryInterval=10")
}

impl Drop for WireServer {
    fn drop(&mut self) {
        let _ = self.stopping.send(true);
        self.task.abort();
    }
}
