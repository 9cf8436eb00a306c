//! Helpers for the end-to-end tests in tests/tests/ (and the benchmarks).
//!
//! - [`app`]: `spawn_app()` starts the real application on port 0 with a fresh data
//!   directory and gives a `TestApp` with typed request helpers;
//! - [`process`]: the real binary as a child process (`packhooks serve`), for crash, shard and
//!   projections tests;
//! - [`faults`]: a store wrapper that fails the first reads of some streams (fault injection);
//! - [`metrics`]: `/metrics` parsed as Prometheus reads it;
//! - [`receiver`]: a `TestReceiver` webhook endpoint with scripted answers;
//! - [`signatures`]: signatures checked by the Standard Webhooks reference library.

pub mod app;
pub mod faults;
pub mod metrics;
pub mod process;
pub mod receiver;
pub mod schemas;
pub mod signatures;
