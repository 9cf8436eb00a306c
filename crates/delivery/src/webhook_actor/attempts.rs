//! Attempts: started while the in-flight limit allows, and what follows each, as the
//! domain's delivery rules decide (`record_attempt`): done, a retry on the injected clock,
//! or abandoned; a webhook that is off gives up what it owes (`give_up`).

use actix::prelude::*;
use chrono::{DateTime, Utc};
use packhooks_domain::delivery::{give_up, record_attempt, AttemptOutcome, Owing, RecordAttempt};
use packhooks_domain::DeliveryId;
use packhooks_store::backoff::Backoff;
use tracing::Instrument as _;

use super::WebhookActor;
use crate::message::{load_body, Body};
use crate::outcome::{self, Attempted, IdText};
use crate::sender::AttemptReport;
use crate::spans;
use crate::DeliveryError;

impl WebhookActor {
    /// Makes a delivery ready once the injected clock reaches `due_at`.
    pub(super) fn schedule(&mut self, id: DeliveryId, due_at: DateTime<Utc>, ctx: &mut Context<Self>) {
        if due_at > self.clock.now() {
            self.at(due_at, ctx, move |act, ctx| {
                act.ready.push_back(id);
                act.pump(ctx);
            });
        } else {
            self.ready.push_back(id);
        }
    }

    /// A delivery whose owed attempt was `attempt` is attempted or given up: when that was
    /// its first, it leaves the window.
    fn first_attempt_done(&mut self, attempt: u32) {
        if attempt == 1 {
            debug_assert!(self.first_attempts_owed > 0, "the window count went below zero");
            // Saturating: a miscount must never make the window look full for ever.
            self.first_attempts_owed = self.first_attempts_owed.saturating_sub(1);
        }
    }

    /// Starts attempts while the in-flight limit allows and the outcome buffer has room.
    pub(super) fn pump(&mut self, ctx: &mut Context<Self>) {
        self.accept();
        while !self.shutdown.stopping && self.in_flight < self.config.in_flight_per_webhook {
            // The outcomes of attempts must be appended before more are made: while an
            // append is retried (the store is out), attempts stop here instead of piling
            // their outcomes up without end. The append's success pumps again.
            if self.outbox.full(&self.config) {
                self.outbox.throttled = true;
                break;
            }
            // Abandoning (an inactive webhook) frees the window without an attempt in flight
            // to call `pump` again, so the backlog is taken on here until it is empty.
            if self.ready.is_empty() {
                self.accept();
            }
            let Some(id) = self.ready.pop_front() else { break };
            let Some(owed) = self.owed.get_mut(&id) else { continue };
            if owed.sending {
                continue;
            }
            let target = match (self.webhook.switch.due(self.webhook.target.is_some()), &self.webhook.target) {
                (Owing::Wait, _) => {
                    self.ready.push_front(id);
                    break;
                }
                (Owing::Attempt, Some(target)) => target.clone(),
                _ => {
                    self.abandon(id);
                    continue;
                }
            };
            owed.sending = true;
            let span = spans::delivery(self.id_text.as_str(), id, &owed.source, owed.attempt);
            if let Some(committed_at) = owed.committed_at.take() {
                self.config.metrics.first_attempt_started(self.clock.now() - committed_at);
            }
            self.in_flight += 1;
            let (sender, store, clock) = (self.sender.clone(), self.store.clone(), self.clock.clone());
            let (body, source) = (owed.body.clone(), owed.source.clone());
            let attempt = async move {
                let body = match body {
                    Some(body) => body,
                    None => load_body(&*store, &source).await?,
                };
                let report =
                    sender.send(&target, &source.message_id, body.for_format(target.format), clock.now()).await;
                Ok::<_, DeliveryError>((body, report))
            };
            ctx.spawn(attempt.instrument(span.clone()).into_actor(self).map(move |result, act, ctx| {
                let _attempt = span.enter();
                act.finished(id, result, ctx);
            }));
        }
        self.maybe_refill(ctx);
        self.flush(ctx);
        // Every change to what is owed ends here (a routed event, an attempt's outcome, a
        // retry falling due, a give-up).
        let backlog = self.intake.backlog.len() + self.first_attempts_owed;
        self.owed_gauges.publish(backlog, self.owed.len().saturating_sub(self.first_attempts_owed));
        self.maybe_stop(ctx);
    }

    /// Records an attempt's outcome and what the rules say follows: done, a retry, or
    /// abandoned, and the webhook's health.
    fn finished(
        &mut self,
        id: DeliveryId,
        result: Result<(Body, AttemptReport), DeliveryError>,
        ctx: &mut Context<Self>,
    ) {
        self.in_flight -= 1;
        if let Some(owed) = self.owed.get_mut(&id) {
            owed.sending = false;
        }
        let (body, report) = match result {
            Ok(done) => done,
            Err(error) if error.is_transient() => {
                // Nothing was sent: the same attempt is due again once the store answers.
                tracing::warn!(webhook = %self.id, delivery = %id, error = &error as &dyn std::error::Error, "cannot read a delivery's body from the store yet; trying again");
                ctx.run_later(Backoff::BODY_READ.first_wait(), move |act, ctx| {
                    act.ready.push_back(id);
                    act.pump(ctx);
                });
                self.pump(ctx);
                return;
            }
            Err(error) => {
                tracing::error!(webhook = %self.id, delivery = %id, error = &error as &dyn std::error::Error, "cannot rebuild a delivery's body; abandoning it");
                self.abandon(id);
                self.pump(ctx);
                return;
            }
        };
        let now = self.clock.now();
        let Some(owed) = self.owed.get_mut(&id) else {
            self.pump(ctx);
            return;
        };
        owed.body = Some(body);
        let (attempt, source) = (owed.attempt, owed.source.clone());
        self.first_attempt_done(attempt);
        let made = RecordAttempt {
            webhook_id: self.id,
            delivery_id: id,
            source: &source,
            attempt,
            outcome: &report.outcome,
            retry_after: report.retry_after,
            jitter: rand::random::<f64>(),
            now,
        };
        let decided = record_attempt(&self.state.health, &made, self.webhook.now(), &self.rules());
        let cause = match &report.outcome {
            AttemptOutcome::Failure { code, status, .. } => Some((code.as_str(), *status)),
            AttemptOutcome::Success { .. } => None,
        };
        let latency_ms = report.latency.as_millis() as u64;
        tracing::debug!(success = cause.is_none(), error_code = cause.map(|c| c.0), status_code = report.outcome.status(), latency_ms, next_attempt_at = ?decided.next_attempt_at, "attempted");
        self.config.metrics.attempted(&report.outcome, report.latency);
        let delivery_text = IdText::delivery(id);
        let attempted = Attempted {
            webhook_id: self.id_text.as_str(),
            delivery_id: delivery_text.as_str(),
            source: &source,
            attempt,
            outcome: &report.outcome,
            latency_ms,
            response_body: report.response_body.as_deref(),
            next_attempt_at: decided.next_attempt_at,
            recorded_at: now,
        };
        self.outbox.buffer.push(outcome::attempted(&attempted, &delivery_text));
        match decided.next_attempt_at {
            Some(due_at) => {
                let owed = self.owed.get_mut(&id).expect("still owed");
                owed.attempt += 1;
                owed.due_at = due_at;
                self.schedule(id, due_at, ctx);
            }
            None => {
                self.owed.remove(&id);
            }
        }
        for event in decided.then {
            self.follow(event, &source, &delivery_text, cause, ctx);
        }
        if let Some(reason) = decided.disable {
            self.disable(reason, ctx);
        }
        self.pump(ctx);
    }

    /// Gives a delivery up without an attempt: the webhook is disabled, deleted, or off plan.
    pub(super) fn abandon(&mut self, id: DeliveryId) {
        let Some(owed) = self.owed.remove(&id) else { return };
        self.first_attempt_done(owed.attempt);
        self.config.metrics.abandoned();
        let event = give_up(self.id, id, &owed.source, owed.attempt, self.clock.now());
        let _delivery = spans::delivery(self.id_text.as_str(), id, &owed.source, owed.attempt).entered();
        tracing::info!(webhook = %self.id, account = self.webhook.account(), delivery = %id, attempts = owed.attempt - 1, "delivery abandoned: the webhook is off");
        self.push(&event, &owed.source, &IdText::delivery(id));
    }

    /// The webhook is off: gives up now, not when due, everything owed that is not in flight,
    /// and takes the backlog in, where what was routed before the switch's `off_at` is given
    /// up too.
    pub(super) fn give_up_owed(&mut self) {
        let owed: Vec<DeliveryId> = self.owed.iter().filter(|(_, o)| !o.sending).map(|(id, _)| *id).collect();
        for id in owed {
            self.abandon(id);
        }
        self.accept();
    }
}
