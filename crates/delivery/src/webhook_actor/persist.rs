//! Outcome events on their way to the webhook's `deliveries-` stream: buffered (bounded),
//! appended one batch at a time with the exact expected revision, sent again unchanged
//! while the store is out, and closed with a checkpoint as the domain's rule says.

use actix::prelude::*;
use packhooks_domain::delivery::{checkpoint_due, DeliveryCheckpoint, DeliverySource, PendingRetry};
use packhooks_domain::{DomainEvent, EventMetadata};
use packhooks_store::backoff::{millis, Backoff};
use packhooks_store::{EventData, ExpectedRevision, Position, StoreError};

use super::WebhookActor;
use crate::outcome::{self, IdText};
use crate::DeliveryConfig;

/// Outcome events buffered at most, in appends of `batch_max`: past that no attempt starts
/// until an append has gone through (see [`Outbox::full`]).
const BUFFERED_BATCHES: usize = 4;

#[derive(Default)]
pub(super) struct Outbox {
    /// Outcome events waiting for the next append; while one append runs, the next batch
    /// collects here, so appends batch themselves under load.
    pub buffer: Vec<EventData>,
    /// An append is running (or waiting to be sent again).
    pub appending: bool,
    /// A checkpoint should be written even with no outcome to append (an idle actor moved on).
    pub checkpoint_due: bool,
    /// The revision of the stream's last event; `None` when it does not exist. The next
    /// append expects exactly this.
    pub revision: Option<u64>,
    /// Attempts stopped because the buffer was full: the next append's success starts them.
    pub throttled: bool,
}

impl Outbox {
    /// Whether the buffer holds as many outcomes as it may: a store that stays out while
    /// attempts go on would otherwise fill memory with them.
    pub fn full(&self, config: &DeliveryConfig) -> bool {
        self.buffer.len() >= BUFFERED_BATCHES * config.batch_max.max(1)
    }
}

/// One append of outcome events to the webhook's `deliveries-` stream.
struct Batch {
    events: Vec<EventData>,
    /// Whether the last event is a `DeliveryCheckpoint`.
    checkpoint: bool,
    /// The resume position that checkpoint records.
    resume: Option<Position>,
}

impl WebhookActor {
    /// Buffers an outcome event of `delivery` for `source`.
    pub(super) fn push(&mut self, event: &DomainEvent, source: &DeliverySource, delivery: &IdText) {
        self.outbox.buffer.push(outcome::other(event, source, delivery));
    }

    fn checkpoint(&self) -> EventData {
        let event = DomainEvent::DeliveryCheckpoint(DeliveryCheckpoint {
            webhook_id: self.id,
            resume_position: self.intake.last_received,
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
            failing_since: self.state.health.failing_since,
            recorded_at: self.clock.now(),
        });
        outcome::with_metadata(&event, &EventMetadata::correlated(self.id))
    }

    /// Appends what is buffered, one append at a time, with the exact expected revision.
    pub(super) fn flush(&mut self, ctx: &mut Context<Self>) {
        let outbox = &mut self.outbox;
        if outbox.appending || (outbox.buffer.is_empty() && !outbox.checkpoint_due) {
            return;
        }
        let take = outbox.buffer.len().min(self.config.batch_max.max(1));
        let mut batch: Vec<EventData> = outbox.buffer.drain(..take).collect();
        let checkpoint = checkpoint_due(
            self.state.since_checkpoint,
            self.state.may_checkpoint(),
            self.config.checkpoint_every,
            self.owed.len(),
            batch.len(),
            outbox.buffer.len(),
            outbox.checkpoint_due,
        );
        if batch.is_empty() && !checkpoint {
            return;
        }
        let resume = self.intake.last_received;
        if checkpoint {
            batch.push(self.checkpoint());
        }
        self.outbox.appending = true;
        self.append(Batch { events: batch, checkpoint, resume }, Backoff::APPEND, ctx);
    }

    /// Appends `batch` with the exact expected revision. An append that fails for now is
    /// sent again unchanged (same events, same ids, same expected revision) until it is
    /// answered: if the failed one did commit and only its answer was lost (an EventStoreDB
    /// timeout), the store then answers the repeat as already written. A batch rebuilt with
    /// more events would conflict with the committed one and stop this actor.
    fn append(&mut self, batch: Batch, mut backoff: Backoff, ctx: &mut Context<Self>) {
        let expected = match self.outbox.revision {
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
                    act.outbox.appending = false;
                    act.outbox.revision = Some(done.next_expected_revision);
                    if batch.checkpoint {
                        act.state.since_checkpoint = 0;
                        act.state.resume_position = batch.resume;
                        act.outbox.checkpoint_due = false;
                    } else {
                        act.state.since_checkpoint += batch.events.len() as u32;
                    }
                    if std::mem::take(&mut act.outbox.throttled) {
                        act.pump(ctx);
                    } else {
                        act.flush(ctx);
                    }
                }
                Err(StoreError::WrongExpectedVersion { expected, actual, .. }) => {
                    act.outbox.appending = false;
                    tracing::error!(
                        webhook = %act.id, %expected, %actual,
                        "another actor writes this webhook's deliveries stream; stopping this one"
                    );
                    act.config.metrics.stopped_on_conflict();
                    act.stop_now(ctx);
                    return;
                }
                Err(error) => {
                    let wait = backoff.next_wait();
                    tracing::warn!(webhook = %act.id, error = &error as &dyn std::error::Error, buffered = act.outbox.buffer.len(), retry_in = %millis(wait), "appending delivery outcomes failed; retrying");
                    // Still appending: nothing else is appended, and no stop happens, before
                    // this batch is answered.
                    ctx.run_later(wait, move |act, ctx| act.append(batch, backoff, ctx));
                }
            }
            act.maybe_stop(ctx);
        }));
    }
}
