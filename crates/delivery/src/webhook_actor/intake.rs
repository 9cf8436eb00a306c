//! Routed events on their way in: a bounded backlog, a window of deliveries owed a first
//! attempt, and, when the backlog overflows, reading what was dropped back from the log.

use std::collections::VecDeque;
use std::sync::Arc;

use actix::prelude::*;
use packhooks_domain::delivery::{Owing, Replayed};
use packhooks_domain::DeliveryId;
use packhooks_store::backoff::{millis, Backoff};
use packhooks_store::Position;

use super::{Owed, WebhookActor};
use crate::message::Outgoing;
use crate::refill::{Cursor, Page, Refill};
use crate::DeliveryError;

/// Deliveries owed a first attempt that an actor takes on at once, as a multiple of its
/// in-flight limit. The rest wait in the backlog, outside the checkpoint: a checkpoint lists
/// what is owed, so without this bound a webhook that lags behind the log would write a
/// checkpoint as long as its lag, every `checkpoint_every` events.
const WINDOW_PER_IN_FLIGHT: usize = 4;

pub(super) struct Intake {
    /// The last routed event received: the next checkpoint's resume position.
    pub last_received: Option<Position>,
    /// Routed events received but not yet taken on (the window is full), in log order.
    /// They are not in `last_received`, so a restart routes them again.
    pub backlog: VecDeque<Arc<Outgoing>>,
    /// Set while routed events are dropped because the backlog was full.
    pub overflow: Option<Overflow>,
    /// How long a failed read-back waits before the next try.
    refill_backoff: Backoff,
}

impl Default for Intake {
    fn default() -> Self {
        Intake { last_received: None, backlog: VecDeque::new(), overflow: None, refill_backoff: Backoff::STORE_READ }
    }
}

/// Routed events were dropped because the backlog was full (see `refill`).
pub(super) struct Overflow {
    /// Where reading them back starts: nothing from here on is in the backlog.
    from: Cursor,
    /// The last dropped position: reading back is done once it has passed this.
    dropped_max: Position,
    /// The routing state of the last page, to go on from.
    refill: Option<Refill>,
    reading: bool,
}

impl WebhookActor {
    /// Takes routed events from the backlog, in log order, while the window has room.
    pub(super) fn accept(&mut self) {
        let window = WINDOW_PER_IN_FLIGHT * self.config.in_flight_per_webhook.max(1);
        while !self.shutdown.stopping && self.first_attempts_owed < window {
            let Some(outgoing) = self.intake.backlog.pop_front() else { break };
            let position = outgoing.position();
            match self.state.replayed(position) {
                Replayed::Skip { advance } => {
                    if advance {
                        self.intake.last_received = Some(position);
                    }
                    continue;
                }
                Replayed::Owed => self.intake.last_received = Some(position),
            }
            let id = DeliveryId::for_message(self.id, outgoing.message);
            if self.owed.contains_key(&id) {
                continue;
            }
            let owed = Owed {
                source: outgoing.source.clone(),
                body: Some(outgoing.body.clone()),
                attempt: 1,
                due_at: self.clock.now(),
                committed_at: Some(outgoing.committed_at),
                sending: false,
            };
            self.owed.insert(id, owed);
            self.first_attempts_owed += 1;
            match self.webhook.switch.take_on(position) {
                Owing::GiveUp => self.abandon(id),
                Owing::Attempt | Owing::Wait => self.ready.push_back(id),
            }
        }
    }

    /// A routed event: into the backlog, or dropped (to be read back) while it is full.
    pub(super) fn routed(&mut self, outgoing: Arc<Outgoing>) {
        let position = outgoing.position();
        let intake = &mut self.intake;
        if let Some(overflow) = &mut intake.overflow {
            overflow.dropped_max = overflow.dropped_max.max(position);
            return;
        }
        if intake.backlog.len() >= self.config.backlog_cap.max(1) {
            self.config.metrics.backlog_overflowed();
            tracing::info!(webhook = %self.id, backlog = intake.backlog.len(), "webhook lags behind; reading what is routed to it back from the log later");
            intake.overflow =
                Some(Overflow { from: Cursor::From(position), dropped_max: position, refill: None, reading: false });
            return;
        }
        intake.backlog.push_back(outgoing);
    }

    /// Once the backlog has drained, reads the next page of dropped events back.
    pub(super) fn maybe_refill(&mut self, ctx: &mut Context<Self>) {
        let Some(overflow) = &mut self.intake.overflow else { return };
        if overflow.reading || !self.intake.backlog.is_empty() || self.shutdown.stopping {
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
        let intake = &mut self.intake;
        let Some(overflow) = &mut intake.overflow else { return };
        overflow.reading = false;
        match result {
            Ok((refill, page)) => {
                intake.backlog.extend(page.events);
                if page.reached && until >= overflow.dropped_max {
                    // Everything dropped is read back. The scan went no further than the
                    // last event the dispatcher sent here, so what it sends from now on is new.
                    intake.overflow = None;
                } else {
                    overflow.from = page.next;
                    overflow.refill = Some(refill);
                }
                intake.refill_backoff.reset();
            }
            Err(error) => {
                // Only store errors reach here (undecodable events are skipped): try again,
                // waiting longer each time.
                let wait = intake.refill_backoff.next_wait();
                tracing::warn!(webhook = %self.id, error = &error as &dyn std::error::Error, retry_in = %millis(wait), "cannot read routed events back from the log yet; trying again");
                ctx.run_later(wait, |act, ctx| act.pump(ctx));
                return;
            }
        }
        self.pump(ctx);
    }
}
