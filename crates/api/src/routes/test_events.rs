//! Test events: `POST /v1/webhooks/{id}/test` appends a `TestEventRequested` to the webhook's
//! stream; the dispatcher routes it to the webhook's actor like a submission, so it works
//! whichever instance drives that webhook. With `?wait=true` the answer carries the outcome
//! of the (single) attempt: the handler subscribes to the webhook's `deliveries-` stream
//! *before* appending, then waits for the `DeliveryAttempted` whose message id is the test
//! event's, up to the attempt timeout and a margin.
//!
//! With an `Idempotency-Key`, the test event's id derives from the key (see `idempotency`):
//! a retry sends nothing new and answers as the first request did, with the outcome if it
//! has come meanwhile (read back from the deliveries stream) or waited for as above.

use std::time::Duration;

use actix_web::{post, web, HttpRequest, HttpResponse};
use futures::StreamExt;
use packhooks_domain::delivery::{AttemptOutcome, DeliveryAttempted};
use packhooks_domain::payload::message_id;
use packhooks_domain::webhook::{self, EventType, RequestTestEvent};
use packhooks_domain::{DomainEvent, Issuer, TestEventId, WebhookId};
use packhooks_store::{Direction, StoreError, StreamPosition, SubscribeFrom, SubscriptionEvent, SubscriptionFilter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::webhooks::{context, webhook_id};
use crate::auth::{Authorized, Frontend};
use crate::command::{self, Command, Key};
use crate::error::PROBLEM_JSON as PROBLEM;
use crate::idempotency;
use crate::json::ApiJson;
use crate::{ApiError, ApiState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(request_test_event);
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(request_test_event), components(schemas(TestEventIn, TestEventOut, TestOutcomeOut)))]
pub struct Doc;

/// How long `?wait=true` waits for the outcome; the binary registers it (as an extension)
/// from the delivery settings' attempt timeout. Without it: 10 s.
#[derive(Clone, Copy, Debug)]
pub struct TestEventWait(pub Duration);

/// Added to the attempt timeout: routing, queueing and the append of the outcome.
const WAIT_MARGIN: Duration = Duration::from_secs(2);

/// How far back a retried request looks for its outcome in the deliveries stream (the
/// outcome follows its request within the attempt timeout, so it is among the last events).
const OUTCOME_LOOKBACK: usize = 10_000;

/// The route's kind in keyed requests' hashes.
const KIND: &str = "request_test_event";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestEventIn {
    /// Which kind of sample message to send.
    pub event: EventType,
}

#[derive(Debug, Default, Deserialize)]
struct WaitQuery {
    #[serde(default)]
    wait: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestEventOut {
    /// `test_…`
    pub test_id: String,
    /// The `webhook-id` the endpoint sees, `msg_…`.
    pub message_id: String,
    /// `requested` (no wait), `delivered`, `failed`, or `pending` (no outcome within the wait).
    pub status: &'static str,
    pub outcome: Option<TestOutcomeOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestOutcomeOut {
    pub success: bool,
    /// The endpoint's HTTP status; `null` when no answer came.
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// Why the attempt failed (`timeout`, `connect`, `dns`, `tls`, `status`, `refused_target`);
    /// `null` for a success.
    pub error_code: Option<&'static str>,
}

impl From<&DeliveryAttempted> for TestOutcomeOut {
    fn from(a: &DeliveryAttempted) -> Self {
        TestOutcomeOut {
            success: a.outcome.is_success(),
            status_code: a.outcome.status(),
            latency_ms: a.latency_ms,
            error_code: match &a.outcome {
                AttemptOutcome::Success { .. } => None,
                AttemptOutcome::Failure { code, .. } => Some(code.as_str()),
            },
        }
    }
}

/// Sends a test event (`"test": true`, delivered once, never changes health). 202 at once;
/// with `?wait=true`, 200 with the outcome (or 202 `pending` if none came in time).
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/test",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("wait" = Option<bool>, Query, description = "Answer with the attempt's outcome"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters; a retry with the same key sends nothing new and answers as the first time (with the outcome once it came); the key with a different request is a 422 `idempotency_key_reused`"),
    ),
    request_body = TestEventIn,
    responses(
        (status = 200, body = TestEventOut),
        (status = 202, body = TestEventOut),
        (status = 400, body = crate::error::Problem, content_type = PROBLEM),
        (status = 403, body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, body = crate::error::Problem, content_type = PROBLEM),
        (status = 409, body = crate::error::Problem, content_type = PROBLEM),
        (status = 422, body = crate::error::Problem, content_type = PROBLEM),
    ),
)]
#[post("/v1/webhooks/{id}/test")]
async fn request_test_event(
    auth: Authorized<Frontend>,
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: ApiJson<TestEventIn>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    // Read here rather than by the `web::Query` extractor, whose refusal is plain text.
    let query = web::Query::<WaitQuery>::from_query(req.query_string())
        .map_err(|_| ApiError::InvalidInput { field: "wait", reason: "must be true or false" })?;
    let event = body.into_inner().event;
    let key = idempotency::key(&req)?.map(|key| Key::new(key, KIND, &id.to_string(), &event));
    // Subscribed before the append, so the outcome cannot slip past.
    let outcomes = if query.wait {
        let filter = SubscriptionFilter::StreamPrefix(vec![id.deliveries_stream()]);
        Some(state.store.subscribe_to_all(SubscribeFrom::End, Some(filter)).await?)
    } else {
        None
    };
    let (test_id, retried) = request(&state, id, &path, event, key.as_ref(), auth.issuer()).await?;
    let message = message_id(test_id.uuid());
    let mut out =
        TestEventOut { test_id: test_id.to_string(), message_id: message.clone(), status: "requested", outcome: None };
    let Some(mut outcomes) = outcomes else {
        return Ok(HttpResponse::Accepted().json(out));
    };

    let wait = state.extension::<TestEventWait>().map_or(Duration::from_secs(10), |w| w.0) + WAIT_MARGIN;
    let earlier = if retried { outcome_so_far(&state, id, &message).await? } else { None };
    let attempted = match earlier {
        Some(a) => Some(a),
        None => wait_for_outcome(&mut outcomes, &message, wait).await,
    };
    match attempted {
        Some(a) => {
            out.status = if a.outcome.is_success() { "delivered" } else { "failed" };
            out.outcome = Some(TestOutcomeOut::from(&a));
            Ok(HttpResponse::Ok().json(out))
        }
        None => {
            out.status = "pending";
            Ok(HttpResponse::Accepted().json(out))
        }
    }
}

/// Appends a test event for webhook `id` through the command path: its id, and whether a
/// keyed retry found it from before (its first request's).
async fn request(
    state: &ApiState,
    id: WebhookId,
    path: &str,
    event: EventType,
    key: Option<&Key>,
    issuer: Issuer,
) -> Result<(TestEventId, bool), ApiError> {
    let stream = id.stream();
    let test_id = TestEventId::from_uuid(key.map_or_else(Uuid::now_v7, |key| key.event_id(&stream, 0)));
    // The plan of the webhook's account (which never changes), read before the command.
    state.registry.ensure_current().await?;
    let plan = {
        let tracked = state.registry.read().await;
        tracked.registry.webhook(&id).and_then(|w| tracked.registry.plan(&w.account_id))
    };
    let ctx = context(state, plan, 0);
    let command = RequestTestEvent { test_id, event, now: state.clock.now() };
    let ran = command::run(state.store.as_ref(), &Command::on(&stream).keyed(key).issued_by(Some(issuer)), |events| {
        let current = webhook::fold(events);
        current.active().ok_or_else(|| ApiError::NotFound { what: format!("webhook {path}") })?;
        Ok::<_, ApiError>(webhook::decide(&current, command.clone(), &ctx)?)
    })
    .await?;
    let test_id = ran.own.iter().find_map(|e| match e {
        DomainEvent::TestEventRequested(e) => Some(e.test_id),
        _ => None,
    });
    Ok((test_id.ok_or(ApiError::IdempotencyKeyReused)?, ran.replayed))
}

/// The outcome of message `message` already in the webhook's deliveries stream, if any.
async fn outcome_so_far(state: &ApiState, id: WebhookId, message: &str) -> Result<Option<DeliveryAttempted>, ApiError> {
    let stream = id.deliveries_stream();
    let recorded =
        match state.store.read_stream(&stream, StreamPosition::End, Direction::Backwards, OUTCOME_LOOKBACK).await {
            Ok(recorded) => recorded,
            Err(StoreError::StreamNotFound(_)) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
    Ok(recorded.iter().filter(|r| r.event_type == "DeliveryAttempted").find_map(|r| {
        match DomainEvent::decode(&r.event_type, &r.data) {
            Ok(DomainEvent::DeliveryAttempted(a)) if a.source.message_id == message => Some(a),
            _ => None,
        }
    }))
}

/// Waits up to `wait` for the outcome of message `message` on the subscription.
async fn wait_for_outcome(
    outcomes: &mut packhooks_store::Subscription,
    message: &str,
    wait: Duration,
) -> Option<DeliveryAttempted> {
    tokio::time::timeout(wait, async {
        while let Some(item) = outcomes.next().await {
            let Ok(SubscriptionEvent::Event(recorded)) = item else { continue };
            if recorded.event_type != "DeliveryAttempted" {
                continue;
            }
            if let Ok(DomainEvent::DeliveryAttempted(a)) = DomainEvent::decode(&recorded.event_type, &recorded.data) {
                if a.source.message_id == message {
                    return Some(a);
                }
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}
