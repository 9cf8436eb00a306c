//! `/healthz` (the process answers) and `/readyz` (the store answers and the registry has
//! caught up with the log, so commands decide on current state).

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{ApiError, ApiState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz))]
pub struct Doc;

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthOut {
    /// `ok`
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyOut {
    /// `ready`
    pub status: &'static str,
    /// The store's last `$all` position, `null` when it is empty.
    pub head: Option<String>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = HealthOut)))]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthOut { status: "ok" })
}

/// The store answers and the registry has caught up with the log.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, body = ReadyOut),
    (status = 503, body = crate::error::Problem, content_type = crate::error::PROBLEM_JSON),
))]
#[get("/readyz")]
async fn readyz(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let head = state.store.head().await.map_err(ApiError::Unavailable)?;
    if !state.registry.is_caught_up() {
        return Err(ApiError::NotReady);
    }
    Ok(HttpResponse::Ok().json(ReadyOut { status: "ready", head: head.map(|p| p.to_string()) }))
}
