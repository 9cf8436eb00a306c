//! `GET /metrics`: this process's metrics, on the Prometheus client (`prometheus-client`), in
//! the Prometheus text format, or in OpenMetrics when the scraper's `Accept` prefers it.
//!
//! The API adds HTTP request durations by route template and status class
//! ([`HttpMetrics`], recorded by the request-logging middleware), and what is read at
//! scrape time ([`ScrapeGauges`]): whether the store answers and its head, how far the
//! API's registry has read, webhooks by status from the health read model, and each
//! projection's lag. The binary registers the rest (delivery, store appends) when it builds
//! the [`Exposition`]. Needs the ops role (scrapers send a bearer token).

use std::time::Duration;

use actix_web::http::header::{self, Header as _};
use actix_web::{get, web, HttpRequest, HttpResponse};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::auth::{Authorized, Ops};
use crate::{ApiError, ApiState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(metrics);
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(metrics))]
pub struct Doc;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A request's route and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route template with its parameters as `:name` (`/v1/webhooks/:id`), never the
    /// path itself; `unmatched` for anything no route took (404s, refusals before routing).
    /// Without braces, so that no reader of the text format trips on them in a label.
    route: String,
    /// `1xx` … `5xx`.
    class: &'static str,
}

/// Request durations from 0.5 ms to about 16 s.
fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Request durations, recorded by the request-logging middleware.
#[derive(Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics { requests: Family::new_with_constructor(request_buckets) }
    }
}

impl HttpMetrics {
    /// A request answered with `status` after `elapsed`; `route` is its matched template
    /// (`/v1/webhooks/{id}`).
    pub fn record(&self, route: Option<String>, status: u16, elapsed: Duration) {
        const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
        let class = CLASSES[usize::from(status / 100).clamp(1, 5) - 1];
        let route = match route {
            Some(template) if template.contains('{') => template.replace('{', ":").replace('}', ""),
            Some(template) => template,
            None => "unmatched".to_owned(),
        };
        let labels = RequestLabels { route, class };
        self.requests.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectionLabel {
    projection: String,
}

/// What `/metrics` reads at scrape time.
#[derive(Debug, Default)]
pub struct ScrapeGauges {
    store_up: Gauge,
    store_head: Gauge,
    registry_position: Gauge,
    registry_caught_up: Gauge,
    /// By `status`: `healthy`, `failing`, `disabled` (deleted webhooks are not counted).
    webhooks: Family<[(&'static str, &'static str); 1], Gauge>,
    failing_longest: Gauge,
    lag_events: Family<ProjectionLabel, Gauge>,
    lag_seconds: Family<ProjectionLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl ScrapeGauges {
    fn register(&self, registry: &mut Registry) {
        let gauges = [
            ("packhooks_store_up", "1 when the event store answered this scrape, 0 when it did not.", &self.store_up),
            ("packhooks_store_head_position", "The commit position of the last event in $all.", &self.store_head),
            ("packhooks_registry_position", "How far into $all the API's registry has read.", &self.registry_position),
            ("packhooks_registry_caught_up", "1 once the registry has read the whole log.", &self.registry_caught_up),
        ];
        for (name, help, gauge) in gauges {
            registry.register(name, help, gauge.clone());
        }
        registry.register(
            "packhooks_webhooks",
            "Webhooks that exist, by status (healthy, failing, disabled), as the health read model has them.",
            self.webhooks.clone(),
        );
        registry.register_with_unit(
            "packhooks_webhook_failing_longest",
            "How long the webhook failing longest has been failing (0 when none is).",
            Unit::Seconds,
            self.failing_longest.clone(),
        );
        registry.register(
            "packhooks_projection_lag_events",
            "Events a projection has still to apply (counted up to 10,000).",
            self.lag_events.clone(),
        );
        registry.register_with_unit(
            "packhooks_projection_lag",
            "Age of the oldest event a projection has still to apply (0 when caught up).",
            Unit::Seconds,
            self.lag_seconds.clone(),
        );
    }

    /// Reads the store, the registry and the read models. What cannot be read keeps its last
    /// value, except `packhooks_store_up`, which says so.
    async fn refresh(&self, state: &ApiState) {
        match state.store.head().await {
            Ok(head) => {
                self.store_up.set(1);
                self.store_head.set(as_gauge(head.map_or(0, |p| p.commit)));
            }
            Err(error) => {
                self.store_up.set(0);
                tracing::warn!(error = &error as &dyn std::error::Error, "metrics: the event store did not answer");
            }
        }
        let position = state.registry.read().await.position.map_or(0, |p| p.commit);
        self.registry_position.set(as_gauge(position));
        self.registry_caught_up.set(i64::from(state.registry.is_caught_up()));
        let Some(projections) = state.extension::<packhooks_projections::Projections>() else { return };
        match projections.read_models().webhook_status_counts().await {
            Ok(counts) => {
                for (status, count) in counts.by_status {
                    self.webhooks.get_or_create(&[("status", status.as_str())]).set(as_gauge(count));
                }
                let failing_for = counts.failing_since.map_or(0, |since| (state.clock.now() - since).num_seconds());
                self.failing_longest.set(failing_for.max(0));
            }
            Err(error) => tracing::warn!(error = &error as &dyn std::error::Error, "metrics: cannot read webhook health"),
        }
        match projections.status().await {
            Ok(all) => {
                for status in all {
                    let Some(lag) = status.lag else { continue };
                    let label = ProjectionLabel { projection: status.name };
                    self.lag_events.get_or_create(&label).set(as_gauge(lag.events));
                    self.lag_seconds.get_or_create(&label).set(lag.seconds);
                }
            }
            Err(error) => tracing::warn!(error = &error as &dyn std::error::Error, "metrics: cannot read projection lag"),
        }
    }
}

fn as_gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Every metric of the process, put in the API state by the binary as an extension.
#[derive(Debug)]
pub struct Exposition {
    registry: Registry,
    scrape: ScrapeGauges,
}

impl Exposition {
    /// The API's metrics (from `state`) added to `registry`, which holds the rest (delivery,
    /// the store).
    pub fn new(state: &ApiState, mut registry: Registry) -> Self {
        registry.register_with_unit(
            "packhooks_http_request_duration",
            "HTTP requests answered, by route template and status class, with how long each took.",
            Unit::Seconds,
            state.metrics.requests.clone(),
        );
        let scrape = ScrapeGauges::default();
        scrape.register(&mut registry);
        Exposition { registry, scrape }
    }
}

/// Whether the `Accept` header ranks OpenMetrics above the Prometheus text format.
fn wants_openmetrics(req: &HttpRequest) -> bool {
    let Ok(accept) = header::Accept::parse(req) else { return false };
    accept
        .ranked()
        .into_iter()
        .find_map(|mime| match (mime.type_().as_str(), mime.subtype().as_str()) {
            ("application", "openmetrics-text") => Some(true),
            ("text", "plain") | ("text", "*") | ("*", "*") => Some(false),
            _ => None,
        })
        .unwrap_or(false)
}

/// Prometheus metrics of this process.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((
        status = 200,
        description = "Prometheus text format (0.0.4), or OpenMetrics 1.0 when `Accept` ranks `application/openmetrics-text` first",
        content_type = "text/plain",
    )),
)]
#[get("/metrics")]
async fn metrics(_: Authorized<Ops>, state: web::Data<ApiState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let exposition = state.extension::<Exposition>().ok_or(ApiError::NotReady)?;
    exposition.scrape.refresh(&state).await;
    let mut text = String::new();
    let (encoded, content_type) = if wants_openmetrics(&req) {
        (prometheus_client::encoding::text::encode(&mut text, &exposition.registry), OPENMETRICS)
    } else {
        (
            prometheus_client::encoding::prometheus_text::encode(&mut text, &exposition.registry),
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )
    };
    encoded.map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().content_type(content_type).body(text))
}
