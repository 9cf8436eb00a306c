//! The delivery log (`GET /v1/webhooks/{id}/deliveries`, newest first, paged) and the health
//! fields of the webhook views, both read from the projections' read models; also the small
//! helpers the other read-model routes (stats, audit, ops) share.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{get, web, HttpRequest, HttpResponse};
use packhooks_projections::audit;
use packhooks_projections::delivery_log::{self, AttemptPage};
use packhooks_projections::{ProjectionError, Projections};
use packhooks_store::{Direction, Position};

use super::webhooks::{webhook_id, HealthStatus, LastDeliveryOut, WebhookOut};
use crate::auth::{Authorized, Frontend};
use crate::error::PROBLEM_JSON as PROBLEM;
use crate::{ApiError, ApiState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_deliveries);
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list_deliveries), components(schemas(AttemptPage, delivery_log::AttemptEntry)))]
pub struct Doc;

/// The projections service the binary registered, or 503 when this server runs without one.
pub(crate) fn projections(state: &ApiState) -> Result<Arc<Projections>, ApiError> {
    state.extension::<Projections>().ok_or(ApiError::NotReady)
}

/// A read-model or audit failure as an API error: store failures keep their meaning, the rest
/// is internal (logged whole, told to nobody).
pub(crate) fn failed(e: ProjectionError) -> ApiError {
    match e {
        ProjectionError::Store(e) => e.into(),
        other => ApiError::internal(other),
    }
}

/// The query string as a map; a malformed one is a 400.
pub(crate) fn query(req: &HttpRequest) -> Result<HashMap<String, String>, ApiError> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|_| ApiError::InvalidInput { field: "query", reason: "is not a valid query string" })
}

/// `limit`: 1 to `max`, `default` when absent.
pub(crate) fn limit(q: &HashMap<String, String>, default: usize, max: usize) -> Result<usize, ApiError> {
    match q.get("limit") {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => {
                Err(ApiError::InvalidInput { field: "limit", reason: "must be a whole number within the page bounds" })
            }
        },
    }
}

/// A position parameter (`123` or `commit/prepare`).
pub(crate) fn position(q: &HashMap<String, String>, field: &'static str) -> Result<Option<Position>, ApiError> {
    q.get(field)
        .map(|text| {
            text.parse::<Position>().map_err(|_| ApiError::InvalidInput { field, reason: "is not a log position" })
        })
        .transpose()
}

/// A read-model paging cursor: a [`position`] whose parts fit the read model's signed 64-bit
/// columns, so a larger one is a 400 rather than a number that wraps negative.
pub(crate) fn cursor(q: &HashMap<String, String>, field: &'static str) -> Result<Option<Position>, ApiError> {
    let cursor = position(q, field)?;
    if cursor.is_some_and(|p| i64::try_from(p.commit).is_err() || i64::try_from(p.prepare).is_err()) {
        return Err(ApiError::InvalidInput { field, reason: "is beyond the largest log position" });
    }
    Ok(cursor)
}

/// `direction`: `forwards` (default) or `backwards`.
pub(crate) fn direction(q: &HashMap<String, String>) -> Result<Direction, ApiError> {
    match q.get("direction").map(String::as_str) {
        None | Some("forwards") => Ok(Direction::Forwards),
        Some("backwards") => Ok(Direction::Backwards),
        Some(_) => Err(ApiError::InvalidInput { field: "direction", reason: "must be forwards or backwards" }),
    }
}

/// Fills `status` (failing), `failing_since` and `last_delivery` of webhook views from the
/// health read model. The lifecycle stream stays the authority on `disabled`. Without a
/// projections service, or when the read fails, the views stay as they are (logged).
pub async fn fill_health(state: &ApiState, webhooks: &mut [WebhookOut]) {
    let Ok(projections) = projections(state) else { return };
    let ids = webhooks.iter().map(|w| w.id.to_string()).collect();
    let health = match projections.read_models().webhooks_health(ids, state.clock.now()).await {
        Ok(health) => health,
        Err(e) => {
            tracing::warn!(error = &e as &dyn std::error::Error, "cannot read webhook health; answering without it");
            return;
        }
    };
    for out in webhooks.iter_mut() {
        let Some(h) = health.iter().find(|h| h.webhook_id == out.id.to_string()) else { continue };
        if out.status != HealthStatus::Disabled && h.failing_since.is_some() {
            out.status = HealthStatus::Failing;
        }
        out.failing_since = h.failing_since;
        out.last_delivery = h.last_delivery.as_ref().map(|d| LastDeliveryOut {
            at: d.at,
            result: if d.success { "success" } else { "failure" }.to_owned(),
            status_code: d.status,
            attempt: d.attempt,
        });
    }
}

/// A webhook's delivery attempts, newest first (test deliveries included and marked).
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("limit" = Option<usize>, Query, description = "Attempts per page, 1 to 200 (default 50)"),
        ("before" = Option<String>, Query, description = "The `next` cursor of the previous page"),
    ),
    responses(
        (status = 200, body = AttemptPage),
        (status = 400, body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, body = crate::error::Problem, content_type = PROBLEM),
    ),
)]
#[get("/v1/webhooks/{id}/deliveries")]
async fn list_deliveries(
    _: Authorized<Frontend>,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let q = query(&req)?;
    let limit = limit(&q, 50, delivery_log::MAX_PAGE)?;
    let before = cursor(&q, "before")?;
    // 404 for a webhook that was never created; a deleted one keeps its log (auditors read it).
    if !audit::webhook_ever_created(state.store.as_ref(), id).await.map_err(failed)? {
        return Err(ApiError::NotFound { what: format!("webhook {id}") });
    }
    let page = projections(&state)?.read_models().deliveries(id.to_string(), before, limit).await.map_err(failed)?;
    Ok(HttpResponse::Ok().json(page))
}
