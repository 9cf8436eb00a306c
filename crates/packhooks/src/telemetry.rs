//! Tracing setup: text for people or JSON for log collectors, filtered by `PACKHOOKS_LOG`.
//! Logs go to stderr; stdout is kept for what a command prints on purpose (the API token
//! created on first start, audit exports).
//!
//! One correction to what the libraries log: actix-http reports every request its parser
//! refuses (a bad request line, a header with a NUL byte, a head over its limit) and every
//! connection a client broke as an ERROR "stream error". Those are the client's mistakes, not
//! the server's; an operator alerting on ERROR lines must not be woken by a port scanner. They
//! are logged again at DEBUG under the target `packhooks::http`.

use std::fmt::Write as _;
use std::io::IsTerminal as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::{LogFormat, LogSettings};

/// Where actix-http's HTTP/1 connection errors come from.
const HTTP1_DISPATCHER: &str = "actix_http::h1::dispatcher";

/// Installs the global subscriber; a second call (tests) keeps the first one.
pub fn init(log: &LogSettings) {
    let filter = EnvFilter::try_new(&log.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: in a file, journald or `docker logs` they are escape codes.
    let ansi = std::io::stderr().is_terminal();
    let output = match log.format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi).boxed(),
        LogFormat::Json => {
            tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(std::io::stderr).boxed()
        }
    };
    let output = output.with_filter(filter_fn(|meta| !is_dispatcher_error(meta)));
    // The releveling layer goes last: it logs anew while the original event is being handled,
    // and per-layer filters (the output's) must have finished with the original by then.
    let _ = tracing_subscriber::registry().with(filter).with(output).with(ReleveledDispatcherErrors).try_init();
}

fn is_dispatcher_error(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() == Level::ERROR && meta.target() == HTTP1_DISPATCHER
}

/// Logs actix-http's connection errors again at the level they deserve (see the module's
/// header); the output layer drops the originals.
struct ReleveledDispatcherErrors;

impl<S: Subscriber> Layer<S> for ReleveledDispatcherErrors {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if !is_dispatcher_error(event.metadata()) {
            return;
        }
        let mut message = Message::default();
        event.record(&mut message);
        match message.0.strip_prefix("stream error: ") {
            Some(error) => tracing::debug!(target: "packhooks::http", error, "connection closed on a client error"),
            None => tracing::error!(target: "packhooks::http", error = message.0, "HTTP connection failed"),
        }
    }
}

/// The `message` field of an event, as text.
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}
