//! Projection operations (ops role): status of every projection (active and building table
//! sets, checkpoints, lag, rebuild progress) and starting a blue/green rebuild in the
//! background.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use packhooks_projections::status::{Lag, SetStatus};
use packhooks_projections::{ProjectionError, ProjectionStatus, RebuildProgress};
use serde::Serialize;
use utoipa::ToSchema;

use super::read::{failed, limit, projections, query};
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

/// The most projections one page holds (there are three).
const MAX_PAGE: usize = 100;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectionsOut {
    pub data: Vec<ProjectionStatus>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
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
    params(
        ("limit" = Option<usize>, Query, description = "Projections per page, 1 to 100 (default 100)"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page: the projections after this name"),
    ),
    responses((status = 200, body = ProjectionsOut), (status = 400, body = crate::error::Problem, content_type = crate::error::PROBLEM_JSON)),
)]
#[get("/v1/ops/projections")]
async fn list_projections(
    _: Authorized<Ops>,
    state: web::Data<ApiState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query(&req)?;
    let limit = limit(&q, MAX_PAGE, MAX_PAGE)?;
    let all = projections(&state)?.status().await.map_err(failed)?;
    let after = q.get("cursor").map(|c| all.iter().position(|p| &p.name == c).map_or(all.len(), |i| i + 1));
    let mut data: Vec<_> = all.into_iter().skip(after.unwrap_or(0)).collect();
    let next_cursor = (data.len() > limit).then(|| data[limit - 1].name.clone());
    data.truncate(limit);
    Ok(HttpResponse::Ok().json(ProjectionsOut { data, next_cursor }))
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
