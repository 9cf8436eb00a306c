//! `WebhookActor`: one per webhook. It owns that webhook's queue, in-flight limit, retries
//! and their timers, health (failing, recovered, auto-disable) and its `deliveries-` stream,
//! which only it writes, with the exact expected revision.
//!
//! Where a retry gets scheduled: [`WebhookActor::finished`] asks the pure
//! `RetryPolicy::next_attempt_at` (jitter drawn here, outside it) and arms a `run_later`
//! timer for the due time read from the injected clock.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use packhooks_domain::clock::Clock;
use packhooks_domain::delivery::{
    AttemptOutcome, DeliveryAbandoned, DeliveryCheckpoint, DeliverySource, PendingRetry, WebhookFlaggedFailing,
    WebhookRecovered,
};
use packhooks_domain::webhook::{decide, fold, DisableWebhook, DisabledBy, WebhookContext};
use packhooks_domain::{DeliveryId, DomainEvent, EventMetadata, WebhookId};
use packhooks_store::{Direction, EventData, EventStore, ExpectedRevision, Position, StoreError, StreamPosition};
use tokio::sync::oneshot;

use crate::message::{load_body, Outgoing};
use crate::outcome::{self, Attempted, IdText};
use crate::refill::{Cursor, Page, Refill};
use crate::resume::{deliveries_stream, ResumeState};
use crate::sender::{AttemptReport, Sender, Target};
use crate::{DeliveryConfig, DeliveryError, DeliveryMetrics};

/// How long a failed append waits before it is tried again.
const APPEND_RETRY: Duration = Duration::from_millis(200);

/// One append of outcome events to the webhook's `deliveries-` stream.
struct Batch {
    events: Vec<EventData>,
    /// Whether the last event is a `DeliveryCheckpoint`.
    checkpoint: bool,
    /// The resume position that checkpoint records.
    resume: Option<Position>,
}

/// How long a failed read of the store (the actor's stream at start, a delivery's body)
/// waits before it is tried again, the first time; it doubles up to `READ_RETRY_MAX`.
const READ_RETRY: Duration = Duration::from_millis(100);
const READ_RETRY_MAX: Duration = Duration::from_secs(30);

/// Reads of the actor's stream at start before it gives up (about 3 s of waiting).
const LOAD_TRIES: u32 = 6;

/// Deliveries owed a first attempt that an actor takes on at once, as a multiple of its
/// in-flight limit. The rest wait in the backlog, outside the checkpoint: a checkpoint lists
/// what is owed, so without this bound a webhook that lags behind the log would write a
/// checkpoint as long as its lag, every `checkpoint_every` events.
const WINDOW_PER_IN_FLIGHT: usize = 4;

/// A routed event for this webhook, in log order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Arc<Outgoing>);

/// The webhook's latest target and whether deliveries may go to it (enabled, not deleted,
/// account on a webhook plan).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retarget {
    pub target: Option<Arc<Target>>,
    pub active: bool,
    /// When the owner last enabled the webhook again: the auto-disable clock of a webhook
    /// that was failing starts over then.
    pub enabled_at: Option<DateTime<Utc>>,
    /// The position of the lifecycle event this follows (`None`: the state at start).
    pub at: Option<Position>,
}

impl Retarget {
    pub fn inactive() -> Self {
        Retarget { target: None, active: false, enabled_at: None, at: None }
    }
}

/// Answers the position up to which this actor has handled the log (after its state is
/// loaded; messages wait for that).
#[derive(Message)]
#[rtype(result = "Option<Position>")]
pub struct ResumePoint;

/// The dispatcher has routed every event up to this position (to this actor or not), so an
/// idle actor can move its resume point there and record it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Progress(pub Position);

/// Finish what is in flight, append what is buffered, then stop.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// The webhook is deleted and routing has passed its deletion (at this position): give up
/// everything owed (recorded as abandoned), write a last checkpoint, then stop for good.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire(pub Position);

/// Routed events were dropped because the backlog was full (see `refill`).
struct Overflow {
    /// Where reading them back starts: nothing from here on is in the backlog.
    from: Cursor,
    /// The last dropped position: reading back is done once it has passed this.
    dropped_max: Position,
    /// The routing state of the last page, to go on from.
    refill: Option<Refill>,
    reading: bool,
}

/// A delivery owed an attempt.
struct Owed {
    source: Arc<DeliverySource>,
    /// `None` for a delivery restored from a checkpoint until its first attempt reads it.
    body: Option<Bytes>,
    /// The number of the attempt that is due.
    attempt: u32,
    due_at: DateTime<Utc>,
    /// An attempt is in flight.
    sending: bool,
}

pub struct WebhookActor {
    id: WebhookId,
    /// `id` as text, written into every outcome event.
    id_text: IdText,
    stream: String,
    store: Arc<dyn EventStore>,
    config: Arc<DeliveryConfig>,
    clock: Arc<dyn Clock>,
    sender: Rc<Sender>,
    target: Option<Arc<Target>>,
    /// `None` until the dispatcher has said (a restored retry waits for that).
    active: Option<bool>,
    /// When the owner last enabled the webhook again (see [`Retarget::enabled_at`]).
    enabled_at: Option<DateTime<Utc>>,
    /// Revision, checkpoint counter, failing state and what a replay must skip.
    state: ResumeState,
    /// The last routed event received: the next checkpoint's resume position.
    last_received: Option<Position>,
    /// Routed events received but not yet taken on (the window is full), in log order.
    /// They are not in `last_received`, so a restart routes them again.
    backlog: VecDeque<Arc<Outgoing>>,
    /// Set while routed events are dropped because the backlog was full.
    overflow: Option<Overflow>,
    /// How long a failed read-back waits before the next try (doubles up to a bound).
    refill_wait: Duration,
    /// Where the webhook was last turned off (disabled, deleted, off plan): routed events
    /// before it that are still to be taken on (read back from the log after an overflow)
    /// are given up, as the backlog was at that moment, even if it is on again by then.
    off_at: Option<Position>,
    owed: HashMap<DeliveryId, Owed>,
    /// How many of `owed` still wait for their first attempt's outcome (the window's fill).
    first_attempts_owed: usize,
    ready: VecDeque<DeliveryId>,
    in_flight: usize,
    /// Outcome events waiting for the next append; while one append runs, the next batch
    /// collects here, so appends batch themselves under load.
    buffer: Vec<EventData>,
    appending: bool,
    /// A checkpoint should be written even with no outcome to append (an idle actor moved on).
    checkpoint_due: bool,
    disabling: bool,
    stop_waiters: Vec<oneshot::Sender<()>>,
    stopping: bool,
    /// Retiring (see [`Retire`]), with the deletion's position: once nothing is in flight,
    /// the last checkpoint goes out.
    retiring: Option<Position>,
}

impl WebhookActor {
    pub fn new(
        id: WebhookId,
        store: Arc<dyn EventStore>,
        config: Arc<DeliveryConfig>,
        clock: Arc<dyn Clock>,
        route: Option<Retarget>,
    ) -> Self {
        let sender = Rc::new(Sender::new(
            config.url_policy(),
            config.attempt_timeout,
            config.in_flight_per_webhook,
            config.user_agent.clone(),
        ));
        WebhookActor {
            id,
            id_text: IdText::webhook(id),
            stream: deliveries_stream(id),
            store,
            config,
            clock,
            sender,
            target: route.as_ref().and_then(|r| r.target.clone()),
            enabled_at: route.as_ref().and_then(|r| r.enabled_at),
            active: route.map(|r| r.active),
            state: ResumeState::default(),
            last_received: None,
            backlog: VecDeque::new(),
            overflow: None,
            refill_wait: READ_RETRY,
            off_at: None,
            owed: HashMap::new(),
            first_attempts_owed: 0,
            ready: VecDeque::new(),
            in_flight: 0,
            buffer: Vec::new(),
            appending: false,
            checkpoint_due: false,
            disabling: false,
            stop_waiters: Vec::new(),
            stopping: false,
            retiring: None,
        }
    }

    fn restored(&mut self, state: ResumeState, ctx: &mut Context<Self>) {
        self.last_received = state.resume_position;
        for pending in state.pending.values() {
            self.first_attempts_owed += usize::from(pending.attempt == 1);
            self.owed.insert(
                pending.delivery_id,
                Owed {
                    source: Arc::new(pending.source.clone()),
                    body: None,
                    attempt: pending.attempt,
                    due_at: pending.due_at,
                    sending: false,
                },
            );
            self.schedule(pending.delivery_id, pending.due_at, ctx);
        }
        self.state = state;
        self.arm_auto_disable(ctx);
        self.pump(ctx);
    }

    fn schedule(&mut self, id: DeliveryId, due_at: DateTime<Utc>, ctx: &mut Context<Self>) {
        match (due_at - self.clock.now()).to_std() {
            Ok(wait) if !wait.is_zero() => {
                ctx.run_later(wait, move |act, ctx| {
                    act.ready.push_back(id);
                    act.pump(ctx);
                });
            }
            _ => self.ready.push_back(id),
        }
    }

    /// Takes routed events from the backlog, in log order, while the window has room.
    fn accept(&mut self) {
        let window = WINDOW_PER_IN_FLIGHT * self.config.in_flight_per_webhook.max(1);
        while !self.stopping && self.first_attempts_owed < window {
            let Some(outgoing) = self.backlog.pop_front() else { break };
            let position = outgoing.position();
            if self.state.already_handled(position) {
                if self.state.attempted_after.remove(&position) {
                    self.last_received = Some(position);
                }
                continue;
            }
            self.last_received = Some(position);
            let id = DeliveryId::for_message(self.id, outgoing.message);
            if self.owed.contains_key(&id) {
                continue;
            }
            let owed = Owed {
                source: outgoing.source.clone(),
                body: Some(outgoing.body.clone()),
                attempt: 1,
                due_at: self.clock.now(),
                sending: false,
            };
            self.owed.insert(id, owed);
            self.first_attempts_owed += 1;
            if self.off_at.is_some_and(|off| position < off) {
                self.abandon(id);
                continue;
            }
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

    /// Starts attempts while the in-flight limit allows.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        self.accept();
        while !self.stopping && self.in_flight < self.config.in_flight_per_webhook {
            // Abandoning (an inactive webhook) frees the window without an attempt in flight
            // to call `pump` again, so the backlog is taken on here until it is empty.
            if self.ready.is_empty() {
                self.accept();
            }
            let Some(id) = self.ready.pop_front() else { break };
            let Some(owed) = self.owed.get(&id) else { continue };
            if owed.sending {
                continue;
            }
            let target = match (&self.target, self.active) {
                (_, None) => {
                    self.ready.push_front(id);
                    break;
                }
                (Some(target), Some(true)) => target.clone(),
                _ => {
                    self.abandon(id);
                    continue;
                }
            };
            self.in_flight += 1;
            let (sender, store, clock) = (self.sender.clone(), self.store.clone(), self.clock.clone());
            let (body, source) = (owed.body.clone(), owed.source.clone());
            if let Some(owed) = self.owed.get_mut(&id) {
                owed.sending = true;
            }
            let attempt = async move {
                let body = match body {
                    Some(body) => body,
                    None => load_body(&*store, &source).await?,
                };
                let report = sender.send(&target, &source.message_id, body.clone(), clock.now()).await;
                Ok::<_, DeliveryError>((body, report))
            };
            ctx.spawn(attempt.into_actor(self).map(move |result, act, ctx| act.finished(id, result, ctx)));
        }
        self.maybe_refill(ctx);
        self.flush(ctx);
        self.maybe_stop(ctx);
    }

    /// A routed event: into the backlog, or dropped (to be read back) while it is full.
    fn routed(&mut self, outgoing: Arc<Outgoing>) {
        let position = outgoing.position();
        if let Some(overflow) = &mut self.overflow {
            overflow.dropped_max = overflow.dropped_max.max(position);
            return;
        }
        if self.backlog.len() >= self.config.backlog_cap.max(1) {
            DeliveryMetrics::bump(&self.config.metrics.backlog_overflows);
            tracing::info!(webhook = %self.id, backlog = self.backlog.len(), "webhook lags behind; reading what is routed to it back from the log later");
            self.overflow =
                Some(Overflow { from: Cursor::From(position), dropped_max: position, refill: None, reading: false });
            return;
        }
        self.backlog.push_back(outgoing);
    }

    /// Once the backlog has drained, reads the next page of dropped events back.
    fn maybe_refill(&mut self, ctx: &mut Context<Self>) {
        let Some(overflow) = &mut self.overflow else { return };
        if overflow.reading || !self.backlog.is_empty() || self.stopping {
            return;
        }
        overflow.reading = true;
        let (store, id, from, max) = (self.store.clone(), self.id, overflow.from, self.config.backlog_cap.max(1));
        let until = overflow.dropped_max;
        let refill = overflow.refill.take();
        let work = async move {
            let mut refill = match refill {
                Some(refill) => refill,
                None => Refill::start(&*store, id, from).await?,
            };
            let page = refill.page(&*store, max, until).await?;
            Ok::<_, DeliveryError>((refill, page))
        };
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| act.refilled(result, until, ctx)));
    }

    fn refilled(&mut self, result: Result<(Refill, Page), DeliveryError>, until: Position, ctx: &mut Context<Self>) {
        let Some(overflow) = &mut self.overflow else { return };
        overflow.reading = false;
        match result {
            Ok((refill, page)) => {
                self.backlog.extend(page.events);
                if page.reached && until >= overflow.dropped_max {
                    // Everything dropped is read back. The scan went no further than the
                    // last event the dispatcher sent here, so what it sends from now on is new.
                    self.overflow = None;
                } else {
                    overflow.from = page.next;
                    overflow.refill = Some(refill);
                }
                self.refill_wait = READ_RETRY;
            }
            Err(error) => {
                // Only store errors reach here (undecodable events are skipped): try again,
                // waiting longer each time.
                let wait = self.refill_wait;
                self.refill_wait = (wait * 2).min(READ_RETRY_MAX);
                tracing::warn!(webhook = %self.id, error = &error as &dyn std::error::Error, retry_in_ms = wait.as_millis() as u64, "cannot read routed events back from the log yet; trying again");
                ctx.run_later(wait, |act, ctx| act.pump(ctx));
                return;
            }
        }
        self.pump(ctx);
    }

    /// Records an attempt's outcome and decides what follows: done, a retry, or abandoned.
    fn finished(
        &mut self,
        id: DeliveryId,
        result: Result<(Bytes, AttemptReport), DeliveryError>,
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
                ctx.run_later(READ_RETRY, move |act, ctx| {
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
        let test = source.test;
        let gone = report.outcome.status() == Some(410) && self.config.disable_on_gone && !test;
        let next_attempt_at = match &report.outcome {
            AttemptOutcome::Failure { .. } if !test && !gone => {
                self.config.retry.next_attempt_at(attempt, now, rand::random::<f64>(), report.retry_after)
            }
            _ => None,
        };
        let success = report.outcome.is_success();
        let metrics = &self.config.metrics;
        DeliveryMetrics::bump(if success { &metrics.attempts_succeeded } else { &metrics.attempts_failed });
        let delivery_text = IdText::delivery(id);
        let attempted = Attempted {
            webhook_id: self.id_text.as_str(),
            delivery_id: delivery_text.as_str(),
            source: &source,
            attempt,
            outcome: &report.outcome,
            latency_ms: report.latency.as_millis() as u64,
            response_body: report.response_body.as_deref(),
            next_attempt_at,
            recorded_at: now,
        };
        self.buffer.push(outcome::attempted(&attempted, &delivery_text));
        match next_attempt_at {
            Some(due_at) => {
                let owed = self.owed.get_mut(&id).expect("still owed");
                owed.attempt += 1;
                owed.due_at = due_at;
                self.schedule(id, due_at, ctx);
            }
            None => {
                self.owed.remove(&id);
                if success {
                    if !test && self.state.failing_since.take().is_some() {
                        let recovered = WebhookRecovered { webhook_id: self.id, delivery_id: id, recorded_at: now };
                        self.push(id, &source, recovered.into());
                    }
                } else if !test {
                    DeliveryMetrics::bump(&self.config.metrics.deliveries_abandoned);
                    self.push(
                        id,
                        &source,
                        DeliveryAbandoned {
                            webhook_id: self.id,
                            delivery_id: id,
                            source: (*source).clone(),
                            attempts: attempt,
                            recorded_at: now,
                        }
                        .into(),
                    );
                    if self.state.failing_since.is_none() {
                        self.state.failing_since = Some(now);
                        let flagged = WebhookFlaggedFailing {
                            webhook_id: self.id,
                            delivery_id: id,
                            failing_since: now,
                            recorded_at: now,
                        };
                        self.push(id, &source, flagged.into());
                        self.arm_auto_disable(ctx);
                    }
                }
            }
        }
        if gone {
            self.disable("the endpoint answered 410 Gone".to_owned(), ctx);
        }
        // A test event never changes the webhook's health.
        if !test {
            self.check_auto_disable(ctx);
        }
        self.pump(ctx);
    }

    /// Gives a delivery up without an attempt: the webhook is disabled, deleted, or off plan.
    fn abandon(&mut self, id: DeliveryId) {
        let Some(owed) = self.owed.remove(&id) else { return };
        self.first_attempt_done(owed.attempt);
        DeliveryMetrics::bump(&self.config.metrics.deliveries_abandoned);
        let event = DeliveryAbandoned {
            webhook_id: self.id,
            delivery_id: id,
            source: (*owed.source).clone(),
            attempts: owed.attempt - 1,
            recorded_at: self.clock.now(),
        };
        self.push(id, &owed.source, event.into());
    }

    /// The webhook is off: gives up now, not when due, everything owed that is not in flight,
    /// and takes the backlog in, where what was routed before `off_at` is given up too.
    fn give_up_owed(&mut self) {
        let owed: Vec<DeliveryId> = self.owed.iter().filter(|(_, o)| !o.sending).map(|(id, _)| *id).collect();
        for id in owed {
            self.abandon(id);
        }
        self.accept();
    }

    fn push(&mut self, delivery: DeliveryId, source: &DeliverySource, event: DomainEvent) {
        self.buffer.push(outcome::other(&event, source, &IdText::delivery(delivery)));
    }

    fn checkpoint(&self) -> EventData {
        let event = DomainEvent::DeliveryCheckpoint(DeliveryCheckpoint {
            webhook_id: self.id,
            resume_position: self.last_received.map(|p| p.to_string()),
            pending: self
                .owed
                .iter()
                .map(|(id, o)| PendingRetry {
                    delivery_id: *id,
                    source: (*o.source).clone(),
                    attempt: o.attempt,
                    due_at: o.due_at,
                })
                .collect(),
            failing_since: self.state.failing_since,
            recorded_at: self.clock.now(),
        });
        outcome::with_metadata(&event, &EventMetadata::correlated(self.id))
    }

    /// Appends what is buffered, one append at a time, with the exact expected revision.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.appending || (self.buffer.is_empty() && !self.checkpoint_due) {
            return;
        }
        let take = self.buffer.len().min(self.config.batch_max.max(1));
        let mut batch: Vec<EventData> = self.buffer.drain(..take).collect();
        // A checkpoint describes the state after everything buffered, so it goes only at the
        // end of a batch that empties the buffer, and only once a replay has passed every
        // position the last load said to skip (else it would forget them).
        // A checkpoint lists every owed delivery, retries waiting on their timer included, so
        // with many owed it comes at most once per that many events: its cost per event stays
        // bounded, and a restart still reads no more events than the checkpoint saves it.
        let every = (self.config.checkpoint_every as usize).max(self.owed.len());
        let checkpoint = self.buffer.is_empty()
            && self.state.attempted_after.is_empty()
            && (self.checkpoint_due || self.state.since_checkpoint as usize + batch.len() + 1 >= every);
        if batch.is_empty() && !checkpoint {
            return;
        }
        let resume = self.last_received;
        if checkpoint {
            batch.push(self.checkpoint());
        }
        self.appending = true;
        self.append(Batch { events: batch, checkpoint, resume }, ctx);
    }

    /// Appends `batch` with the exact expected revision. An append that fails for now is
    /// sent again unchanged (same events, same ids, same expected revision) until it is
    /// answered: if the failed one did commit and only its answer was lost (an EventStoreDB
    /// timeout), the store then answers the repeat as already written. A batch rebuilt with
    /// more events would conflict with the committed one and stop this actor.
    fn append(&mut self, batch: Batch, ctx: &mut Context<Self>) {
        let expected = match self.state.last_revision {
            Some(revision) => ExpectedRevision::Exact(revision),
            None => ExpectedRevision::NoStream,
        };
        let (store, stream) = (self.store.clone(), self.stream.clone());
        let append = async move {
            let result = store.append(&stream, expected, batch.events.clone()).await;
            (batch, result)
        };
        ctx.spawn(append.into_actor(self).map(move |(batch, result), act, ctx| {
            match result {
                Ok(done) => {
                    act.appending = false;
                    act.state.last_revision = Some(done.next_expected_revision);
                    if batch.checkpoint {
                        act.state.since_checkpoint = 0;
                        act.state.resume_position = batch.resume;
                        act.checkpoint_due = false;
                    } else {
                        act.state.since_checkpoint += batch.events.len() as u32;
                    }
                    act.flush(ctx);
                }
                Err(StoreError::WrongExpectedVersion { expected, actual, .. }) => {
                    act.appending = false;
                    tracing::error!(
                        webhook = %act.id, %expected, %actual,
                        "another actor writes this webhook's deliveries stream; stopping this one"
                    );
                    DeliveryMetrics::bump(&act.config.metrics.actors_stopped_on_conflict);
                    act.stop_now(ctx);
                    return;
                }
                Err(error) => {
                    tracing::warn!(webhook = %act.id, error = &error as &dyn std::error::Error, "appending delivery outcomes failed; retrying");
                    // Still appending: nothing else is appended, and no stop happens, before
                    // this batch is answered.
                    ctx.run_later(APPEND_RETRY, move |act, ctx| act.append(batch, ctx));
                }
            }
            act.maybe_stop(ctx);
        }));
    }

    /// Since when the webhook counts as failing for auto-disable: since it was flagged
    /// failing, or since the owner last enabled it again, whichever is later.
    fn failing_clock(&self) -> Option<DateTime<Utc>> {
        let since = self.state.failing_since?;
        Some(self.enabled_at.map_or(since, |enabled| since.max(enabled)))
    }

    fn arm_auto_disable(&mut self, ctx: &mut Context<Self>) {
        if let Some(since) = self.failing_clock() {
            // Saturates: an auto-disable period past what a date can hold means never.
            let at = chrono::Duration::from_std(self.config.auto_disable_after)
                .ok()
                .and_then(|after| since.checked_add_signed(after))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            let wait = (at - self.clock.now()).to_std().unwrap_or(Duration::ZERO);
            ctx.run_later(wait, |act, ctx| act.check_auto_disable(ctx));
        }
    }

    fn check_auto_disable(&mut self, ctx: &mut Context<Self>) {
        let Some(since) = self.failing_clock() else { return };
        let failing_for = (self.clock.now() - since).to_std().unwrap_or(Duration::ZERO);
        if self.active == Some(true) && failing_for >= self.config.auto_disable_after {
            let reason = format!(
                "failing since {} with no successful delivery for {} s",
                since.to_rfc3339(),
                failing_for.as_secs()
            );
            self.disable(reason, ctx);
        }
    }

    /// Appends `WebhookDisabled {by: auto}` to `webhook-{id}`, decided by the domain on the
    /// stream's current state and appended with that state's revision.
    fn disable(&mut self, reason: String, ctx: &mut Context<Self>) {
        if self.disabling || self.active != Some(true) {
            return;
        }
        self.disabling = true;
        let (store, clock, id, policy) = (self.store.clone(), self.clock.clone(), self.id, self.config.url_policy());
        let work = async move {
            for _ in 0..5 {
                match disable_once(&*store, id, &reason, clock.now(), policy).await {
                    Err(DeliveryError::Store(StoreError::WrongExpectedVersion { .. })) => continue,
                    other => return other,
                }
            }
            Err(DeliveryError::Timeout("the webhook stream kept changing"))
        };
        ctx.spawn(work.into_actor(self).map(|result, act, ctx| {
            act.disabling = false;
            match result {
                Ok(()) => {
                    tracing::warn!(webhook = %act.id, "webhook disabled automatically");
                    act.active = Some(false);
                    act.pump(ctx);
                }
                Err(error) => {
                    tracing::error!(webhook = %act.id, error = &error as &dyn std::error::Error, "could not disable the webhook")
                }
            }
        }));
    }

    fn maybe_stop(&mut self, ctx: &mut Context<Self>) {
        if let Some(deleted_at) = self.retiring.filter(|_| {
            !self.stopping
                && self.in_flight == 0
                && !self.appending
                && self.buffer.is_empty()
                && self.backlog.is_empty()
                && self.overflow.is_none()
        }) {
            // Everything owed was given up and recorded, and nothing after the deletion
            // routes here: a last checkpoint there, so a restart has nothing to replay for
            // this webhook, then the stop below.
            // A retry scheduled by an attempt that was in flight at the deletion, or a body
            // read waiting to be tried again: given up too, before the last checkpoint.
            self.give_up_owed();
            self.stopping = true;
            self.last_received = self.last_received.max(Some(deleted_at));
            if self.state.resume_position != self.last_received {
                self.checkpoint_due = true;
                self.flush(ctx);
            }
        }
        if self.stopping && self.in_flight == 0 && !self.appending && self.buffer.is_empty() {
            self.stop_now(ctx);
        }
    }

    fn stop_now(&mut self, ctx: &mut Context<Self>) {
        for waiter in self.stop_waiters.drain(..) {
            let _ = waiter.send(());
        }
        ctx.stop();
    }
}

async fn disable_once(
    store: &dyn EventStore,
    id: WebhookId,
    reason: &str,
    now: DateTime<Utc>,
    url_policy: packhooks_domain::webhook::UrlPolicy,
) -> Result<(), DeliveryError> {
    let stream = id.stream();
    let recorded = store.read_stream(&stream, StreamPosition::Start, Direction::Forwards, 100_000).await?;
    let Some(last) = recorded.last().map(|r| r.revision) else { return Ok(()) };
    let events = recorded
        .iter()
        .map(|r| {
            DomainEvent::decode(&r.event_type, &r.data).map_err(|source| DeliveryError::Decode {
                stream: stream.clone(),
                revision: r.revision,
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let state = fold(&events);
    // Disabling needs nothing of the context; it is filled because `decide` takes one.
    let context = WebhookContext { plan: None, live_webhooks_of_account: 0, max_webhooks: 0, url_policy };
    let command = DisableWebhook { by: DisabledBy::Auto, reason: reason.to_owned(), now };
    let decided = match decide(&state, command, &context) {
        Ok(events) => events,
        Err(_) => return Ok(()), // deleted meanwhile: nothing to disable
    };
    if decided.is_empty() {
        return Ok(());
    }
    let metadata = EventMetadata::correlated(id);
    let data = decided.iter().map(|e| outcome::with_metadata(e, &metadata)).collect();
    store.append(&stream, ExpectedRevision::Exact(last), data).await?;
    Ok(())
}

impl Actor for WebhookActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let (store, id) = (self.store.clone(), self.id);
        // Messages wait while this runs; a store that does not answer yet is asked again,
        // so a passing outage does not leave the webhook without an actor.
        let load = async move {
            let mut wait = READ_RETRY;
            let mut tries = 1;
            loop {
                match ResumeState::load(&*store, id).await {
                    // Bounded: the dispatcher waits for every actor's resume point, so a store
                    // that stays out must not hold all delivery (or a shutdown) up for long.
                    Err(error) if error.is_transient() && tries < LOAD_TRIES => {
                        tries += 1;
                        tracing::warn!(webhook = %id, error = &error as &dyn std::error::Error, retry_in_ms = wait.as_millis() as u64, "cannot load the deliveries stream yet; trying again");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(READ_RETRY_MAX);
                    }
                    loaded => return loaded,
                }
            }
        };
        ctx.wait(load.into_actor(self).map(|loaded, act, ctx| match loaded {
            Ok(state) => act.restored(state, ctx),
            Err(error) => {
                tracing::error!(webhook = %act.id, error = &error as &dyn std::error::Error, "cannot load the deliveries stream; actor stops");
                act.stop_now(ctx);
            }
        }));
    }
}

impl Handler<Deliver> for WebhookActor {
    type Result = ();

    fn handle(&mut self, Deliver(outgoing): Deliver, ctx: &mut Context<Self>) {
        self.routed(outgoing);
        self.pump(ctx);
    }
}

impl Handler<Retarget> for WebhookActor {
    type Result = ();

    fn handle(&mut self, msg: Retarget, ctx: &mut Context<Self>) {
        let was_active = self.active == Some(true);
        self.target = msg.target;
        self.active = Some(msg.active);
        if was_active && !msg.active {
            // Turned off (disabled, deleted, off plan): everything owed and not in flight is
            // given up now, not when it comes due, and so is the backlog; what is read back
            // from the log later and routed before this point too (see `accept`), even if
            // the webhook is on again by then.
            self.off_at = self.off_at.max(msg.at);
            self.give_up_owed();
        }
        self.enabled_at = msg.enabled_at;
        // Going active (at start, or enabled again): the auto-disable timer may have fired
        // while the actor did not know it was active, or the clock started over.
        if msg.active && !was_active {
            self.arm_auto_disable(ctx);
        }
        self.pump(ctx);
    }
}

impl Handler<ResumePoint> for WebhookActor {
    type Result = Option<Position>;

    fn handle(&mut self, _: ResumePoint, _: &mut Context<Self>) -> Option<Position> {
        self.last_received
    }
}

impl Handler<Progress> for WebhookActor {
    type Result = ();

    fn handle(&mut self, Progress(position): Progress, ctx: &mut Context<Self>) {
        // With a backlog (or events to read back), the resume point must stay before it.
        if !self.backlog.is_empty() || self.overflow.is_some() || self.last_received.is_some_and(|r| position <= r) {
            return;
        }
        self.last_received = Some(position);
        let idle = self.owed.is_empty() && self.buffer.is_empty();
        if idle && self.state.resume_position != self.last_received {
            self.checkpoint_due = true;
            self.flush(ctx);
        }
    }
}

impl Handler<Retire> for WebhookActor {
    type Result = ();

    fn handle(&mut self, Retire(deleted_at): Retire, ctx: &mut Context<Self>) {
        self.target = None;
        self.active = Some(false);
        self.retiring = Some(deleted_at);
        self.off_at = self.off_at.max(Some(deleted_at));
        self.give_up_owed();
        self.pump(ctx);
    }
}

impl Handler<Stop> for WebhookActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.stop_waiters.push(tx);
        self.stopping = true;
        self.maybe_stop(ctx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

