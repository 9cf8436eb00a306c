//! The HTTP API end to end: the real application on 127.0.0.1 with a fresh SQLite data
//! directory per test, driven over HTTP with reqwest.

#[path = "api/accounts.rs"]
mod accounts;
#[path = "api/auth.rs"]
mod auth;
#[path = "api/chat.rs"]
mod chat;
#[path = "api/contract.rs"]
mod contract;
#[path = "api/errors.rs"]
mod errors;
#[path = "api/health.rs"]
mod health;
#[path = "api/live_registry.rs"]
mod live_registry;
#[path = "api/metrics.rs"]
mod metrics;
#[path = "api/plan_race.rs"]
mod plan_race;
#[path = "api/rotation.rs"]
mod rotation;
#[path = "api/slow_clients.rs"]
mod slow_clients;
#[path = "api/startup.rs"]
mod startup;
#[path = "api/strict_input.rs"]
mod strict_input;
#[path = "api/submission_explain.rs"]
mod submission_explain;
#[path = "api/submissions.rs"]
mod submissions;
#[path = "api/test_events.rs"]
mod test_events;
#[path = "api/webhook_idempotency.rs"]
mod webhook_idempotency;
#[path = "api/webhooks.rs"]
mod webhooks;
