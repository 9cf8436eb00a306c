//! The delivery view: `GET /v1/webhooks/{id}/deliveries` lists a webhook's deliveries, one row
//! each (state, attempts, last and next attempt), newest first, filtered by `state`,
//! `event_type`, `since` and `until`; `GET /v1/webhooks/{id}/deliveries/{delivery}` shows one
//! with its attempts and the exact body that was sent.
//!
//! Rows come from the delivery-log read model; what a delivery carries (the submission or test
//! event, its type, the body) is read from the delivered event itself, which the body is a pure
//! function of (with the webhook's format: a chat webhook's body is its chat message). A retry that will not run (the webhook is disabled or deleted now) shows no
//! `next_attempt_at`.

use std::collections::HashMap;

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use packhooks_domain::payload::WebhookMessage;
use packhooks_domain::chat;
use packhooks_domain::webhook::{EventType, WebhookFormat, WebhookState};
use packhooks_domain::{DomainEvent, WebhookId};
use packhooks_projections::deliveries::{self, state, DeliveryFilter, DeliveryRow};
use packhooks_projections::delivery_log::AttemptEntry;
use packhooks_store::{Direction, Position, StoreError, StreamPosition};
use serde::Serialize;
use utoipa::ToSchema;

use super::read::{cursor, failed, limit, projections, query, time};
use super::webhooks::{load_webhook, webhook_id};
use crate::auth::{Authorized, Frontend};
use crate::error::PROBLEM_JSON as PROBLEM;
use crate::{ApiError, ApiState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_deliveries).service(get_delivery);
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_deliveries, get_delivery),
    components(schemas(DeliveryListOut, DeliveryOut, DeliveryState, LastAttemptOut, DeliveryDetailOut, DeliveryAttemptOut))
)]
pub struct Doc;

/// Deliveries per page when `limit` is absent.
const DEFAULT_PAGE: usize = 50;
/// With an `event_type` filter, a page looks at most this many deliveries; when none of them
/// match, it is empty with a `next_cursor` to go on from.
const SCAN: usize = 1000;

/// Where a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Attempted, and another attempt is due.
    Pending,
    /// An attempt succeeded.
    Delivered,
    /// Given up: the last attempt failed, or the webhook was disabled or deleted first.
    Abandoned,
}

impl DeliveryState {
    fn from_row(text: &str) -> Self {
        match text {
            state::DELIVERED => DeliveryState::Delivered,
            state::ABANDONED => DeliveryState::Abandoned,
            _ => DeliveryState::Pending,
        }
    }
}

/// The latest attempt of a delivery.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LastAttemptOut {
    pub at: DateTime<Utc>,
    pub success: bool,
    /// The endpoint's HTTP status; `null` when no answer came.
    pub status_code: Option<u16>,
    /// Why it failed (`timeout`, `connect`, `dns`, `tls`, `status`, `refused_target`); `null` for a success.
    pub error_code: Option<String>,
}

/// One delivery: one submission (or test event) to this webhook, with all its attempts.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeliveryOut {
    /// `dlv_…`
    pub delivery_id: String,
    /// `sub_…`: the submission delivered; `null` for a test event.
    pub submission_id: Option<String>,
    /// `test_…`: the test event delivered; `null` for a submission.
    pub test_id: Option<String>,
    /// The `webhook-id` the receiver saw, `msg_…`: the same for every attempt.
    pub message_id: String,
    /// `interested` or `declined`.
    pub event_type: Option<EventType>,
    pub test: bool,
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    pub last_attempt: Option<LastAttemptOut>,
    /// When the next attempt is due; `null` when none will run (delivered, abandoned, or the
    /// webhook is disabled or deleted).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was first attempted (or given up, if it never was).
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryListOut {
    pub data: Vec<DeliveryOut>,
    /// Pass as `cursor` for the next (older) page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// One attempt of a delivery.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeliveryAttemptOut {
    /// 1 for the first attempt.
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub success: bool,
    /// The endpoint's HTTP status; `null` when no answer came.
    pub status_code: Option<u16>,
    /// Why it failed; `null` for a success.
    pub error_code: Option<String>,
    pub latency_ms: u64,
    /// The first 1 KiB of the response body.
    pub response_body: Option<String>,
}

/// One delivery with its attempts (oldest first) and the body every attempt sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDetailOut {
    #[serde(flatten)]
    pub delivery: DeliveryOut,
    pub attempts: Vec<DeliveryAttemptOut>,
    /// The exact request body that was sent (the same bytes on every attempt), as text: in the
    /// webhook's `format` (a format changed after the attempts shows the body it sends now).
    pub body: Option<String>,
}

impl From<AttemptEntry> for DeliveryAttemptOut {
    fn from(a: AttemptEntry) -> Self {
        DeliveryAttemptOut {
            attempt: a.attempt,
            at: a.recorded_at,
            success: a.success,
            status_code: a.status,
            error_code: a.code,
            latency_ms: a.latency_ms,
            response_body: a.response_body,
        }
    }
}

/// What a delivery carries, read from the delivered event.
pub(crate) struct Source {
    event: Option<DomainEvent>,
}

impl Source {
    pub(crate) async fn read(state: &ApiState, row: &DeliveryRow) -> Result<Source, ApiError> {
        let from = StreamPosition::Revision(row.source_revision);
        let event = match state.store.read_stream(&row.source_stream, from, Direction::Forwards, 1).await {
            Ok(found) => found.first().and_then(|r| DomainEvent::decode(&r.event_type, &r.data).ok()),
            Err(StoreError::StreamNotFound(_) | StoreError::StreamDeleted(_)) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(Source { event })
    }

    pub(crate) fn event_type(&self) -> Option<EventType> {
        match &self.event {
            Some(DomainEvent::CandidateInterested(_)) => Some(EventType::Interested),
            Some(DomainEvent::CandidateDeclined(_)) => Some(EventType::Declined),
            Some(DomainEvent::TestEventRequested(e)) => Some(e.event),
            _ => None,
        }
    }

    /// The body every attempt sent: the message is a pure function of the event and format.
    fn body(&self, format: WebhookFormat) -> Option<String> {
        let message = match &self.event {
            Some(DomainEvent::CandidateInterested(e)) => WebhookMessage::interested(e),
            Some(DomainEvent::CandidateDeclined(e)) => WebhookMessage::declined(e),
            Some(DomainEvent::TestEventRequested(e)) => WebhookMessage::test(e),
            _ => return None,
        };
        String::from_utf8(chat::render(format, &message)).ok()
    }

    fn out(&self, row: DeliveryRow, will_retry: bool) -> DeliveryOut {
        let (submission_id, test_id) = match &self.event {
            Some(DomainEvent::CandidateInterested(e)) => (Some(e.submission_id.to_string()), None),
            Some(DomainEvent::CandidateDeclined(e)) => (Some(e.submission_id.to_string()), None),
            Some(DomainEvent::TestEventRequested(e)) => (None, Some(e.test_id.to_string())),
            _ => (None, None),
        };
        DeliveryOut {
            event_type: self.event_type(),
            delivery_id: row.delivery_id,
            submission_id,
            test_id,
            message_id: row.message_id,
            test: row.test,
            state: DeliveryState::from_row(&row.state),
            attempts: row.attempts,
            last_attempt: row.last_attempt_at.map(|at| LastAttemptOut {
                at,
                success: row.last_success.unwrap_or(false),
                status_code: row.last_status,
                error_code: row.last_code,
            }),
            next_attempt_at: row.next_attempt_at.filter(|_| will_retry),
            created_at: row.first_at,
        }
    }
}

/// The webhook's lifecycle state: 404 for one never created; whether its retries run.
async fn webhook_retries(state: &ApiState, id: WebhookId) -> Result<bool, ApiError> {
    Ok(webhook_now(state, id).await?.0)
}

/// Whether the webhook's retries will run (it exists and is enabled), and its format.
async fn webhook_now(state: &ApiState, id: WebhookId) -> Result<(bool, WebhookFormat), ApiError> {
    match load_webhook(state, id).await? {
        WebhookState::None => Err(ApiError::NotFound { what: format!("webhook {id}") }),
        WebhookState::Deleted { webhook, .. } => Ok((false, webhook.format)),
        WebhookState::Active(webhook) => Ok((webhook.is_enabled(), webhook.format)),
    }
}

fn filter(q: &HashMap<String, String>) -> Result<(DeliveryFilter, Option<EventType>), ApiError> {
    let state = match q.get("state").map(String::as_str) {
        None => None,
        Some(s) if state::ALL.contains(&s) => Some(s.to_owned()),
        Some(_) => {
            return Err(ApiError::InvalidInput { field: "state", reason: "must be pending, delivered or abandoned" })
        }
    };
    let event_type = match q.get("event_type").map(String::as_str) {
        None => None,
        Some("interested") => Some(EventType::Interested),
        Some("declined") => Some(EventType::Declined),
        Some(_) => return Err(ApiError::InvalidInput { field: "event_type", reason: "must be interested or declined" }),
    };
    let filter =
        DeliveryFilter { state, since: time(q, "since")?, until: time(q, "until")?, before: cursor(q, "cursor")? };
    Ok((filter, event_type))
}

/// A webhook's deliveries, newest first (test deliveries included and marked).
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("state" = Option<String>, Query, description = "`pending`, `delivered` or `abandoned`"),
        ("event_type" = Option<String>, Query, description = "`interested` or `declined`"),
        ("since" = Option<String>, Query, description = "First attempted at or after this RFC 3339 time"),
        ("until" = Option<String>, Query, description = "First attempted before this RFC 3339 time"),
        ("limit" = Option<usize>, Query, description = "Deliveries per page, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page. With `event_type`, a page looks at up to 1000 deliveries and may hold fewer than `limit`: go on while `next_cursor` is not null"),
    ),
    responses(
        (status = 200, body = DeliveryListOut),
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
    let limit = limit(&q, DEFAULT_PAGE, deliveries::MAX_PAGE)?;
    let (mut filter, event_type) = filter(&q)?;
    let will_retry = webhook_retries(&state, id).await?;
    let projections = projections(&state)?;
    let read_models = projections.read_models();
    let batch = if event_type.is_some() { SCAN.min(4 * (limit + 1)) } else { limit + 1 };
    let mut found: Vec<(DeliveryRow, Source)> = Vec::with_capacity(limit + 1);
    let (mut scanned, mut last_scanned, mut exhausted) = (0, None::<Position>, false);
    while found.len() <= limit && scanned < SCAN {
        let rows = read_models.delivery_list(id.to_string(), filter.clone(), batch).await.map_err(failed)?;
        exhausted = rows.len() < batch;
        for row in rows {
            scanned += 1;
            last_scanned = Some(row.position);
            let source = Source::read(&state, &row).await?;
            if event_type.is_none() || source.event_type() == event_type {
                found.push((row, source));
                if found.len() > limit {
                    break;
                }
            }
        }
        if exhausted || event_type.is_none() {
            break;
        }
        filter.before = last_scanned;
    }
    let next_cursor = if found.len() > limit {
        found.truncate(limit);
        found.last().map(|(row, _)| row.position.to_string())
    } else if !exhausted && event_type.is_some() {
        last_scanned.map(|p| p.to_string())
    } else {
        None
    };
    let data = found.into_iter().map(|(row, source)| source.out(row, will_retry)).collect();
    Ok(HttpResponse::Ok().json(DeliveryListOut { data, next_cursor }))
}

/// One delivery: its attempts (status, latency, error code, the first 1 KiB of the response)
/// and the exact body that was sent.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries/{delivery}",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("delivery" = String, Path, description = "The delivery id, `dlv_…`"),
    ),
    responses(
        (status = 200, body = DeliveryDetailOut),
        (status = 404, body = crate::error::Problem, content_type = PROBLEM),
    ),
)]
#[get("/v1/webhooks/{id}/deliveries/{delivery}")]
async fn get_delivery(
    _: Authorized<Frontend>,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery) = path.into_inner();
    let id = webhook_id(&id)?;
    let not_found = || ApiError::NotFound { what: format!("delivery {delivery}") };
    let delivery_id = packhooks_domain::DeliveryId::parse(&delivery).map_err(|_| not_found())?;
    let (will_retry, format) = webhook_now(&state, id).await?;
    let projections = projections(&state)?;
    let read_models = projections.read_models();
    let (row, attempts) =
        read_models.delivery(id.to_string(), delivery_id.to_string()).await.map_err(failed)?.ok_or_else(not_found)?;
    let source = Source::read(&state, &row).await?;
    let body = source.body(format);
    Ok(HttpResponse::Ok().json(DeliveryDetailOut {
        delivery: source.out(row, will_retry),
        attempts: attempts.into_iter().map(DeliveryAttemptOut::from).collect(),
        body,
    }))
}
