//! The audit history (auditor role): one stream's events or `$all`, paged in either
//! direction (`{"data":[…],"next_cursor":…}`, `?cursor=`, `?limit=` 1 to 1000), and a
//! webhook's state as it was at a time. Secrets are redacted in every answer.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use packhooks_domain::delivery::HealthStatus;
use packhooks_domain::webhook::WebhookState;
use packhooks_domain::Issuer;
use packhooks_projections::audit::{self, AuditEvent, AuditPage, HealthAt, WebhookAt};
use serde_json::Value;
use packhooks_projections::ProjectionError;
use packhooks_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use super::read::{direction, failed, limit, position, query, time};
use super::webhooks::webhook_id;
use crate::auth::{Auditor, Authorized};
use crate::error::PROBLEM_JSON as PROBLEM;
use crate::{ApiError, ApiState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(stream_history).service(all_history).service(webhook_state);
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(stream_history, all_history, webhook_state),
    components(schemas(AuditListOut, AuditEventOut, WebhookAtOut, HealthAtOut, HealthStatus))
)]
pub struct Doc;

const DEFAULT_PAGE: usize = 100;

/// A page of history.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditListOut {
    pub data: Vec<AuditEventOut>,
    /// Pass as `cursor` (with the same `direction`) for the next page; `null` at the end. For a
    /// stream it is a revision, for `$all` a position.
    pub next_cursor: Option<String>,
}

impl From<AuditPage> for AuditListOut {
    fn from(page: AuditPage) -> Self {
        AuditListOut { data: page.events.into_iter().map(Into::into).collect(), next_cursor: page.next }
    }
}

/// One event as auditors see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventOut {
    /// Its `$all` position.
    pub position: String,
    pub stream: String,
    pub revision: u64,
    pub event_id: String,
    pub event_type: String,
    /// When the store wrote it.
    pub created: DateTime<Utc>,
    /// The body, secrets redacted.
    #[schema(value_type = Object)]
    pub data: Value,
    /// Correlation and causation ids, and who issued the command.
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Who issued the command that appended it (the role and the token's name, never the
    /// token); absent on events packhooks wrote itself and on those before tokens were recorded.
    pub issued_by: Option<Issuer>,
}

impl From<AuditEvent> for AuditEventOut {
    fn from(e: AuditEvent) -> Self {
        AuditEventOut {
            position: e.position,
            stream: e.stream,
            revision: e.revision,
            event_id: e.event_id,
            event_type: e.event_type,
            created: e.created,
            data: e.data,
            metadata: e.metadata,
            issued_by: e.issued_by,
        }
    }
}

/// A webhook as it was at a time.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAtOut {
    pub webhook_id: String,
    pub at: DateTime<Utc>,
    /// Lifecycle events folded (those recorded up to `at`).
    pub events: u64,
    /// `state`: `none` (not created yet), `active` or `deleted`, with url, event types,
    /// format, status and secret version; never a secret.
    #[schema(value_type = Object)]
    pub state: WebhookState,
    /// Whether its deliveries were failing then (from its `deliveries-` stream).
    pub health: HealthAtOut,
}

/// A webhook's delivery health at a time.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthAtOut {
    /// Its deliveries' health alone, `healthy` or `failing` (whether the webhook was
    /// disabled is in `state`).
    pub status: HealthStatus,
    /// Since when it was failing, while it was.
    pub failing_since: Option<DateTime<Utc>>,
}

impl From<WebhookAt> for WebhookAtOut {
    fn from(w: WebhookAt) -> Self {
        WebhookAtOut { webhook_id: w.webhook_id, at: w.at, events: w.events, state: w.state, health: w.health.into() }
    }
}

impl From<HealthAt> for HealthAtOut {
    fn from(h: HealthAt) -> Self {
        HealthAtOut { status: h.status, failing_since: h.failing_since }
    }
}

/// One stream's events.
#[utoipa::path(
    get,
    path = "/v1/audit/streams/{stream}",
    tag = "audit",
    params(
        ("stream" = String, Path, description = "A stream name, e.g. `webhook-wh_…`"),
        ("cursor" = Option<u64>, Query, description = "First revision (inclusive): the `next_cursor` of the previous page"),
        ("direction" = Option<String>, Query, description = "`forwards` (default) or `backwards`"),
        ("limit" = Option<usize>, Query, description = "Events per page, 1 to 1000 (default 100)"),
    ),
    responses(
        (status = 200, body = AuditListOut),
        (status = 400, body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, body = crate::error::Problem, content_type = PROBLEM),
    ),
)]
#[get("/v1/audit/streams/{stream}")]
async fn stream_history(
    _: Authorized<Auditor>,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let stream = path.into_inner();
    if stream.is_empty() || stream.len() > 512 || stream.starts_with('$') {
        return Err(ApiError::InvalidInput { field: "stream", reason: "is not a stream name" });
    }
    let q = query(&req)?;
    let from = q
        .get("cursor")
        .map(|t| t.parse::<u64>().map_err(|_| ApiError::InvalidInput { field: "cursor", reason: "is not a revision" }))
        .transpose()?;
    let page = audit::stream_page(
        state.store.as_ref(),
        &stream,
        from,
        direction(&q)?,
        limit(&q, DEFAULT_PAGE, audit::MAX_PAGE)?,
    )
    .await
    .map_err(|e| match e {
        ProjectionError::Store(StoreError::StreamNotFound(_) | StoreError::StreamDeleted(_)) => {
            ApiError::NotFound { what: format!("stream {stream}") }
        }
        other => failed(other),
    })?;
    Ok(HttpResponse::Ok().json(AuditListOut::from(page)))
}

/// Every event, in log order.
#[utoipa::path(
    get,
    path = "/v1/audit/all",
    tag = "audit",
    params(
        ("cursor" = Option<String>, Query, description = "First position (inclusive either way; `commit/prepare` where they differ, as EventStoreDB's are): the `next_cursor` of the previous page"),
        ("direction" = Option<String>, Query, description = "`forwards` (default) or `backwards`"),
        ("limit" = Option<usize>, Query, description = "Events per page, 1 to 1000 (default 100)"),
        ("system" = Option<bool>, Query, description = "Include the store's own system events (EventStoreDB's `$`-streams: `$metadata`, statistics); default false"),
    ),
    responses((status = 200, body = AuditListOut), (status = 400, body = crate::error::Problem, content_type = PROBLEM)),
)]
#[get("/v1/audit/all")]
async fn all_history(
    _: Authorized<Auditor>,
    state: web::Data<ApiState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query(&req)?;
    let page = audit::all_page(
        state.store.as_ref(),
        position(&q, "cursor")?,
        direction(&q)?,
        limit(&q, DEFAULT_PAGE, audit::MAX_PAGE)?,
        system(&q)?,
    )
    .await
    .map_err(failed)?;
    Ok(HttpResponse::Ok().json(AuditListOut::from(page)))
}

/// The `system` switch: `true` or `false` (the default).
fn system(q: &std::collections::HashMap<String, String>) -> Result<bool, ApiError> {
    match q.get("system").map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::InvalidInput { field: "system", reason: "must be true or false" }),
    }
}

/// A webhook as it was at `at`: url, event types, status, secret version; never a secret.
#[utoipa::path(
    get,
    path = "/v1/audit/webhooks/{id}/state",
    tag = "audit",
    params(
        ("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("at" = String, Query, description = "An RFC 3339 time"),
    ),
    responses(
        (status = 200, body = WebhookAtOut),
        (status = 400, body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, body = crate::error::Problem, content_type = PROBLEM),
    ),
)]
#[get("/v1/audit/webhooks/{id}/state")]
async fn webhook_state(
    _: Authorized<Auditor>,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let q = query(&req)?;
    let at = time(&q, "at")?.ok_or(ApiError::InvalidInput { field: "at", reason: "is required" })?;
    let found = audit::webhook_at(state.store.as_ref(), id, at).await.map_err(failed)?;
    // "Not created yet" only for a webhook that was created later: an id no webhook ever
    // had (a typo) is not found.
    if matches!(found.state, WebhookState::None)
        && !audit::webhook_ever_created(state.store.as_ref(), id).await.map_err(failed)?
    {
        return Err(ApiError::NotFound { what: format!("webhook {id}") });
    }
    Ok(HttpResponse::Ok().json(WebhookAtOut::from(found)))
}
