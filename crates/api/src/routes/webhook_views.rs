//! What a webhook looks like in the API: its settings from the lifecycle stream, and the
//! health the webhook-health read model keeps (status, failing since, counts, the success
//! rate over 24 hours, the last error and the last delivery). The read model's rows are never
//! served as they are: every field here is the API's own.

use chrono::{DateTime, Utc};
use packhooks_domain::delivery::HealthStatus;
use packhooks_domain::webhook::{DisabledBy, EventType, Webhook, WebhookFormat, WebhookStatus};
use packhooks_domain::{AccountId, WebhookId};
use packhooks_projections::health::WebhookHealth;
use serde::Serialize;
use utoipa::ToSchema;

use super::read::projections;
use crate::ApiState;

/// Why a webhook is disabled.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DisabledOut {
    pub by: DisabledBy,
    pub reason: String,
    pub since: DateTime<Utc>,
}

/// The latest delivery attempt (test deliveries are not counted).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LastDeliveryOut {
    /// `dlv_…`: its attempts are in `GET /v1/webhooks/{id}/deliveries/{delivery}`.
    pub delivery_id: String,
    /// `interested` or `declined`; `null` while the delivery view has not caught up with it.
    pub event_type: Option<EventType>,
    pub at: DateTime<Utc>,
    /// `success` or `failure`.
    pub result: String,
    /// The endpoint's HTTP status; `null` when no answer came.
    pub status_code: Option<u16>,
    /// Why the attempt failed (`timeout`, `connect`, `dns`, `tls`, `status`, `refused_target`);
    /// `null` for a success.
    pub error_code: Option<String>,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// The latest failed attempt.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LastErrorOut {
    /// `timeout`, `connect`, `dns`, `tls`, `status` or `refused_target`.
    pub error_code: String,
    pub status_code: Option<u16>,
    pub at: DateTime<Utc>,
}

/// Delivery health as the webhook-health read model keeps it (test deliveries excluded).
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct WebhookHealthOut {
    /// Failed attempts since the last success.
    pub consecutive_failures: u64,
    /// Successful attempts over all attempts in the last 24 hours; `null` without attempts.
    pub success_rate_24h: Option<f64>,
    /// Deliveries that succeeded.
    pub delivered: u64,
    /// Deliveries given up after their last attempt.
    pub abandoned: u64,
    /// Attempts that failed.
    pub failed_attempts: u64,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<LastErrorOut>,
}

/// A webhook as its owner sees it; never its secret.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WebhookOut {
    pub id: WebhookId,
    pub account_id: AccountId,
    pub url: String,
    pub events: Vec<EventType>,
    pub description: Option<String>,
    /// The body the webhook receives: `standard`, or a chat message (`slack`, `discord`, `teams`).
    pub format: WebhookFormat,
    pub status: HealthStatus,
    /// Set while `status` is `disabled`.
    pub disabled: Option<DisabledOut>,
    /// Set while `status` is `failing`: since when.
    pub failing_since: Option<DateTime<Utc>>,
    pub last_delivery: Option<LastDeliveryOut>,
    pub health: WebhookHealthOut,
    /// 1 for the first secret, one more per rotation.
    pub secret_version: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookOut {
    /// The webhook as the lifecycle stream says; health fields start empty (the health read
    /// model fills in `failing`, the counts and the last delivery).
    pub fn from_webhook(webhook: &Webhook) -> Self {
        let status = HealthStatus::of(&webhook.status, None);
        let disabled = match &webhook.status {
            WebhookStatus::Enabled => None,
            WebhookStatus::Disabled { by, reason, since } => {
                Some(DisabledOut { by: *by, reason: reason.clone(), since: *since })
            }
        };
        WebhookOut {
            id: webhook.id,
            account_id: webhook.account_id.clone(),
            url: webhook.url.clone(),
            events: webhook.events.clone(),
            description: webhook.description.clone(),
            format: webhook.format,
            status,
            disabled,
            failing_since: None,
            last_delivery: None,
            health: WebhookHealthOut::default(),
            secret_version: webhook.secrets.version,
            created_at: webhook.created_at,
            updated_at: webhook.updated_at,
        }
    }

    /// Adds what the health read model says. The lifecycle stream stays the authority on
    /// `disabled`.
    fn with_health(&mut self, h: &WebhookHealth) {
        self.status = HealthStatus::new(self.disabled.is_some(), h.failing_since.is_some());
        self.failing_since = h.failing_since;
        self.last_delivery = h.last_delivery.as_ref().map(|d| LastDeliveryOut {
            delivery_id: d.delivery_id.clone(),
            event_type: None,
            at: d.at,
            result: if d.success { "success" } else { "failure" }.to_owned(),
            status_code: d.status,
            // The last failure is this attempt's when the attempt failed.
            error_code: h.last_failure.as_ref().filter(|_| !d.success).map(|f| f.code.clone()),
            attempt: d.attempt,
        });
        self.health = WebhookHealthOut {
            consecutive_failures: h.consecutive_failures,
            success_rate_24h: h.success_rate_24h,
            delivered: h.counts.successes,
            abandoned: h.counts.abandoned,
            failed_attempts: h.counts.failures,
            last_success_at: h.last_success_at,
            last_error: h.last_failure.as_ref().map(|f| LastErrorOut {
                error_code: f.code.clone(),
                status_code: f.status,
                at: f.at,
            }),
        };
    }
}

/// Fills the health fields of webhook views from the health read model. Without a projections
/// service, or when the read fails, the views stay as they are (logged).
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
        if let Some(h) = health.iter().find(|h| h.webhook_id == out.id.to_string()) {
            out.with_health(h);
        }
        if let Some(last) = out.last_delivery.as_mut() {
            last.event_type = event_type_of(state, &projections, out.id, &last.delivery_id).await;
        }
    }
}

/// The event type of a delivery, from the delivery view and the delivered event; `None` when
/// either is not there (yet).
async fn event_type_of(
    state: &ApiState,
    projections: &packhooks_projections::Projections,
    webhook: WebhookId,
    delivery: &str,
) -> Option<EventType> {
    let found = projections.read_models().delivery(webhook.to_string(), delivery.to_owned()).await.ok()??;
    super::deliveries::Source::read(state, &found.0).await.ok()?.event_type()
}
