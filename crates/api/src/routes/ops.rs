//! Projection operations (ops role): status of every projection (active and building table
//! sets, checkpoints, lag, rebuild progress) and starting a blue/green rebuild in the
//! background.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use packhooks_projections::runner::LiveState;
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
    components(schemas(
        ProjectionsOut,
        ProjectionStatusOut,
        SetStatusOut,
        LagOut,
        LiveStateOut,
        RebuildProgressOut,
        RebuildStartedOut
    ))
)]
pub struct Doc;

/// The most projections one page holds (there are three).
const MAX_PAGE: usize = 100;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectionsOut {
    pub data: Vec<ProjectionStatusOut>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RebuildStartedOut {
    /// The projections being rebuilt; follow them in `GET /v1/ops/projections`.
    pub rebuilding: Vec<String>,
}

/// One projection's status.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectionStatusOut {
    pub name: String,
    /// The version of this build's code.
    pub code_version: u32,
    pub active: Option<SetStatusOut>,
    pub building: Option<SetStatusOut>,
    /// The head of `$all`.
    pub head: Option<String>,
    pub lag: Option<LagOut>,
    /// The live runner in this process, when there is one.
    pub live: Option<LiveStateOut>,
}

/// A table set of a projection.
#[derive(Debug, Serialize, ToSchema)]
pub struct SetStatusOut {
    pub generation: u64,
    pub version: u32,
    pub checkpoint: Option<String>,
    pub events_applied: u64,
    /// For a set being built: the head when its rebuild started.
    pub target: Option<u64>,
    /// When the set last recorded progress; `null` if the stored time cannot be read.
    pub heartbeat_at: Option<DateTime<Utc>>,
}

/// How far behind the head a projection's active set is.
#[derive(Debug, Serialize, ToSchema)]
pub struct LagOut {
    /// Events of this projection's streams after its checkpoint (counted up to 10,000).
    pub events: u64,
    /// True when there are more than `events`.
    pub at_least: bool,
    /// Age of the oldest of those events (0 when there is none).
    pub seconds: f64,
}

/// What the live runner of one projection is doing (this process only).
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveStateOut {
    pub generation: Option<u64>,
    pub checkpoint: Option<String>,
    /// The subscription has delivered all history and is live.
    pub caught_up: bool,
    pub batches: u64,
    pub last_error: Option<String>,
    /// A rebuild of this projection started from this process, with its progress.
    pub rebuild: Option<RebuildProgressOut>,
}

/// How far a rebuild has got.
#[derive(Debug, Serialize, ToSchema)]
pub struct RebuildProgressOut {
    pub projections: Vec<String>,
    /// Events of `$all` scanned so far.
    pub scanned: u64,
    /// The head of `$all` when the rebuild started.
    pub target: u64,
    /// The last position applied.
    pub position: Option<String>,
    pub events_per_second: f64,
    pub elapsed_seconds: f64,
    /// `running`, `done` or `failed`.
    pub state: String,
    pub error: Option<String>,
}

impl From<ProjectionStatus> for ProjectionStatusOut {
    fn from(p: ProjectionStatus) -> Self {
        ProjectionStatusOut {
            name: p.name,
            code_version: p.code_version,
            active: p.active.map(Into::into),
            building: p.building.map(Into::into),
            head: p.head,
            lag: p.lag.map(Into::into),
            live: p.live.map(Into::into),
        }
    }
}

impl From<SetStatus> for SetStatusOut {
    fn from(s: SetStatus) -> Self {
        SetStatusOut {
            generation: s.generation,
            version: s.version,
            checkpoint: s.checkpoint,
            events_applied: s.events_applied,
            target: s.target,
            heartbeat_at: s.heartbeat_at,
        }
    }
}

impl From<Lag> for LagOut {
    fn from(l: Lag) -> Self {
        LagOut { events: l.events, at_least: l.at_least, seconds: l.seconds }
    }
}

impl From<LiveState> for LiveStateOut {
    fn from(l: LiveState) -> Self {
        LiveStateOut {
            generation: l.generation,
            checkpoint: l.checkpoint,
            caught_up: l.caught_up,
            batches: l.batches,
            last_error: l.last_error,
            rebuild: l.rebuild.map(Into::into),
        }
    }
}

impl From<RebuildProgress> for RebuildProgressOut {
    fn from(r: RebuildProgress) -> Self {
        RebuildProgressOut {
            projections: r.projections,
            scanned: r.scanned,
            target: r.target,
            position: r.position,
            events_per_second: r.events_per_second,
            elapsed_seconds: r.elapsed_seconds,
            state: r.state,
            error: r.error,
        }
    }
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
    let mut data: Vec<ProjectionStatusOut> = all.into_iter().skip(after.unwrap_or(0)).map(Into::into).collect();
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
