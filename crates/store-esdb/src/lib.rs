//! The EventStoreDB backend of the packhooks event store.
//!
//! [`EsdbStore`] implements [`packhooks_store::EventStore`] over the `eventstore` client
//! (4.x), for a single node or a cluster. It runs the conformance suite of the embedded
//! SQLite store: all of it over the wire test server in this crate's tests, and its stream
//! cases against a real server when `PACKHOOKS_TEST_ESDB` holds a connection string (the
//! cases about the whole of `$all` need a private, empty server).
//!
//! The client's known traps are handled in
//! `connection.rs` (a client whose connection task ended is rebuilt with backoff) and
//! `subscription.rs` (own checkpoints and resubscription); the client's panic when a
//! rustls crypto provider was installed before its own is patched out of the client
//! (`vendor/eventstore/`). This backend never writes `$maxAge` stream metadata, and it
//! reads `$all` as the server gives it: system events included (see
//! [`packhooks_store::RecordedEvent::is_system`]), positions sparse.
//!
//! With the `wire-server` feature, [`wire_server`] is an EventStoreDB look-alike for tests:
//! it speaks the client's gRPC subset over a SQLite store.

mod connection;
mod convert;
mod error;
mod store;
mod subscription;

#[cfg(feature = "wire-server")]
pub mod wire_server;

pub use error::EsdbError;
pub use store::EsdbStore;
