//! The HTTP API of packhooks (actix-web 4).
//!
//! Handlers turn requests into domain commands, decide them against state folded from the
//! log, and append the resulting events with an exact expected revision. Errors leave as
//! `application/problem+json` with a stable `code` ([`ApiError`]); callers authenticate with
//! bearer tokens carrying roles ([`auth`]); `/openapi.json` is generated from the handlers.
//!
//! The binary builds an [`ApiState`] and serves [`app`]; other crates add route modules under
//! [`routes`] and reach their own services through [`ApiState::extension`].

pub mod auth;
pub mod catalogue;
pub mod command;
pub mod deadline;
pub mod edge;
pub mod error;
pub mod idempotency;
pub mod json;
pub mod live_registry;
pub mod malformed;
pub mod openapi;
pub mod routes;
mod state;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Service as _, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web, App};
use futures::future::{ready, Either};
use futures::TryFutureExt as _;
use tracing::Instrument as _;

pub use error::ApiError;
pub use state::{ApiConfig, ApiState};

/// The whole application: state, JSON limits, request logging, the checks before routing
/// ([`edge`]), the body deadline ([`deadline`]), every route, `/openapi.json`, and a
/// problem+json 405 or 404 for everything else.
pub fn app(
    state: ApiState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let metrics = std::sync::Arc::clone(&state.metrics);
    let body_timeout =
        state.extension::<deadline::RequestTimeout>().map_or(deadline::RequestTimeout::DEFAULT, |t| *t).0;
    App::new()
        .app_data(web::Data::new(state))
        .app_data(json::json_config())
        // Inside the logging below, so refusals are logged and counted like any answer.
        .wrap_fn(move |mut req, srv| {
            if let Err(refused) = edge::check(req.head()) {
                return Either::Left(ready(Ok(req.error_response(refused).map_into_right_body())));
            }
            edge::as_get(req.head_mut());
            deadline::limit_body(&mut req, body_timeout);
            Either::Right(srv.call(req).map_ok(ServiceResponse::map_into_left_body))
        })
        .wrap_fn(move |req, srv| {
            let started = Instant::now();
            let metrics = std::sync::Arc::clone(&metrics);
            // The path only: query strings and headers (tokens) are never logged. Copied only
            // when the line is written at all.
            // Probes and scrapes come every few seconds: their lines are at debug, so the info log
            // holds what people and programs asked for.
            let level = if is_probe(req.path()) { tracing::Level::DEBUG } else { tracing::Level::INFO };
            let logged = access_log_enabled(level).then(|| (req.method().clone(), req.path().to_owned()));
            // Everything the handler logs is in this span; a submission records its id in it
            // (`submission_id`), and the request's line below carries it too.
            let span = tracing::info_span!("request", submission_id = tracing::field::Empty);
            let response = srv.call(req).instrument(span.clone());
            async move {
                let response = response.await?;
                let elapsed = started.elapsed();
                let status = response.status().as_u16();
                metrics.record(response.request().match_pattern(), status, elapsed);
                if let Some((method, path)) = logged {
                    // Milliseconds with three decimals: microsecond precision, no float noise.
                    let elapsed_ms = (elapsed.as_micros() as f64) / 1000.0;
                    let _request = span.enter();
                    if level == tracing::Level::DEBUG {
                        tracing::debug!(%method, %path, status, elapsed_ms, "request");
                    } else {
                        tracing::info!(%method, %path, status, elapsed_ms, "request");
                    }
                }
                Ok(response)
            }
        })
        .configure(routes::configure)
        .route("/openapi.json", web::get().to(openapi::document))
        .route("/v1/event-types", web::get().to(openapi::event_types))
        .default_service(web::to(edge::unrouted))
}

/// The health probes and the metrics scrape: asked by machines on a schedule.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

fn access_log_enabled(level: tracing::Level) -> bool {
    if level == tracing::Level::DEBUG {
        tracing::enabled!(tracing::Level::DEBUG)
    } else {
        tracing::enabled!(tracing::Level::INFO)
    }
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = routes::openapi();
    openapi::complete(&mut document);
    document
}
