//! A webhook's delivery state, folded from its `deliveries-` stream: its health, and what it
//! owes at resume.
//!
//! The stream is folded from its latest `DeliveryCheckpoint` on (DESIGN.md, "Delivery
//! guarantees"). A checkpoint lists every delivery still owed an attempt when it was written
//! (queued, in flight or waiting for a retry), so its resume position can be the last routed
//! event the actor had taken on: everything up to it is finished or listed. Events after the
//! checkpoint add what was attempted since, so that a replay of the log from the resume
//! position skips those.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use super::{DeliveryCheckpoint, DeliverySource, PendingRetry};
use crate::webhook::WebhookStatus;
use crate::{DeliveryId, DomainEvent, Position};

/// A webhook's health as its owner sees it. The one status every surface shows (the API's
/// webhook bodies, the audit's health at a time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Healthy,
    /// A delivery was abandoned and no success came since.
    Failing,
    /// Deliveries stop until the owner enables it again.
    Disabled,
}

impl HealthStatus {
    /// The status of a webhook in `status` whose deliveries have been failing since
    /// `failing_since` (`None`: not failing). Disabled wins: nothing is delivered then.
    pub fn of(status: &WebhookStatus, failing_since: Option<DateTime<Utc>>) -> Self {
        Self::new(matches!(status, WebhookStatus::Disabled { .. }), failing_since.is_some())
    }

    /// The same, for a webhook known only to be `disabled` or not, and `failing` or not (a
    /// read model's row).
    pub fn new(disabled: bool, failing: bool) -> Self {
        match (disabled, failing) {
            (true, _) => HealthStatus::Disabled,
            (false, true) => HealthStatus::Failing,
            (false, false) => HealthStatus::Healthy,
        }
    }

    /// Its stable text, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Failing => "failing",
            HealthStatus::Disabled => "disabled",
        }
    }
}

/// Whether a webhook's deliveries are failing, folded from its `deliveries-` stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// `Some` while the webhook is failing: since the abandoned delivery that flagged it.
    pub failing_since: Option<DateTime<Utc>>,
}

impl Health {
    pub fn evolve(self, event: &DomainEvent) -> Self {
        match event {
            DomainEvent::WebhookFlaggedFailing(e) => Health { failing_since: Some(e.failing_since) },
            DomainEvent::WebhookRecovered(_) => Health { failing_since: None },
            DomainEvent::DeliveryCheckpoint(cp) => Health { failing_since: cp.failing_since },
            _ => self,
        }
    }

    /// How its deliveries are doing, whatever the webhook's own status: healthy or failing
    /// (an audit's health at a time).
    pub fn status(&self) -> HealthStatus {
        HealthStatus::new(false, self.failing_since.is_some())
    }

    /// Since when the webhook counts as failing for auto-disable: since it was flagged, or
    /// since the owner last enabled it again (`enabled_at`), whichever is later.
    pub fn failing_clock(&self, enabled_at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        let since = self.failing_since?;
        Some(enabled_at.map_or(since, |enabled| since.max(enabled)))
    }
}

/// What a webhook's delivery resumes from.
#[derive(Clone, Debug, Default)]
pub struct DeliveryState {
    pub health: Health,
    /// Every routed event up to here is finished or in `pending`.
    pub resume_position: Option<Position>,
    /// Deliveries owed an attempt, with the attempt number and when it is due.
    pub pending: BTreeMap<DeliveryId, PendingRetry>,
    /// Source positions after `resume_position` whose first attempt is already recorded.
    pub attempted_after: HashSet<Position>,
    /// Events written since the latest checkpoint (the next one is due after N).
    pub since_checkpoint: u32,
}

/// What to do with a routed event met again in a replay (see [`DeliveryState::replayed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replayed {
    /// Not handled yet: it is owed a first attempt.
    Owed,
    /// Handled before: skip it. `advance`: its attempt was recorded after the resume
    /// position, so the resume position may move up to it now.
    Skip { advance: bool },
}

impl DeliveryState {
    /// Folds one event of the stream.
    pub fn evolve(mut self, event: &DomainEvent) -> Self {
        self.since_checkpoint += 1;
        self.health = self.health.evolve(event);
        match event {
            DomainEvent::DeliveryCheckpoint(cp) => self.restart_from(cp),
            DomainEvent::DeliveryAttempted(e) => {
                self.handled(&e.delivery_id, &e.source);
                match e.next_attempt_at {
                    Some(due_at) => {
                        let retry = PendingRetry {
                            delivery_id: e.delivery_id,
                            source: e.source.clone(),
                            attempt: e.attempt + 1,
                            due_at,
                        };
                        self.pending.insert(e.delivery_id, retry);
                    }
                    None => {
                        self.pending.remove(&e.delivery_id);
                    }
                }
            }
            DomainEvent::DeliveryAbandoned(e) => {
                // Abandoned without an attempt (the webhook was off): handled all the same,
                // so a replay must not route it again.
                self.handled(&e.delivery_id, &e.source);
                self.pending.remove(&e.delivery_id);
            }
            _ => {}
        }
        self
    }

    /// Remembers that the event a delivery came from was handled, unless the delivery was
    /// already owed (then its position is before the resume point or remembered already).
    fn handled(&mut self, delivery: &DeliveryId, source: &DeliverySource) {
        if self.pending.contains_key(delivery) {
            return;
        }
        if self.resume_position.is_none_or(|r| source.position > r) {
            self.attempted_after.insert(source.position);
        }
    }

    fn restart_from(&mut self, cp: &DeliveryCheckpoint) {
        self.resume_position = cp.resume_position;
        self.pending = cp.pending.iter().map(|p| (p.delivery_id, p.clone())).collect();
        self.attempted_after.clear();
        self.since_checkpoint = 0;
    }

    /// Whether the event at `position` was already handled and must not be delivered again.
    pub fn already_handled(&self, position: Position) -> bool {
        self.resume_position.is_some_and(|r| position <= r) || self.attempted_after.contains(&position)
    }

    /// A routed event at `position` is taken on: owed a first attempt, or skipped because
    /// it was handled before (each remembered position is skipped once).
    pub fn replayed(&mut self, position: Position) -> Replayed {
        if !self.already_handled(position) {
            return Replayed::Owed;
        }
        Replayed::Skip { advance: self.attempted_after.remove(&position) }
    }

    /// Whether a checkpoint may be written now: only once a replay has passed every position
    /// the last load said to skip (else it would forget them).
    pub fn may_checkpoint(&self) -> bool {
        self.attempted_after.is_empty()
    }
}
