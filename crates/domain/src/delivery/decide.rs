//! The delivery rules: what follows an attempt (a retry, or the delivery abandoned), when a
//! webhook is failing, recovered or to be disabled, and what a webhook that is off gives up.
//!
//! Pure like the webhook's own `decide`: time, the jitter's random number and the
//! settings arrive in the arguments; the webhook actor reads them, calls these, and does the
//! I/O (the attempt, the appends, the timers). Which rules apply:
//!
//! - a failed attempt is retried on the [`RetryPolicy`] schedule until the last attempt,
//!   then the delivery is abandoned;
//! - an abandoned delivery flags a webhook that is not failing yet as failing, since then;
//!   a success recovers a failing webhook;
//! - a webhook failing with no success for the auto-disable period (counted from when it
//!   was flagged, or from when its owner last enabled it, whichever is later) is disabled;
//!   so is one whose endpoint answers `410 Gone`, at once and without a retry, when the
//!   settings say so;
//! - a test event is attempted once and never changes the webhook's health: no retry, no
//!   abandonment, no flag, no recovery, no disable;
//! - a webhook that is off (disabled, deleted, off plan) gives up what it owes, recorded as
//!   abandoned after the attempts made so far.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    AttemptOutcome, DeliveryAbandoned, DeliverySource, Health, RetryPolicy, WebhookFlaggedFailing, WebhookRecovered,
};
use crate::{DeliveryId, DomainEvent, WebhookId};

/// The settings the delivery rules follow, borrowed from the delivery configuration.
#[derive(Clone, Copy, Debug)]
pub struct DeliveryRules<'a> {
    pub retry: &'a RetryPolicy,
    /// Disable a webhook as soon as its endpoint answers `410 Gone`.
    pub disable_on_gone: bool,
    /// A webhook failing with no success for this long is disabled.
    pub auto_disable_after: Duration,
}

/// The webhook as its deliveries see it now (from its lifecycle stream, not its own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebhookNow {
    /// Deliveries may go to it: it exists, is enabled, and its account is on a webhook plan.
    pub active: bool,
    /// When its owner last enabled it again: the auto-disable period starts over then.
    pub enabled_at: Option<DateTime<Utc>>,
}

/// One attempt was made and came to `outcome`.
#[derive(Clone, Copy, Debug)]
pub struct RecordAttempt<'a> {
    pub webhook_id: WebhookId,
    pub delivery_id: DeliveryId,
    pub source: &'a DeliverySource,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub outcome: &'a AttemptOutcome,
    /// The endpoint's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
    /// A random number in `[0, 1)` for the retry's jitter, drawn by the caller.
    pub jitter: f64,
    pub now: DateTime<Utc>,
}

/// Why a webhook is to be disabled, decided by [`record_attempt`] or [`auto_disable_due`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisableReason {
    /// Its endpoint answered `410 Gone`.
    Gone,
    /// Failing with no success for the whole auto-disable period.
    FailingTooLong { since: DateTime<Utc>, failing_for: Duration },
}

impl DisableReason {
    /// A stable code for the reason, for operators' logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            DisableReason::Gone => "gone",
            DisableReason::FailingTooLong { .. } => "failing_too_long",
        }
    }

    /// The reason recorded in `WebhookDisabled` (and shown to the owner).
    pub fn text(&self) -> String {
        match self {
            DisableReason::Gone => "the endpoint answered 410 Gone".to_owned(),
            DisableReason::FailingTooLong { since, failing_for } => format!(
                "failing since {} with no successful delivery for {} s",
                since.to_rfc3339(),
                failing_for.as_secs()
            ),
        }
    }
}

/// What follows an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptDecided {
    /// When the next attempt is due, recorded in the attempt's `DeliveryAttempted`; `None`
    /// when it was the last (a success, a test event, or the delivery is abandoned).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The events that follow the `DeliveryAttempted`, in order: `DeliveryAbandoned` then
    /// `WebhookFlaggedFailing`, or `WebhookRecovered`. Empty (and so not allocated) for the
    /// common case, a success of a healthy webhook.
    pub then: Vec<DomainEvent>,
    /// The webhook is to be disabled (only ever while it is active).
    pub disable: Option<DisableReason>,
}

/// Decides what follows one attempt of a delivery, for a webhook in `health`.
pub fn record_attempt(
    health: &Health,
    attempt: &RecordAttempt<'_>,
    webhook: WebhookNow,
    rules: &DeliveryRules<'_>,
) -> AttemptDecided {
    let RecordAttempt { webhook_id, delivery_id, source, now, .. } = *attempt;
    let test = source.test;
    let gone = attempt.outcome.status() == Some(410) && rules.disable_on_gone && !test;
    let next_attempt_at = match attempt.outcome {
        AttemptOutcome::Failure { .. } if !test && !gone => {
            rules.retry.next_attempt_at(attempt.attempt, now, attempt.jitter, attempt.retry_after)
        }
        _ => None,
    };
    let mut then = Vec::new();
    if next_attempt_at.is_none() && !test {
        if attempt.outcome.is_success() {
            if health.failing_since.is_some() {
                then.push(WebhookRecovered { webhook_id, delivery_id, recorded_at: now }.into());
            }
        } else {
            then.push(
                DeliveryAbandoned {
                    webhook_id,
                    delivery_id,
                    source: source.clone(),
                    attempts: attempt.attempt,
                    recorded_at: now,
                }
                .into(),
            );
            if health.failing_since.is_none() {
                then.push(
                    WebhookFlaggedFailing { webhook_id, delivery_id, failing_since: now, recorded_at: now }.into(),
                );
            }
        }
    }
    let disable = if !webhook.active || test {
        None
    } else if gone {
        Some(DisableReason::Gone)
    } else {
        let after = then.iter().fold(*health, |h, e| h.evolve(e));
        auto_disable_due(&after, webhook, now, rules.auto_disable_after)
    };
    AttemptDecided { next_attempt_at, then, disable }
}

/// When a failing webhook is to be disabled, if it stays failing; `None` when it is not
/// failing. A period past what a date can hold saturates to the latest date (never).
pub fn auto_disable_at(health: &Health, webhook: WebhookNow, after: Duration) -> Option<DateTime<Utc>> {
    let since = health.failing_clock(webhook.enabled_at)?;
    Some(
        chrono::Duration::from_std(after)
            .ok()
            .and_then(|after| since.checked_add_signed(after))
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    )
}

/// Whether an active webhook has been failing with no success for the whole auto-disable
/// period by `now`, and so is to be disabled.
pub fn auto_disable_due(
    health: &Health,
    webhook: WebhookNow,
    now: DateTime<Utc>,
    after: Duration,
) -> Option<DisableReason> {
    let since = health.failing_clock(webhook.enabled_at)?;
    let failing_for = (now - since).to_std().unwrap_or(Duration::ZERO);
    (webhook.active && failing_for >= after).then_some(DisableReason::FailingTooLong { since, failing_for })
}

/// A delivery owed attempt `owed_attempt` is given up without it, because the webhook is off:
/// recorded as abandoned after the attempts made so far. It does not flag the webhook.
pub fn give_up(
    webhook_id: WebhookId,
    delivery_id: DeliveryId,
    source: &DeliverySource,
    owed_attempt: u32,
    now: DateTime<Utc>,
) -> DomainEvent {
    DeliveryAbandoned {
        webhook_id,
        delivery_id,
        source: source.clone(),
        attempts: owed_attempt.saturating_sub(1),
        recorded_at: now,
    }
    .into()
}

/// Whether the append of a batch of `batch` outcome events closes with a checkpoint.
///
/// A checkpoint describes the state after everything buffered, so it goes only at the end of
/// a batch that empties the buffer (`rest_buffered` is what stays behind), and only once a
/// replay is past every position the last load said to skip (`may_checkpoint`). It comes
/// every `checkpoint_every` events, or at once when `asked` (an idle actor moved on). A
/// checkpoint lists every owed delivery, so with `owed` many it comes at most once per that
/// many events: its cost per event stays bounded, and a restart still reads no more events
/// than the checkpoint saves it.
pub fn checkpoint_due(
    since_checkpoint: u32,
    may_checkpoint: bool,
    checkpoint_every: u32,
    owed: usize,
    batch: usize,
    rest_buffered: usize,
    asked: bool,
) -> bool {
    let every = (checkpoint_every as usize).max(owed);
    rest_buffered == 0 && may_checkpoint && (asked || since_checkpoint as usize + batch + 1 >= every)
}
