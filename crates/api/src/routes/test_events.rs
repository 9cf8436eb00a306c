//! Test events: `POST /v1/webhooks/{id}/test` appends a `TestEventRequested` to the webhook's
//! stream; the dispatcher routes it to the webhook's actor like a submission, so it works
//! whichever instance drives that webhook. With `?wait=true` the answer carries the outcome
//! of the (single) attempt: the handler subscribes to the webhook's `deliveries-` stream
//! *before* appending, then waits for the `DeliveryAttempted` whose message id is the test
//! event's, up to the attempt timeout and a margin.

use std::time::Duration;

use actix_web::{post, web, HttpResponse};
use futures::StreamExt;
use packhooks_domain::delivery::{AttemptOutcome, DeliveryAttempted};
use packhooks_domain::payload::message_id;
use packhooks_domain::webhook::{self, EventType, RequestTestEvent};
use packhooks_domain::{streams, DomainEvent, TestEventId};
use packhooks_store::{SubscribeFrom, SubscriptionEvent, SubscriptionFilter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::webhooks::{context, load_webhook, webhook_id};
use crate::auth::{Authorized, Frontend};
use crate::command;
use crate::error::PROBLEM_JSON as PROBLEM;
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
    /// The endpoint's HTTP status, when it answered.
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// The failure's stable code (`timeout`, `connect`, `dns`, `tls`, `status`, `refused_target`).
    pub error: Option<&'static str>,
}

impl From<&DeliveryAttempted> for TestOutcomeOut {
    fn from(a: &DeliveryAttempted) -> Self {
        TestOutcomeOut {
            success: a.outcome.is_success(),
            status: a.outcome.status(),
            latency_ms: a.latency_ms,
            error: match &a.outcome {
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
    ),
    request_body = TestEventIn,
    responses(
        (status = 200, body = TestEventOut),
        (status = 202, body = TestEventOut),
        (status = 403, body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, body = crate::error::Problem, content_type = PROBLEM),
        (status = 409, body = crate::error::Problem, content_type = PROBLEM),
    ),
)]
#[post("/v1/webhooks/{id}/test")]
async fn request_test_event(
    _: Authorized<Frontend>,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    query: web::Query<WaitQuery>,
    body: ApiJson<TestEventIn>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let (loaded, current) = load_webhook(&state, id).await?;
    let account =
        current.active().ok_or_else(|| ApiError::NotFound { what: format!("webhook {path}") })?.account_id.clone();
    state.registry.ensure_current().await?;
    let plan = state.registry.read().await.registry.plan(&account);
    let context = context(&state, plan, 0);
    let test_id = TestEventId::from_uuid(Uuid::now_v7());
    let command = RequestTestEvent { test_id, event: body.into_inner().event, now: state.clock.now() };
    let events = webhook::decide(&current, command, &context)?;
    let message = message_id(test_id.uuid());

    // Subscribed before the append, so the outcome cannot slip past.
    let outcomes = if query.wait {
        let filter = SubscriptionFilter::StreamPrefix(vec![format!("{}{id}", streams::DELIVERIES)]);
        Some(state.store.subscribe_to_all(SubscribeFrom::End, Some(filter)).await?)
    } else {
        None
    };
    command::append(state.store.as_ref(), &id.stream(), loaded.expected, &events).await?;
    let mut out = TestEventOut { test_id: test_id.to_string(), message_id: message.clone(), status: "requested", outcome: None };
    let Some(mut outcomes) = outcomes else {
        return Ok(HttpResponse::Accepted().json(out));
    };

    let wait = state.extension::<TestEventWait>().map_or(Duration::from_secs(10), |w| w.0) + WAIT_MARGIN;
    let attempted = tokio::time::timeout(wait, async {
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
    .flatten();
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
