//! `WebhookActor`: one per webhook. It owns that webhook's queue, in-flight limit, retries
//! and their timers, health (failing, recovered, auto-disable) and its `deliveries-` stream,
//! which only it writes, with the exact expected revision.
//!
//! The rules (retry or abandon, failing or recovered, disable, the test-event exemption,
//! what is owed at resume) are the domain's, `packhooks_domain::delivery`; the actor calls
//! them and does the I/O. Its concerns, one file each:
//!
//! - [`messages`]: what the dispatcher tells it;
//! - `intake`: routed events into a bounded backlog and window, read back from the log after
//!   an overflow;
//! - `attempts`: attempts in flight and what follows each, by the rules; where a retry gets
//!   scheduled (`WebhookActor::finished`, on the injected clock, see [`crate::timer`]);
//! - `health`: failing, recovered, auto-disable and its timer, the disable itself;
//! - `persist`: outcome events buffered (bounded) and appended, and checkpoints;
//! - `shutdown`: stopping, and retiring a deleted webhook.

mod attempts;
mod health;
mod intake;
pub mod messages;
mod persist;
mod shutdown;

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use packhooks_domain::clock::Clock;
use packhooks_domain::delivery::{DeliveryRules, DeliverySource, DeliveryState, Switch, WebhookNow};
use packhooks_domain::{AccountId, DeliveryId, WebhookId};
use packhooks_store::backoff::{millis, Backoff};
use packhooks_store::EventStore;

pub use self::messages::{Deliver, Progress, ResumePoint, Retarget, Retire, Stop};
use crate::message::Body;
use crate::outcome::IdText;
use crate::resume::ResumeState;
use crate::sender::{Sender, Target};
use crate::timer::sleep_until;
use crate::metrics::OwedShare;
use crate::DeliveryConfig;

use self::intake::Intake;
use self::persist::Outbox;
use self::shutdown::Shutdown;

/// Reads of the actor's stream at start before it gives up (about 3 s of waiting).
const LOAD_TRIES: u32 = 6;

/// A delivery owed an attempt.
struct Owed {
    source: Arc<DeliverySource>,
    /// `None` for a delivery restored from a checkpoint until its first attempt reads it.
    body: Option<Body>,
    /// The number of the attempt that is due.
    attempt: u32,
    due_at: DateTime<Utc>,
    /// When its event was committed, until its first attempt starts (then taken, for the
    /// first-attempt delay metric); `None` for a delivery restored from a checkpoint.
    committed_at: Option<DateTime<Utc>>,
    /// An attempt is in flight.
    sending: bool,
}

/// The webhook as the dispatcher last described it (see [`Retarget`]).
#[derive(Default)]
struct Known {
    target: Option<Arc<Target>>,
    /// Its account, for the operator's log lines.
    account: Option<AccountId>,
    /// On or off, and where it was last turned off: what a delivery comes to follows.
    switch: Switch,
    /// When the owner last enabled the webhook again (see [`Retarget::enabled_at`]).
    enabled_at: Option<DateTime<Utc>>,
}

impl Known {
    fn now(&self) -> WebhookNow {
        WebhookNow { active: self.switch.is_active(), enabled_at: self.enabled_at }
    }

    /// The account as a log field (`-` until the dispatcher has said).
    fn account(&self) -> &str {
        self.account.as_ref().map_or("-", AccountId::as_str)
    }
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
    webhook: Known,
    /// Health and what a replay must skip, as the domain folds them.
    state: DeliveryState,
    /// Routed events on their way in.
    intake: Intake,
    owed: HashMap<DeliveryId, Owed>,
    /// How many of `owed` still wait for their first attempt's outcome (the window's fill).
    first_attempts_owed: usize,
    ready: VecDeque<DeliveryId>,
    in_flight: usize,
    /// Outcome events on their way to the stream.
    outbox: Outbox,
    /// An auto-disable is being appended.
    disabling: bool,
    shutdown: Shutdown,
    /// This actor's part of the instance's backlog and pending-retry gauges.
    owed_gauges: OwedShare,
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
        let webhook = match route {
            Some(r) => Known {
                target: r.target,
                account: r.account,
                switch: Switch::new(Some(r.active)),
                enabled_at: r.enabled_at,
            },
            None => Known::default(),
        };
        WebhookActor {
            id,
            id_text: IdText::webhook(id),
            stream: id.deliveries_stream(),
            store,
            clock,
            sender,
            webhook,
            state: DeliveryState::default(),
            intake: Intake::default(),
            owed: HashMap::new(),
            first_attempts_owed: 0,
            ready: VecDeque::new(),
            in_flight: 0,
            outbox: Outbox::default(),
            disabling: false,
            shutdown: Shutdown::default(),
            owed_gauges: OwedShare::new(config.metrics.clone()),
            config,
        }
    }

    /// The settings the domain's delivery rules follow.
    fn rules(&self) -> DeliveryRules<'_> {
        DeliveryRules {
            retry: &self.config.retry,
            disable_on_gone: self.config.disable_on_gone,
            auto_disable_after: self.config.auto_disable_after,
        }
    }

    fn restored(&mut self, resumed: ResumeState, ctx: &mut Context<Self>) {
        let ResumeState { last_revision, state } = resumed;
        self.intake.last_received = state.resume_position;
        self.outbox.revision = last_revision;
        for pending in state.pending.values() {
            self.first_attempts_owed += usize::from(pending.attempt == 1);
            self.owed.insert(
                pending.delivery_id,
                Owed {
                    source: Arc::new(pending.source.clone()),
                    body: None,
                    attempt: pending.attempt,
                    due_at: pending.due_at,
                    committed_at: None,
                    sending: false,
                },
            );
            self.schedule(pending.delivery_id, pending.due_at, ctx);
        }
        self.state = state;
        self.arm_auto_disable(ctx);
        self.pump(ctx);
    }

    /// Runs `then` once the injected clock reaches `at`.
    fn at(
        &self,
        at: DateTime<Utc>,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, &mut Context<Self>) + 'static,
    ) {
        let timer = sleep_until(self.clock.clone(), at);
        ctx.spawn(timer.into_actor(self).map(move |(), act, ctx| then(act, ctx)));
    }
}

impl Actor for WebhookActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let (store, id) = (self.store.clone(), self.id);
        // Messages wait while this runs; a store that does not answer yet is asked again,
        // so a passing outage does not leave the webhook without an actor.
        let load = async move {
            let mut backoff = Backoff::STORE_READ;
            let mut tries = 1;
            loop {
                match ResumeState::load(&*store, id).await {
                    // Bounded: the dispatcher waits for every actor's resume point, so a store
                    // that stays out must not hold all delivery (or a shutdown) up for long.
                    Err(error) if error.is_transient() && tries < LOAD_TRIES => {
                        tries += 1;
                        let wait = backoff.next_wait();
                        tracing::warn!(webhook = %id, error = &error as &dyn std::error::Error, retry_in = %millis(wait), "cannot load the deliveries stream yet; trying again");
                        tokio::time::sleep(wait).await;
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
