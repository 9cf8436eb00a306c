//! Projection operations (ops role): status of every projection (active and building table
//! sets, checkpoints, lag, rebuild progress) and starting a blue/green rebuild in the
//! background.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use packhooks_projections::status::{Lag, SetStatus};
use packhooks_projections::{ProjectionError, ProjectionStatus, RebuildProgress};
use serde::Serialize;
use utoipa::ToSchema;

use super::deliveries::{failed, projections};
use crate::auth::{Authorized, Ops};
use crate::error::{Problem, PROBLEM_JSON};
use crate::{ApiError, ApiState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_projections).service(rebuild_projection);
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_projections, rebuild_projection),
    components(schemas(ProjectionsOut, ProjectionStatus, SetStatus, Lag, RebuildProgress, RebuildStartedOut))
)]
pub struct Doc;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectionsOut {
    pub data: Vec<ProjectionStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RebuildStartedOut {
    /// The projections being rebuilt; follow them in `GET /v1/ops/projections`.
    pub rebuilding: Vec<String>,
}

/// Every projection's checkpoint, lag and rebuild progress.
#[utoipa::path(
    get,
    path = "/v1/ops/projections",
    tag = "ops",
    responses((status = 200, body = ProjectionsOut)),
)]
#[get("/v1/ops/projections")]
async fn list_projections(_: Authorized<Ops>, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let data = projections(&state)?.status().await.map_err(failed)?;
    Ok(HttpResponse::Ok().json(ProjectionsOut { data }))
}

/// Starts a blue/green rebuild of one projection (`all` for every one) in the background; the
/// old tables keep serving until the swap.
#[utoipa::path(
    post,
    path = "/v1/ops/projections/{name}/rebuild",
    tag = "ops",
    params(("name" = String, Path, description = "`webhook_health`, `pack_stats`, `delivery_log` or `all`")),
    responses(
        (status = 202, body = RebuildStartedOut),
        (status = 404, body = crate::error::Problem, content_type = crate::error::PROBLEM_JSON),
        (status = 409, body = crate::error::Problem, content_type = crate::error::PROBLEM_JSON),
    ),
)]
#[post("/v1/ops/projections/{name}/rebuild")]
async fn rebuild_projection(
    _: Authorized<Ops>,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = path.into_inner();
    let selected = (name != "all").then_some(name.as_str());
    match projections(&state)?.spawn_rebuild(selected).await {
        Ok(rebuilding) => Ok(HttpResponse::Accepted().json(RebuildStartedOut { rebuilding })),
        Err(ProjectionError::UnknownProjection(_)) => Err(ApiError::NotFound { what: format!("projection {name}") }),
        Err(e @ ProjectionError::RebuildRunning(_)) => {
            Ok(HttpResponse::build(StatusCode::CONFLICT).content_type(PROBLEM_JSON).json(Problem {
                kind: "urn:packhooks:problem:conflict".into(),
                title: "Conflict".into(),
                status: 409,
                detail: e.to_string(),
                code: "conflict".into(),
                field: None,
            }))
        }
        Err(e) => Err(failed(e)),
    }
}
