//! The attempts log (`GET /v1/webhooks/{id}/attempts`): every attempt to deliver to a webhook,
//! newest first, paged, read from the delivery-log read model.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use packhooks_projections::audit;
use packhooks_projections::delivery_log::{self, AttemptEntry};
use serde::Serialize;
use utoipa::ToSchema;

use super::read::{cursor, failed, limit, projections, query};
use super::webhooks::webhook_id;
use crate::auth::{Authorized, Frontend};
use crate::error::PROBLEM_JSON as PROBLEM;
use crate::{ApiError, ApiState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_attempts);
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list_attempts), components(schemas(AttemptListOut, AttemptOut)))]
pub struct Doc;

/// Attempts per page when `limit` is absent.
const DEFAULT_PAGE: usize = 50;

/// One attempt to deliver.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AttemptOut {
    /// `dlv_…`: every attempt of one delivery shares it.
    pub delivery_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// A test event sent by the owner.
    pub test: bool,
    /// The stream of the delivered event (`pack-…` or `webhook-…`).
    pub source_stream: String,
    /// The `webhook-id` the receiver saw, `msg_…`.
    pub message_id: String,
    pub success: bool,
    /// The endpoint's HTTP status; `null` when no answer came.
    pub status_code: Option<u16>,
    /// Why the attempt failed (`timeout`, `connect`, `dns`, `tls`, `status`, `refused_target`);
    /// `null` for a success.
    pub error_code: Option<String>,
    pub latency_ms: u64,
    /// The first 1 KiB of the response body.
    pub response_body: Option<String>,
    /// When the next attempt is due; `null` after the last one.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub recorded_at: DateTime<Utc>,
    /// The attempt's place in the log.
    pub position: String,
}

impl From<AttemptEntry> for AttemptOut {
    fn from(e: AttemptEntry) -> Self {
        AttemptOut {
            delivery_id: e.delivery_id,
            attempt: e.attempt,
            test: e.test,
            source_stream: e.source_stream,
            message_id: e.message_id,
            success: e.success,
            status_code: e.status,
            error_code: e.code,
            latency_ms: e.latency_ms,
            response_body: e.response_body,
            next_attempt_at: e.next_attempt_at,
            recorded_at: e.recorded_at,
            position: e.position,
        }
    }
}

/// A page of attempts, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptListOut {
    pub data: Vec<AttemptOut>,
    /// Pass as `cursor` for the next (older) page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// A webhook's delivery attempts, newest first (test deliveries included and marked).
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/attempts",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("limit" = Option<usize>, Query, description = "Attempts per page, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, body = AttemptListOut),
        (status = 400, body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, body = crate::error::Problem, content_type = PROBLEM),
    ),
)]
#[get("/v1/webhooks/{id}/attempts")]
async fn list_attempts(
    _: Authorized<Frontend>,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let q = query(&req)?;
    let limit = limit(&q, DEFAULT_PAGE, delivery_log::MAX_PAGE)?;
    let before = cursor(&q, "cursor")?;
    // 404 for a webhook that was never created; a deleted one keeps its log (auditors read it).
    if !audit::webhook_ever_created(state.store.as_ref(), id).await.map_err(failed)? {
        return Err(ApiError::NotFound { what: format!("webhook {id}") });
    }
    let page = projections(&state)?.read_models().deliveries(id.to_string(), before, limit).await.map_err(failed)?;
    let data = page.items.into_iter().map(AttemptOut::from).collect();
    Ok(HttpResponse::Ok().json(AttemptListOut { data, next_cursor: page.next }))
}
