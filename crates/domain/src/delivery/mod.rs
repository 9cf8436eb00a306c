//! Delivery: the events of a webhook's `deliveries-` stream, the retry policy, and the
//! delivery rules as pure functions.
//!
//! The `deliveries-{webhook}` stream is written only by that webhook's actor; everything it
//! needs to resume (pending retries and their due times, the resume position, health) is
//! folded from the stream from its latest [`DeliveryCheckpoint`] on ([`DeliveryState`]).
//! What follows an attempt, when a webhook is failing, recovered or disabled, and what a
//! webhook that is off gives up is decided in [`decide`](mod@decide); whether a delivery
//! is attempted, waits or is given up as the webhook is switched on and off, in
//! [`switch`](mod@switch); the actor only does the I/O.

mod decide;
mod state;
mod switch;
#[cfg(test)]
mod tests;

pub use self::decide::{
    auto_disable_at, auto_disable_due, checkpoint_due, give_up, record_attempt, AttemptDecided, DeliveryRules,
    DisableReason, RecordAttempt, WebhookNow,
};
pub use self::state::{DeliveryState, Health, HealthStatus, Replayed};
pub use self::switch::{Owing, Switch, Turned};

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{DeliveryId, Position, WebhookId};

/// Why an attempt failed. Closed, with stable codes customers and operators can rely on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// No complete answer within the attempt timeout.
    Timeout,
    /// The TCP connection could not be made or broke.
    Connect,
    /// The host name did not resolve.
    Dns,
    /// The TLS handshake failed.
    Tls,
    /// The endpoint answered with a status other than 2xx.
    Status,
    /// The target resolved to an address packhooks refuses (private, loopback, …).
    RefusedTarget,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::Timeout => "timeout",
            FailureCode::Connect => "connect",
            FailureCode::Dns => "dns",
            FailureCode::Tls => "tls",
            FailureCode::Status => "status",
            FailureCode::RefusedTarget => "refused_target",
        }
    }
}

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AttemptOutcome {
    Success {
        status: u16,
    },
    Failure {
        code: FailureCode,
        /// The HTTP status, when the endpoint answered.
        status: Option<u16>,
        /// Operator detail (the error chain); never shown as the customer-facing code.
        detail: String,
    },
}

impl AttemptOutcome {
    pub fn is_success(&self) -> bool {
        matches!(self, AttemptOutcome::Success { .. })
    }
    pub fn status(&self) -> Option<u16> {
        match self {
            AttemptOutcome::Success { status } => Some(*status),
            AttemptOutcome::Failure { status, .. } => *status,
        }
    }
}

/// What a delivery carries: a submission, or a test event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliverySource {
    /// The stream and revision of the event delivered (a `pack-` or `webhook-` stream).
    pub stream: String,
    pub revision: u64,
    /// Its `$all` position, stored as its text (`commit/prepare`, or a plain number).
    #[serde(with = "crate::position::text")]
    #[schema(value_type = String)]
    pub position: Position,
    /// The message id the receiver sees (`msg_…`), the same for every attempt.
    pub message_id: String,
    pub test: bool,
}

/// `deliveries-{webhook}`: one attempt was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempted {
    pub webhook_id: WebhookId,
    pub delivery_id: DeliveryId,
    pub source: DeliverySource,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub outcome: AttemptOutcome,
    pub latency_ms: u64,
    /// The first 1 KiB of the response body, lossily decoded.
    pub response_body: Option<String>,
    /// When the next attempt is due; `None` when this was the last (success or abandoned).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub recorded_at: DateTime<Utc>,
}

/// `deliveries-{webhook}`: the last attempt failed; the delivery is given up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAbandoned {
    pub webhook_id: WebhookId,
    pub delivery_id: DeliveryId,
    pub source: DeliverySource,
    pub attempts: u32,
    pub recorded_at: DateTime<Utc>,
}

/// `deliveries-{webhook}`: a delivery was abandoned, so the webhook is failing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookFlaggedFailing {
    pub webhook_id: WebhookId,
    /// The abandoned delivery that caused it.
    pub delivery_id: DeliveryId,
    pub failing_since: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// `deliveries-{webhook}`: a failing webhook got a successful delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRecovered {
    pub webhook_id: WebhookId,
    pub delivery_id: DeliveryId,
    pub recorded_at: DateTime<Utc>,
}

/// A retry the actor owes, as kept in a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRetry {
    pub delivery_id: DeliveryId,
    pub source: DeliverySource,
    /// The number of the attempt that is due (2 for the first retry).
    pub attempt: u32,
    pub due_at: DateTime<Utc>,
}

/// `deliveries-{webhook}`: a snapshot so the actor resumes without reading the whole stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryCheckpoint {
    pub webhook_id: WebhookId,
    /// Every routed event up to this `$all` position has been attempted at least once.
    /// Stored as its text, like [`DeliverySource::position`].
    #[serde(default, with = "crate::position::text::option")]
    pub resume_position: Option<Position>,
    pub pending: Vec<PendingRetry>,
    /// `Some` while the webhook is failing: since when.
    pub failing_since: Option<DateTime<Utc>>,
    pub recorded_at: DateTime<Utc>,
}

/// How failed deliveries are retried. Policy is data: it comes from settings.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// The delay before attempt 2, 3, …; the last entry repeats if there are more attempts.
    pub delays: Vec<Duration>,
    /// Jitter as a fraction of the delay, 0.0 to 1.0 (applied as ± half of it).
    pub jitter: f64,
    /// The longest `Retry-After` honoured; longer asks are capped to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            delays: vec![Duration::from_secs(60), Duration::from_secs(600)],
            jitter: 0.2,
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// When attempt `attempt + 1` is due after attempt `attempt` failed at `now`, or `None`
    /// when `attempt` was the last. `unit` is a random number in `[0, 1)` drawn by the
    /// caller, so this stays pure; `retry_after` is the endpoint's ask, honoured up to
    /// `max_retry_after` and never sooner than the scheduled delay. A due time beyond what a
    /// `DateTime` can hold saturates to its maximum (never, in practice) instead of panicking.
    pub fn next_attempt_at(
        &self,
        attempt: u32,
        now: DateTime<Utc>,
        unit: f64,
        retry_after: Option<Duration>,
    ) -> Option<DateTime<Utc>> {
        if attempt >= self.max_attempts || self.delays.is_empty() {
            return None;
        }
        let index = (attempt as usize).saturating_sub(1).min(self.delays.len() - 1);
        let base = self.delays[index].as_secs_f64();
        let jittered = base * (1.0 + self.jitter * (unit.clamp(0.0, 1.0) - 0.5));
        let wait = match retry_after {
            Some(asked) => jittered.max(asked.min(self.max_retry_after).as_secs_f64()),
            None => jittered,
        };
        // `as` saturates (and maps NaN to 0); the addition is the part that can overflow.
        let wait = chrono::Duration::microseconds((wait.max(0.0) * 1_000_000.0) as i64);
        Some(now.checked_add_signed(wait).unwrap_or(DateTime::<Utc>::MAX_UTC))
    }
}
