//! The routing registry: a fold over account and webhook lifecycle events that answers
//! "which webhooks does this submission go to?".
//!
//! The dispatcher applies every event of the log, in log order, and asks for the route of
//! each submission as it passes. So the answer for a submission at position *p* is computed
//! from exactly the events before *p*: the same live, after a restart and in a replay
//! (DESIGN.md, "Routing invariant").

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::account::Plan;
use crate::webhook::{EventType, Webhook};
use crate::{AccountId, DomainEvent, WebhookId};

/// What the registry knows of a webhook: its state, as folded by [`Webhook::apply`].
pub type WebhookView = Webhook;

#[derive(Clone, Debug, Default)]
pub struct Registry {
    plans: HashMap<AccountId, Plan>,
    /// Existing webhooks; deleted ones are removed.
    webhooks: HashMap<WebhookId, WebhookView>,
    /// Each account's existing webhooks, in creation order (at most a handful).
    by_account: HashMap<AccountId, Vec<WebhookId>>,
}

impl Registry {
    pub fn new() -> Self {
        Registry::default()
    }

    /// Folds one event of the log; events that do not concern routing are ignored, and a
    /// `WebhookCreated` for a webhook already known is ignored, so an at-least-once feed is safe.
    pub fn apply(&mut self, event: &DomainEvent) {
        match event {
            DomainEvent::AccountPlanChanged(e) => {
                self.plans.insert(e.account_id.clone(), e.plan);
            }
            DomainEvent::WebhookCreated(e) => {
                if let Entry::Vacant(slot) = self.webhooks.entry(e.webhook_id) {
                    slot.insert(Webhook::created(e));
                    self.by_account.entry(e.account_id.clone()).or_default().push(e.webhook_id);
                }
            }
            DomainEvent::WebhookDeleted(e) => {
                if let Some(webhook) = self.webhooks.remove(&e.webhook_id) {
                    if let Some(ids) = self.by_account.get_mut(&webhook.account_id) {
                        ids.retain(|id| *id != e.webhook_id);
                    }
                }
            }
            DomainEvent::WebhookUpdated(e) => self.apply_to(e.webhook_id, event),
            DomainEvent::WebhookSecretRotated(e) => self.apply_to(e.webhook_id, event),
            DomainEvent::WebhookDisabled(e) => self.apply_to(e.webhook_id, event),
            DomainEvent::WebhookEnabled(e) => self.apply_to(e.webhook_id, event),
            _ => {}
        }
    }

    fn apply_to(&mut self, id: WebhookId, event: &DomainEvent) {
        if let Some(webhook) = self.webhooks.get_mut(&id) {
            webhook.apply(event);
        }
    }

    /// The webhooks a submission of `kind` from `account` goes to now: existing, enabled,
    /// subscribed to `kind`, of an account on growth or scale. Allocates nothing.
    pub fn route(&self, account: &AccountId, kind: EventType) -> Route<'_> {
        Route { ids: self.routable_ids(account).iter(), webhooks: &self.webhooks, kind: Some(kind) }
    }

    /// Where an event of the log goes: a submission by [`Registry::route`], a test event to
    /// its webhook if that is routable now (whatever it subscribes to); anything else nowhere.
    pub fn route_event(&self, event: &DomainEvent) -> Route<'_> {
        match event {
            DomainEvent::CandidateInterested(e) => self.route(&e.account_id, EventType::Interested),
            DomainEvent::CandidateDeclined(e) => self.route(&e.account_id, EventType::Declined),
            DomainEvent::TestEventRequested(e) => {
                let ids = match self.webhooks.get_key_value(&e.webhook_id) {
                    Some((id, webhook)) if self.plan_allows_webhooks(&webhook.account_id) => std::slice::from_ref(id),
                    _ => &[],
                };
                Route { ids: ids.iter(), webhooks: &self.webhooks, kind: None }
            }
            _ => Route { ids: [].iter(), webhooks: &self.webhooks, kind: None },
        }
    }

    /// An existing (not deleted) webhook.
    pub fn webhook(&self, id: &WebhookId) -> Option<&WebhookView> {
        self.webhooks.get(id)
    }

    /// Every existing webhook, in no particular order.
    pub fn webhooks(&self) -> impl Iterator<Item = &WebhookView> {
        self.webhooks.values()
    }

    /// An account's existing webhooks, in creation order.
    pub fn webhooks_of(&self, account: &AccountId) -> impl Iterator<Item = &WebhookView> {
        self.ids_of(account).iter().filter_map(|id| self.webhooks.get(id))
    }

    /// How many webhooks the account has (enabled or disabled; deleted ones not counted).
    pub fn live_webhooks(&self, account: &AccountId) -> usize {
        self.ids_of(account).len()
    }

    pub fn plan(&self, account: &AccountId) -> Option<Plan> {
        self.plans.get(account).copied()
    }

    fn ids_of(&self, account: &AccountId) -> &[WebhookId] {
        self.by_account.get(account).map_or(&[], Vec::as_slice)
    }

    fn plan_allows_webhooks(&self, account: &AccountId) -> bool {
        self.plan(account).is_some_and(Plan::allows_webhooks)
    }

    fn routable_ids(&self, account: &AccountId) -> &[WebhookId] {
        if self.plan_allows_webhooks(account) {
            self.ids_of(account)
        } else {
            &[]
        }
    }
}

/// The webhooks an event is routed to; see [`Registry::route`].
#[derive(Clone, Debug)]
pub struct Route<'a> {
    ids: std::slice::Iter<'a, WebhookId>,
    webhooks: &'a HashMap<WebhookId, WebhookView>,
    /// `None` for a test event, which goes to its webhook whatever it subscribes to.
    kind: Option<EventType>,
}

impl Iterator for Route<'_> {
    type Item = WebhookId;

    fn next(&mut self) -> Option<WebhookId> {
        let (webhooks, kind) = (self.webhooks, self.kind);
        self.ids.by_ref().copied().find(|id| {
            webhooks
                .get(id)
                .is_some_and(|w| w.is_enabled() && kind.is_none_or(|kind| w.subscribes_to(kind)))
        })
    }
}
