//! `GET /metrics`: Prometheus text exposition of what this process knows cheaply: HTTP
//! requests by status class and their total time, the store's head, how far the API's
//! registry has read, and what the binary adds ([`ExtraMetrics`]: delivery's counters).
//! Needs the ops role (scrapers send a bearer token).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::{get, web, HttpResponse};

use crate::auth::{Authorized, Ops};
use crate::{ApiError, ApiState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(metrics);
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(metrics))]
pub struct Doc;

/// Writes some metrics' lines, in the Prometheus text format, to the page.
pub type MetricsWriter = Box<dyn Fn(&mut String) + Send + Sync>;

/// More metrics from parts the API does not know (delivery), put in the state by the
/// binary as an extension.
pub struct ExtraMetrics(pub Vec<MetricsWriter>);

/// Request counters, bumped by the request-logging middleware.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    /// Requests by status class: 1xx … 5xx.
    by_class: [AtomicU64; 5],
    /// Time spent answering, in microseconds, over all requests.
    micros: AtomicU64,
}

impl HttpMetrics {
    pub fn record(&self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// Prometheus metrics of this process.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")),
)]
#[get("/metrics")]
async fn metrics(_: Authorized<Ops>, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let head = state.store.head().await?.map_or(0, |p| p.commit);
    let (registry_position, webhooks) = {
        let tracked = state.registry.read().await;
        (tracked.position.map_or(0, |p| p.commit), tracked.registry.webhooks().count())
    };
    let http = &state.metrics;
    let mut text = String::new();
    text.push_str("# HELP packhooks_http_requests_total HTTP requests answered, by status class.\n");
    text.push_str("# TYPE packhooks_http_requests_total counter\n");
    for (i, count) in http.by_class.iter().enumerate() {
        let _ =
            writeln!(text, "packhooks_http_requests_total{{class=\"{}xx\"}} {}", i + 1, count.load(Ordering::Relaxed));
    }
    let seconds = http.micros.load(Ordering::Relaxed) as f64 / 1e6;
    let gauges: [(&str, &str, &str, f64); 5] = [
        ("packhooks_http_request_seconds_total", "counter", "Time spent answering HTTP requests.", seconds),
        ("packhooks_store_head_position", "gauge", "The commit position of the last event in $all.", head as f64),
        (
            "packhooks_registry_position",
            "gauge",
            "How far into $all the API's registry has read.",
            registry_position as f64,
        ),
        (
            "packhooks_registry_caught_up",
            "gauge",
            "1 once the registry has read the whole log.",
            f64::from(u8::from(state.registry.is_caught_up())),
        ),
        ("packhooks_webhooks", "gauge", "Webhooks that exist (enabled or disabled).", webhooks as f64),
    ];
    for (name, kind, help, value) in gauges {
        let _ = write!(text, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
    }
    if let Some(extra) = state.extension::<ExtraMetrics>() {
        for render in &extra.0 {
            render(&mut text);
        }
    }
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(text))
}
