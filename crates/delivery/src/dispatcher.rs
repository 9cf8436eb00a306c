//! The `Dispatcher`: follows `$all` (account, webhook and pack streams) in log order, keeps
//! the domain's routing `Registry` current as it goes, and hands each submission and test
//! event to the `WebhookActor` of every webhook it routes to (DESIGN.md, "Routing invariant").
//!
//! Where it resumes: each webhook actor knows from its own `deliveries-` stream up to which
//! position it has handled the log. On start the dispatcher reads the lifecycle history
//! (account and webhook streams only), starts an actor for every webhook, asks each for its
//! resume point, and subscribes from the smallest one, with the registry folded exactly up
//! to that position; each actor skips what it already handled.
//!
//! Routing and targets are two views. *Which* webhooks a submission goes to is decided by
//! the registry as of the submission's position. *Where and whether* an attempt goes out is
//! the webhook's state now: while the start-up replay is still before the head of the log
//! read at start, actors hear their webhook's current state (folded over the whole history),
//! not the replayed one, so a restored retry or a replayed first attempt goes to the URL and
//! secrets the webhook has now, or is abandoned if the webhook is off now.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use packhooks_domain::clock::Clock;
use packhooks_domain::registry::Registry;
use packhooks_domain::streams::{ACCOUNT, PACK, WEBHOOK};
use packhooks_domain::{DomainEvent, WebhookId};
use packhooks_store::backoff::Backoff;
use packhooks_store::{
    EventStore, Position, RecordedEvent, StoreError, SubscribeFrom, SubscriptionEvent, SubscriptionFilter,
};

use crate::message::Outgoing;
use crate::sender::Target;
use crate::webhook_actor::{Deliver, Progress, ResumePoint, Retarget, Retire, Stop, WebhookActor};
use crate::{DeliveryConfig, DeliveryError, DeliveryMetrics};

/// Every this many events of the log, every actor hears how far routing has got, so idle
/// webhooks move their resume point on and a restart need not replay from far back.
const PROGRESS_EVERY: u64 = 10_000;

/// Stops the dispatcher and, gracefully, every webhook actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopDispatcher;

/// A lifecycle event as read at start, with its place in the log.
type Lifecycle = Vec<(Position, DomainEvent)>;

/// The webhooks as of some position: the registry, and when each was last enabled again
/// (the auto-disable clock of a webhook the owner enabled starts over then).
#[derive(Default)]
struct View {
    registry: Registry,
    enabled_at: HashMap<WebhookId, DateTime<Utc>>,
}

impl View {
    fn apply(&mut self, event: &DomainEvent) {
        if let DomainEvent::WebhookEnabled(e) = event {
            self.enabled_at.insert(e.webhook_id, e.recorded_at);
        }
        self.registry.apply(event);
    }

    /// What the view says about a webhook, as an actor needs it.
    fn route_of(&self, id: WebhookId) -> Retarget {
        let Some(webhook) = self.registry.webhook(&id) else { return Retarget::inactive() };
        let target = match url::Url::parse(&webhook.url) {
            Ok(url) => Some(Arc::new(Target::new(url, webhook.secrets.clone()).with_format(webhook.format))),
            Err(error) => {
                tracing::error!(webhook = %id, %error, "stored webhook url does not parse");
                None
            }
        };
        Retarget {
            active: target.is_some() && self.registry.receives_deliveries(webhook),
            target,
            account: Some(webhook.account_id.clone()),
            enabled_at: self.enabled_at.get(&id).copied(),
            at: None,
        }
    }
}

pub struct Dispatcher {
    store: Arc<dyn EventStore>,
    config: Arc<DeliveryConfig>,
    clock: Arc<dyn Clock>,
    /// The webhooks as of the last routed position: decides where submissions go.
    view: View,
    /// While the start-up replay has not passed `.0` (the head when it started): the webhooks
    /// as of that head, which is what actors are told (see the module doc).
    current: Option<(Position, View)>,
    actors: HashMap<WebhookId, Addr<WebhookActor>>,
    /// Where webhook actors run, in turn.
    arbiters: Vec<Arbiter>,
    /// Webhooks whose actor stopped (another instance drives them); logged once.
    lost: HashSet<WebhookId>,
    /// Deleted webhooks whose actor retired: nothing is routed to them any more (a replay
    /// from before the deletion must not start a second actor beside the retiring one).
    retired: HashSet<WebhookId>,
    /// The last position the subscription passed, to resubscribe from after a failure.
    last_position: Option<Position>,
    /// Events handled since the last `Progress` went out.
    since_progress: u64,
    stopping: bool,
}

impl Dispatcher {
    pub fn new(store: Arc<dyn EventStore>, config: Arc<DeliveryConfig>, clock: Arc<dyn Clock>) -> Self {
        let actor_threads = config.actor_threads.max(1);
        Dispatcher {
            store,
            config,
            clock,
            view: View::default(),
            current: None,
            actors: HashMap::new(),
            arbiters: (0..actor_threads).map(|_| Arbiter::new()).collect(),
            lost: HashSet::new(),
            retired: HashSet::new(),
            last_position: None,
            since_progress: 0,
            stopping: false,
        }
    }

    fn filter() -> SubscriptionFilter {
        SubscriptionFilter::StreamPrefix(vec![ACCOUNT.into(), WEBHOOK.into(), PACK.into()])
    }

    /// What an actor is told about its webhook: its state now (see the module doc).
    fn route_of(&self, id: WebhookId) -> Retarget {
        match &self.current {
            Some((_, current)) => current.route_of(id),
            None => self.view.route_of(id),
        }
    }

    /// Whether `position` is in the start-up replay, whose lifecycle events actors have
    /// already heard the outcome of.
    fn replaying(&self, position: Position) -> bool {
        self.current.as_ref().is_some_and(|(until, _)| position <= *until)
    }

    fn start_actor(&mut self, id: WebhookId, route: Option<Retarget>) -> Addr<WebhookActor> {
        let (store, config, clock) = (self.store.clone(), self.config.clone(), self.clock.clone());
        let arbiter = &self.arbiters[self.actors.len() % self.arbiters.len()];
        // Built on its arbiter's thread: the actor's HTTP client is not `Send`.
        let mailbox = config.mailbox_capacity.max(1);
        let addr = WebhookActor::start_in_arbiter(&arbiter.handle(), move |ctx| {
            ctx.set_mailbox_capacity(mailbox);
            WebhookActor::new(id, store, config, clock, route)
        });
        self.actors.insert(id, addr.clone());
        self.count_actors();
        addr
    }

    fn count_actors(&self) {
        self.config.metrics.set_actors(self.actors.len());
    }

    /// The webhook is deleted and routing has passed its deletion: its actor gives up what
    /// it owes and stops for good.
    fn retire(&mut self, id: WebhookId, deleted_at: Position, ctx: &mut Context<Self>) {
        self.retired.insert(id);
        if let Some(addr) = self.actors.remove(&id) {
            send_bounded(&addr, Retire(deleted_at), &self.config.metrics, ctx);
            self.count_actors();
        }
    }

    /// The webhook's actor, started on demand; `None` once it stopped for good. The address
    /// kept here, not a clone: a sender that found the mailbox full stays parked until the
    /// actor has made room, which is what bounds the mailbox (see [`send_bounded`]).
    fn actor(&mut self, id: WebhookId) -> Option<&Addr<WebhookActor>> {
        match self.actors.get(&id) {
            Some(addr) if addr.connected() => {}
            Some(_) => {
                if self.lost.insert(id) {
                    tracing::error!(webhook = %id, "webhook actor stopped; this instance no longer delivers to it");
                }
                return None;
            }
            None if self.retired.contains(&id) => return None,
            None => {
                let route = self.route_of(id);
                self.start_actor(id, Some(route));
            }
        }
        self.actors.get(&id)
    }

    /// Tells a webhook's actor its state, after the lifecycle event at `at` (`None`: the
    /// state at start).
    fn retarget(&self, id: WebhookId, at: Option<Position>, ctx: &mut Context<Self>) {
        if let Some(addr) = self.actors.get(&id) {
            send_bounded(addr, Retarget { at, ..self.route_of(id) }, &self.config.metrics, ctx);
        }
    }

    /// Tells every actor that routing has passed the last position seen.
    fn progress(&mut self, ctx: &mut Context<Self>) {
        self.since_progress = 0;
        if let Some(position) = self.last_position {
            for addr in self.actors.values().filter(|a| a.connected()) {
                send_bounded(addr, Progress(position), &self.config.metrics, ctx);
            }
        }
    }

    fn on_event(&mut self, recorded: RecordedEvent, ctx: &mut Context<Self>) {
        if !self.replaying(recorded.position) {
            self.current = None;
        }
        self.last_position = Some(recorded.position);
        self.route(recorded, ctx);
        self.since_progress += 1;
        if self.since_progress >= PROGRESS_EVERY {
            self.progress(ctx);
        }
    }

    /// Keeps the registry current with a lifecycle event, or routes a deliverable one.
    fn route(&mut self, recorded: RecordedEvent, ctx: &mut Context<Self>) {
        let event = match DomainEvent::decode(&recorded.event_type, &recorded.data) {
            Ok(event) => event,
            Err(error) => {
                tracing::error!(stream = %recorded.stream, revision = recorded.revision, error = &error as &dyn std::error::Error, "undecodable event skipped");
                return;
            }
        };
        match &event {
            DomainEvent::CandidateInterested(_)
            | DomainEvent::CandidateDeclined(_)
            | DomainEvent::TestEventRequested(_) => {
                let shard = self.config.shard;
                let ids: Vec<WebhookId> = self.view.registry.route_event(&event).filter(|id| shard.owns(*id)).collect();
                if ids.is_empty() {
                    return;
                }
                let Some(outgoing) = Outgoing::of(&recorded, &event) else { return };
                let outgoing = Arc::new(outgoing);
                let metrics = self.config.metrics.clone();
                let _routing = crate::spans::route(&outgoing.source, ids.len()).entered();
                tracing::debug!("routed");
                for id in ids {
                    if let Some(addr) = self.actor(id) {
                        send_bounded(addr, Deliver(outgoing.clone()), &metrics, ctx);
                    }
                }
            }
            DomainEvent::AccountPlanChanged(e) => {
                self.view.apply(&event);
                if self.replaying(recorded.position) {
                    return;
                }
                let ids: Vec<WebhookId> = self.view.registry.webhooks_of(&e.account_id).map(|w| w.id).collect();
                ids.into_iter().for_each(|id| self.retarget(id, Some(recorded.position), ctx));
            }
            DomainEvent::WebhookCreated(_)
            | DomainEvent::WebhookUpdated(_)
            | DomainEvent::WebhookSecretRotated(_)
            | DomainEvent::WebhookDisabled(_)
            | DomainEvent::WebhookEnabled(_)
            | DomainEvent::WebhookDeleted(_) => {
                self.view.apply(&event);
                let Some(id) = webhook_of(&recorded) else { return };
                if matches!(event, DomainEvent::WebhookDeleted(_)) {
                    // Nothing after a deletion routes to the webhook, replayed or live.
                    self.retire(id, recorded.position, ctx);
                } else if !self.replaying(recorded.position) {
                    self.retarget(id, Some(recorded.position), ctx);
                }
            }
            _ => {}
        }
    }

    fn subscribe(&mut self, ctx: &mut Context<Self>) {
        let from = match self.last_position {
            Some(p) => SubscribeFrom::After(p),
            None => SubscribeFrom::Start,
        };
        let store = self.store.clone();
        let open = async move { store.subscribe_to_all(from, Some(Self::filter())).await };
        ctx.spawn(open.into_actor(self).map(|opened, act, ctx| match opened {
            Ok(subscription) => {
                ctx.add_stream(subscription);
            }
            Err(error) => {
                tracing::error!(error = &error as &dyn std::error::Error, "cannot subscribe to $all; retrying");
                act.resubscribe_later(ctx);
            }
        }));
    }

    fn resubscribe_later(&mut self, ctx: &mut Context<Self>) {
        if !self.stopping {
            ctx.run_later(Backoff::SUBSCRIBE.first_wait(), |act, ctx| act.subscribe(ctx));
        }
    }

    /// Start-up, after the lifecycle history is read: start an actor per webhook, ask each
    /// where it stands, and fold the registry up to the smallest answer.
    fn resume(&mut self, head: Option<Position>, lifecycle: Lifecycle, ctx: &mut Context<Self>) {
        let mut created = HashMap::new();
        let mut deleted = HashMap::new();
        for (position, event) in &lifecycle {
            match event {
                DomainEvent::WebhookCreated(e) => {
                    created.entry(e.webhook_id).or_insert(*position);
                }
                DomainEvent::WebhookDeleted(e) => {
                    deleted.entry(e.webhook_id).or_insert(*position);
                }
                _ => {}
            }
        }
        let shard = self.config.shard;
        let ids: Vec<WebhookId> = created.keys().copied().filter(|id| shard.owns(*id)).collect();
        let asks: Vec<_> = ids
            .iter()
            .map(|id| {
                let addr = self.start_actor(*id, None);
                async move { addr.send(ResumePoint).await }
            })
            .collect();
        let work = futures::future::join_all(asks);
        ctx.wait(work.into_actor(self).map(move |answers, act, ctx| {
            // A webhook needs the log after max(its resume point, its creation); a deleted one
            // whose needs end before its deletion needs nothing.
            let mut start = head;
            for (id, answer) in ids.iter().zip(answers) {
                let resume = match answer {
                    Ok(resume) => resume,
                    Err(error) => {
                        tracing::error!(webhook = %id, %error, "webhook actor did not start");
                        continue;
                    }
                };
                let needed = resume.max(created.get(id).copied());
                if let (Some(needed), Some(gone)) = (needed, deleted.get(id)) {
                    if needed >= *gone {
                        // Deleted, and routing passed the deletion before: nothing to route.
                        act.retire(*id, *gone, ctx);
                        continue;
                    }
                }
                start = match (start, needed) {
                    (Some(s), Some(n)) => Some(s.min(n)),
                    (s, n) => s.or(n),
                };
            }
            let mut current = View::default();
            for (position, event) in &lifecycle {
                if start.is_some_and(|s| *position <= s) {
                    act.view.apply(event);
                }
                current.apply(event);
            }
            act.current = head.map(|head| (head, current));
            for id in &ids {
                act.retarget(*id, None, ctx);
            }
            let shard = act.config.shard;
            let from = start.map_or_else(|| "start".to_owned(), |p| p.to_string());
            tracing::info!(from, webhooks = ids.len(), shard = %format_args!("{}/{}", shard.index, shard.count), "dispatcher resuming");
            act.last_position = start;
            act.subscribe(ctx);
        }));
    }
}

/// Sends `msg` to a webhook actor without queueing past its mailbox's bound
/// (`DeliveryConfig::mailbox_capacity`). Once the mailbox is full, the address that sent
/// the message that filled it is parked until the actor takes a message out; a message for
/// it meanwhile is sent and then waited for: the dispatcher handles nothing else (the
/// subscription waits with it) until the actor has taken that message in, so a slow actor
/// holds routing back instead of filling memory. An actor that has stopped is skipped (the
/// dispatcher notices it at its next routed event).
fn send_bounded<M>(addr: &Addr<WebhookActor>, msg: M, metrics: &DeliveryMetrics, ctx: &mut Context<Dispatcher>)
where
    M: actix::Message<Result = ()> + Send + 'static,
    M::Result: Send,
    WebhookActor: Handler<M>,
{
    match addr.try_send(msg) {
        Ok(()) | Err(SendError::Closed(_)) => {}
        Err(SendError::Full(msg)) => {
            metrics.mailbox_waited();
            ctx.wait(actix::fut::wrap_future(futures::FutureExt::map(addr.send(msg), |_| ())));
        }
    }
}

/// The webhook a `webhook-{id}` stream belongs to.
fn webhook_of(recorded: &RecordedEvent) -> Option<WebhookId> {
    recorded.stream.strip_prefix(WEBHOOK).and_then(|id| WebhookId::parse(id).ok())
}

/// Reads the account and webhook streams' history (up to the caught-up signal), and the
/// head of the log before it.
async fn read_lifecycle(store: Arc<dyn EventStore>) -> Result<(Option<Position>, Lifecycle), DeliveryError> {
    let head = store.head().await?;
    let filter = SubscriptionFilter::StreamPrefix(vec![ACCOUNT.into(), WEBHOOK.into()]);
    let mut subscription = store.subscribe_to_all(SubscribeFrom::Start, Some(filter)).await?;
    let mut events = Vec::new();
    while let Some(item) = subscription.next().await {
        match item? {
            SubscriptionEvent::Event(recorded) => {
                if head.is_some_and(|h| recorded.position > h) {
                    break;
                }
                match DomainEvent::decode(&recorded.event_type, &recorded.data) {
                    Ok(event) => events.push((recorded.position, event)),
                    Err(error) => {
                        tracing::error!(stream = %recorded.stream, error = &error as &dyn std::error::Error, "undecodable event skipped")
                    }
                }
            }
            SubscriptionEvent::CaughtUp => break,
            SubscriptionEvent::Checkpoint(_) => {}
        }
    }
    Ok((head, events))
}

impl Actor for Dispatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let store = self.store.clone();
        ctx.wait(read_lifecycle(store).into_actor(self).map(|read, act, ctx| match read {
            Ok((head, lifecycle)) => act.resume(head, lifecycle, ctx),
            Err(error) => {
                tracing::error!(
                    error = &error as &dyn std::error::Error,
                    "dispatcher cannot read the lifecycle history; stopping"
                );
                ctx.stop();
            }
        }));
    }
}

impl StreamHandler<Result<SubscriptionEvent, StoreError>> for Dispatcher {
    fn handle(&mut self, item: Result<SubscriptionEvent, StoreError>, ctx: &mut Context<Self>) {
        match item {
            Ok(SubscriptionEvent::Event(recorded)) => self.on_event(recorded, ctx),
            Ok(SubscriptionEvent::Checkpoint(position)) => {
                self.last_position = self.last_position.max(Some(position));
            }
            Ok(SubscriptionEvent::CaughtUp) => {
                match self.last_position {
                    Some(at) => tracing::info!(position = at.commit, "dispatcher caught up"),
                    None => tracing::info!("dispatcher caught up on an empty log"),
                }
                // Everything up to the head read at start is routed: the views agree now.
                self.current = None;
                self.progress(ctx);
            }
            Err(error) => {
                tracing::warn!(error = &error as &dyn std::error::Error, "subscription to $all failed; resubscribing")
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        self.resubscribe_later(ctx);
    }
}

impl Handler<StopDispatcher> for Dispatcher {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: StopDispatcher, ctx: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        // Idle actors record how far routing got, so the next start resumes from there.
        self.progress(ctx);
        let stops: Vec<_> = self.actors.values().filter(|a| a.connected()).map(|a| a.send(Stop)).collect();
        Box::pin(futures::future::join_all(stops).into_actor(self).map(|_, act, ctx| {
            for arbiter in &act.arbiters {
                arbiter.stop();
            }
            ctx.stop()
        }))
    }
}
