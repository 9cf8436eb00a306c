//! What the dispatcher tells a webhook actor, and how the actor takes it: routed events,
//! the webhook's state, how far routing has got, and stop or retire.

use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use packhooks_domain::delivery::Turned;
use packhooks_domain::AccountId;
use packhooks_store::Position;
use tokio::sync::oneshot;

use super::WebhookActor;
use crate::message::Outgoing;
use crate::sender::Target;

/// A routed event for this webhook, in log order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Arc<Outgoing>);

/// The webhook's latest target and whether deliveries may go to it (the registry's
/// `receives_deliveries`: enabled, not deleted, account on a webhook plan).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retarget {
    pub target: Option<Arc<Target>>,
    /// The webhook's account (`None` once it is deleted).
    pub account: Option<AccountId>,
    pub active: bool,
    /// When the owner last enabled the webhook again: the auto-disable clock of a webhook
    /// that was failing starts over then.
    pub enabled_at: Option<DateTime<Utc>>,
    /// The position of the lifecycle event this follows (`None`: the state at start).
    pub at: Option<Position>,
}

impl Retarget {
    pub fn inactive() -> Self {
        Retarget { target: None, account: None, active: false, enabled_at: None, at: None }
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
        self.webhook.target = msg.target;
        let turned = self.webhook.switch.set(msg.active, msg.at);
        if msg.account.is_some() {
            self.webhook.account = msg.account;
        }
        if turned == Turned::Off {
            // Turned off (disabled, deleted, off plan): what is owed and not in flight, and
            // the backlog, are given up now (the domain's `Switch` says which).
            self.give_up_owed();
        }
        self.webhook.enabled_at = msg.enabled_at;
        if turned == Turned::On {
            // Going active (at start, or enabled again): the auto-disable timer may have
            // fired while the actor did not know it was active, or the clock started over.
            self.arm_auto_disable(ctx);
        }
        self.pump(ctx);
    }
}

impl Handler<ResumePoint> for WebhookActor {
    type Result = Option<Position>;

    fn handle(&mut self, _: ResumePoint, _: &mut Context<Self>) -> Option<Position> {
        self.intake.last_received
    }
}

impl Handler<Progress> for WebhookActor {
    type Result = ();

    fn handle(&mut self, Progress(position): Progress, ctx: &mut Context<Self>) {
        // With a backlog (or events to read back), the resume point must stay before it.
        let intake = &mut self.intake;
        if !intake.backlog.is_empty()
            || intake.overflow.is_some()
            || intake.last_received.is_some_and(|r| position <= r)
        {
            return;
        }
        intake.last_received = Some(position);
        let idle = self.owed.is_empty() && self.outbox.buffer.is_empty();
        if idle && self.state.resume_position != self.intake.last_received {
            self.outbox.checkpoint_due = true;
            self.flush(ctx);
        }
    }
}

impl Handler<Retire> for WebhookActor {
    type Result = ();

    fn handle(&mut self, Retire(deleted_at): Retire, ctx: &mut Context<Self>) {
        self.webhook.target = None;
        self.webhook.switch.retire(deleted_at);
        self.shutdown.retiring = Some(deleted_at);
        self.give_up_owed();
        self.pump(ctx);
    }
}

impl Handler<Stop> for WebhookActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.shutdown.waiters.push(tx);
        self.shutdown.stopping = true;
        self.maybe_stop(ctx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}
