//! Stopping: a graceful stop finishes what is in flight and appends what is buffered; a
//! deleted webhook's actor retires, giving up what it owes and writing a last checkpoint.

use actix::prelude::*;
use packhooks_store::Position;
use tokio::sync::oneshot;

use super::WebhookActor;

#[derive(Default)]
pub(super) struct Shutdown {
    /// Answered once the actor has stopped.
    pub waiters: Vec<oneshot::Sender<()>>,
    /// No attempt starts any more; the actor stops once nothing is in flight or buffered.
    pub stopping: bool,
    /// Retiring (see `Retire`), with the deletion's position: once nothing is in flight,
    /// the last checkpoint goes out.
    pub retiring: Option<Position>,
}

impl WebhookActor {
    pub(super) fn maybe_stop(&mut self, ctx: &mut Context<Self>) {
        let settled = |act: &Self| act.in_flight == 0 && !act.outbox.appending && act.outbox.buffer.is_empty();
        if let Some(deleted_at) = self.shutdown.retiring.filter(|_| {
            !self.shutdown.stopping && settled(self) && self.intake.backlog.is_empty() && self.intake.overflow.is_none()
        }) {
            // Everything owed was given up and recorded, and nothing after the deletion
            // routes here: a last checkpoint there, so a restart has nothing to replay for
            // this webhook, then the stop below.
            // A retry scheduled by an attempt that was in flight at the deletion, or a body
            // read waiting to be tried again: given up too, before the last checkpoint.
            self.give_up_owed();
            self.shutdown.stopping = true;
            self.intake.last_received = self.intake.last_received.max(Some(deleted_at));
            if self.state.resume_position != self.intake.last_received {
                self.outbox.checkpoint_due = true;
                self.flush(ctx);
            }
        }
        if self.shutdown.stopping && settled(self) {
            self.stop_now(ctx);
        }
    }

    pub(super) fn stop_now(&mut self, ctx: &mut Context<Self>) {
        for waiter in self.shutdown.waiters.drain(..) {
            let _ = waiter.send(());
        }
        ctx.stop();
    }
}
