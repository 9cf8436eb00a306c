//! Rebuilding a webhook actor's state from its `deliveries-` stream.
//!
//! The stream is read backwards to its latest `DeliveryCheckpoint`, then folded forwards
//! from there (DESIGN.md, "Delivery guarantees"). A checkpoint lists every delivery that was
//! still owed an attempt when it was written (queued, in flight or waiting for a retry), so
//! its `resume_position` can be the last routed event the actor had taken on: everything up
//! to it is either finished or listed. (An actor takes on a bounded window of routed events;
//! the ones waiting behind it are after the resume position and are simply routed again.) Events after the checkpoint add what was attempted
//! since, so that a replay of the log from the resume position skips those.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use packhooks_domain::delivery::{DeliveryCheckpoint, DeliverySource, PendingRetry};
use packhooks_domain::{DeliveryId, DomainEvent, WebhookId};
use packhooks_store::{Direction, EventStore, Position, StoreError, StreamPosition};

use crate::DeliveryError;

/// Events read per backwards page while looking for the latest checkpoint.
const PAGE: usize = 256;

/// What a webhook actor resumes from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResumeState {
    /// The revision of the stream's last event; `None` when the stream does not exist. The
    /// next append expects exactly this.
    pub last_revision: Option<u64>,
    /// Every routed event up to here is finished or in `pending`.
    pub resume_position: Option<Position>,
    /// Deliveries owed an attempt, with the attempt number and when it is due.
    pub pending: BTreeMap<DeliveryId, PendingRetry>,
    /// Source positions after `resume_position` whose first attempt is already recorded.
    pub attempted_after: HashSet<Position>,
    /// `Some` while the webhook is failing.
    pub failing_since: Option<DateTime<Utc>>,
    /// Events written since the latest checkpoint (the next one is due after N).
    pub since_checkpoint: u32,
}

impl ResumeState {
    /// Reads the stream from its latest checkpoint on and folds it.
    pub async fn load(store: &dyn EventStore, webhook: WebhookId) -> Result<Self, DeliveryError> {
        let stream = deliveries_stream(webhook);
        let mut tail = Vec::new();
        let mut from = StreamPosition::End;
        loop {
            let page = match store.read_stream(&stream, from, Direction::Backwards, PAGE).await {
                Ok(page) => page,
                Err(StoreError::StreamNotFound(_)) => break,
                Err(e) => return Err(e.into()),
            };
            let len = page.len();
            let mut found = false;
            for recorded in page {
                let event = DomainEvent::decode(&recorded.event_type, &recorded.data).map_err(|source| {
                    DeliveryError::Decode { stream: stream.clone(), revision: recorded.revision, source }
                })?;
                found = matches!(event, DomainEvent::DeliveryCheckpoint(_));
                let revision = recorded.revision;
                tail.push((revision, event));
                if found {
                    break;
                }
            }
            match tail.last() {
                Some((revision, _)) if !found && len == PAGE && *revision > 0 => {
                    from = StreamPosition::Revision(revision - 1)
                }
                _ => break,
            }
        }
        let mut state = ResumeState::default();
        for (revision, event) in tail.iter().rev() {
            state.apply(*revision, event);
        }
        Ok(state)
    }

    /// Folds one event of the stream.
    pub fn apply(&mut self, revision: u64, event: &DomainEvent) {
        self.last_revision = Some(revision);
        self.since_checkpoint += 1;
        match event {
            DomainEvent::DeliveryCheckpoint(cp) => self.restart_from(cp),
            DomainEvent::DeliveryAttempted(e) => {
                self.handled(&e.delivery_id, &e.source);
                match e.next_attempt_at {
                    Some(due_at) => {
                        self.pending.insert(
                            e.delivery_id,
                            PendingRetry {
                                delivery_id: e.delivery_id,
                                source: e.source.clone(),
                                attempt: e.attempt + 1,
                                due_at,
                            },
                        );
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
            DomainEvent::WebhookFlaggedFailing(e) => self.failing_since = Some(e.failing_since),
            DomainEvent::WebhookRecovered(_) => self.failing_since = None,
            _ => {}
        }
    }

    /// Remembers that the event a delivery came from was handled, unless the delivery was
    /// already owed (then its position is before the resume point or remembered already).
    fn handled(&mut self, delivery: &DeliveryId, source: &DeliverySource) {
        if self.pending.contains_key(delivery) {
            return;
        }
        if let Ok(position) = source.position.parse::<Position>() {
            if self.resume_position.is_none_or(|r| position > r) {
                self.attempted_after.insert(position);
            }
        }
    }

    fn restart_from(&mut self, cp: &DeliveryCheckpoint) {
        self.resume_position = cp.resume_position.as_deref().and_then(|p| p.parse().ok());
        self.pending = cp.pending.iter().map(|p| (p.delivery_id, p.clone())).collect();
        self.attempted_after.clear();
        self.failing_since = cp.failing_since;
        self.since_checkpoint = 0;
    }

    /// Whether the event at `position` was already handled and must not be delivered again.
    pub fn already_handled(&self, position: Position) -> bool {
        self.resume_position.is_some_and(|r| position <= r) || self.attempted_after.contains(&position)
    }
}

pub fn deliveries_stream(webhook: WebhookId) -> String {
    format!("{}{webhook}", packhooks_domain::streams::DELIVERIES)
}

#[cfg(test)]
mod tests {
    use packhooks_domain::delivery::{AttemptOutcome, DeliveryAttempted, DeliverySource};
    use uuid::Uuid;

    use super::*;

    fn source(position: u64) -> DeliverySource {
        DeliverySource {
            stream: "pack-p".into(),
            revision: position,
            position: position.to_string(),
            message_id: format!("msg_{position}"),
            test: false,
        }
    }

    fn attempted(n: u64, attempt: u32, next: Option<DateTime<Utc>>) -> DomainEvent {
        DomainEvent::DeliveryAttempted(DeliveryAttempted {
            webhook_id: WebhookId::from_uuid(Uuid::nil()),
            delivery_id: DeliveryId::from_uuid(Uuid::from_u128(n as u128)),
            source: source(n),
            attempt,
            outcome: if next.is_some() {
                AttemptOutcome::Failure {
                    code: packhooks_domain::delivery::FailureCode::Status,
                    status: Some(500),
                    detail: String::new(),
                }
            } else {
                AttemptOutcome::Success { status: 200 }
            },
            latency_ms: 1,
            response_body: None,
            next_attempt_at: next,
            recorded_at: Utc::now(),
        })
    }

    #[test]
    fn a_checkpoint_resets_and_later_attempts_are_remembered() {
        let now = Utc::now();
        let mut state = ResumeState::default();
        state.apply(0, &attempted(5, 1, Some(now)));
        assert_eq!(state.pending.len(), 1);
        state.apply(
            1,
            &DomainEvent::DeliveryCheckpoint(DeliveryCheckpoint {
                webhook_id: WebhookId::from_uuid(Uuid::nil()),
                resume_position: Some("7".into()),
                pending: state.pending.values().cloned().collect(),
                failing_since: None,
                recorded_at: now,
            }),
        );
        assert_eq!(state.resume_position, Some(Position::at(7)));
        assert!(state.already_handled(Position::at(6)));
        state.apply(2, &attempted(9, 1, None));
        state.apply(3, &attempted(5, 2, None));
        assert!(state.pending.is_empty(), "the retry finished the pending delivery");
        assert!(state.already_handled(Position::at(9)));
        assert!(!state.already_handled(Position::at(8)));
        assert_eq!(state.last_revision, Some(3));
        assert_eq!(state.since_checkpoint, 2);
    }
}
