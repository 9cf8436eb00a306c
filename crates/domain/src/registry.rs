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
        let plan = self.plan(account);
        let ids = if plan_allows_webhooks(plan) { self.ids_of(account) } else { &[] };
        Route { ids: ids.iter(), webhooks: &self.webhooks, plan, kind: Some(kind) }
    }

    /// Whether deliveries may go to this webhook now (see [`receives_deliveries`]).
    pub fn receives_deliveries(&self, webhook: &WebhookView) -> bool {
        receives_deliveries(self.plan(&webhook.account_id), webhook)
    }

    /// Where an event of the log goes: a submission by [`Registry::route`], a test event to
    /// its webhook if that is routable now (whatever it subscribes to); anything else nowhere.
    pub fn route_event(&self, event: &DomainEvent) -> Route<'_> {
        match event {
            DomainEvent::CandidateInterested(e) => self.route(&e.account_id, EventType::Interested),
            DomainEvent::CandidateDeclined(e) => self.route(&e.account_id, EventType::Declined),
            DomainEvent::TestEventRequested(e) => {
                let (ids, plan) = match self.webhooks.get_key_value(&e.webhook_id) {
                    Some((id, webhook)) => (std::slice::from_ref(id), self.plan(&webhook.account_id)),
                    None => (&[][..], None),
                };
                Route { ids: ids.iter(), webhooks: &self.webhooks, plan, kind: None }
            }
            _ => Route { ids: [].iter(), webhooks: &self.webhooks, plan: None, kind: None },
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
}

/// The one rule for "can this webhook receive deliveries now", for routing and for the
/// webhook actors alike: it exists (the caller has it), is enabled, and its account is on a
/// plan with webhooks (`plan`, the account's plan now).
pub fn receives_deliveries(plan: Option<Plan>, webhook: &WebhookView) -> bool {
    webhook.is_enabled() && plan_allows_webhooks(plan)
}

fn plan_allows_webhooks(plan: Option<Plan>) -> bool {
    plan.is_some_and(Plan::allows_webhooks)
}

/// The webhooks an event is routed to; see [`Registry::route`].
#[derive(Clone, Debug)]
pub struct Route<'a> {
    ids: std::slice::Iter<'a, WebhookId>,
    webhooks: &'a HashMap<WebhookId, WebhookView>,
    /// The plan of the account the webhooks belong to.
    plan: Option<Plan>,
    /// `None` for a test event, which goes to its webhook whatever it subscribes to.
    kind: Option<EventType>,
}

impl Iterator for Route<'_> {
    type Item = WebhookId;

    fn next(&mut self) -> Option<WebhookId> {
        let (webhooks, plan, kind) = (self.webhooks, self.plan, self.kind);
        self.ids.by_ref().copied().find(|id| {
            webhooks
                .get(id)
                .is_some_and(|w| receives_deliveries(plan, w) && kind.is_none_or(|kind| w.subscribes_to(kind)))
        })
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::submission::{
        CandidateDeclined, CandidateInterested, DeclineReason, DeclinedCandidate, InterestedCandidate, StandardReason,
    };
    use crate::testkit::fixtures::{acc, created, plan_changed, secret, t, wh};
    use crate::webhook::{
        DisabledBy, TestEventRequested, WebhookDeleted, WebhookDisabled, WebhookEnabled, WebhookSecretRotated,
        WebhookUpdated,
    };
    use crate::{PackId, SubmissionId, TestEventId};

    const BOTH: &[EventType] = &[EventType::Interested, EventType::Declined];

    fn interested(account: &str, n: u128) -> DomainEvent {
        CandidateInterested {
            submission_id: SubmissionId::from_uuid(Uuid::from_u128(n)),
            account_id: acc(account),
            pack_id: PackId::parse("pk_1").expect("pack"),
            pack_name: "Pack".into(),
            candidate: InterestedCandidate::default(),
            submitted_at: t(n as i64),
        }
        .into()
    }

    fn declined(account: &str, n: u128) -> DomainEvent {
        CandidateDeclined {
            submission_id: SubmissionId::from_uuid(Uuid::from_u128(n)),
            account_id: acc(account),
            pack_id: PackId::parse("pk_1").expect("pack"),
            pack_name: "Pack".into(),
            candidate: DeclinedCandidate::default(),
            reason: DeclineReason::Standard(StandardReason::Timing),
            feedback: None,
            submitted_at: t(n as i64),
        }
        .into()
    }

    fn disabled(id: WebhookId) -> DomainEvent {
        WebhookDisabled { webhook_id: id, by: DisabledBy::Owner, reason: "off".into(), recorded_at: t(0) }.into()
    }

    fn enabled(id: WebhookId) -> DomainEvent {
        WebhookEnabled { webhook_id: id, recorded_at: t(0) }.into()
    }

    fn deleted(id: WebhookId) -> DomainEvent {
        WebhookDeleted { webhook_id: id, recorded_at: t(0) }.into()
    }

    fn test_event(id: WebhookId, account: &str, kind: EventType) -> DomainEvent {
        TestEventRequested {
            webhook_id: id,
            account_id: acc(account),
            test_id: TestEventId::from_uuid(Uuid::from_u128(77)),
            event: kind,
            recorded_at: t(0),
        }
        .into()
    }

    /// Follows a log as the dispatcher does: apply every event in order, and note where
    /// each submission or test event was routed at its point of the log.
    fn routes(log: &[DomainEvent]) -> Vec<Vec<WebhookId>> {
        let mut registry = Registry::new();
        let mut out = Vec::new();
        for event in log {
            if matches!(
                event,
                DomainEvent::CandidateInterested(_)
                    | DomainEvent::CandidateDeclined(_)
                    | DomainEvent::TestEventRequested(_)
            ) {
                out.push(registry.route_event(event).collect());
            }
            registry.apply(event);
        }
        out
    }

    fn registry(log: &[DomainEvent]) -> Registry {
        let mut registry = Registry::new();
        log.iter().for_each(|e| registry.apply(e));
        registry
    }

    #[test]
    fn routes_to_the_enabled_subscribed_webhooks_of_the_account() {
        let r = registry(&[
            plan_changed("acc_7", Plan::Growth, None, 0),
            plan_changed("acc_8", Plan::Scale, None, 0),
            created(wh(1), "acc_7", BOTH, 0),
            created(wh(2), "acc_7", &[EventType::Declined], 0),
            created(wh(3), "acc_7", &[EventType::Interested], 0),
            created(wh(4), "acc_8", BOTH, 0),
        ]);
        assert_eq!(r.route(&acc("acc_7"), EventType::Interested).collect::<Vec<_>>(), vec![wh(1), wh(3)]);
        assert_eq!(r.route(&acc("acc_7"), EventType::Declined).collect::<Vec<_>>(), vec![wh(1), wh(2)]);
        assert_eq!(r.route(&acc("acc_8"), EventType::Declined).collect::<Vec<_>>(), vec![wh(4)]);
        assert_eq!(r.route(&acc("acc_9"), EventType::Declined).count(), 0);
        assert_eq!(r.route_event(&interested("acc_7", 1)).collect::<Vec<_>>(), vec![wh(1), wh(3)]);
        assert_eq!(r.route_event(&declined("acc_8", 1)).collect::<Vec<_>>(), vec![wh(4)]);
        assert_eq!(r.route_event(&plan_changed("acc_7", Plan::Growth, None, 0)).count(), 0);
    }

    #[test]
    fn nothing_routes_for_an_account_without_a_webhook_plan() {
        // A webhook can exist for an account whose plan packhooks never saw (or that moved to
        // starter); it gets nothing until the plan allows webhooks.
        let log = [
            created(wh(1), "acc_7", BOTH, 0),
            interested("acc_7", 1),
            plan_changed("acc_7", Plan::Starter, None, 2),
            interested("acc_7", 3),
            plan_changed("acc_7", Plan::Growth, Some(Plan::Starter), 4),
            interested("acc_7", 5),
        ];
        assert_eq!(routes(&log), vec![vec![], vec![], vec![wh(1)]]);
    }

    #[test]
    fn a_move_to_starter_stops_routing_and_a_move_back_resumes_it() {
        let log = [
            plan_changed("acc_7", Plan::Scale, None, 0),
            created(wh(1), "acc_7", BOTH, 0),
            interested("acc_7", 1),
            plan_changed("acc_7", Plan::Starter, Some(Plan::Scale), 2),
            interested("acc_7", 3),
            declined("acc_7", 4),
            plan_changed("acc_7", Plan::Growth, Some(Plan::Starter), 5),
            declined("acc_7", 6),
        ];
        assert_eq!(routes(&log), vec![vec![wh(1)], vec![], vec![], vec![wh(1)]]);
    }

    #[test]
    fn disabling_stops_routing_and_enabling_resumes_it() {
        let log = [
            plan_changed("acc_7", Plan::Growth, None, 0),
            created(wh(1), "acc_7", BOTH, 0),
            created(wh(2), "acc_7", BOTH, 0),
            interested("acc_7", 1),
            disabled(wh(1)),
            interested("acc_7", 2),
            enabled(wh(1)),
            interested("acc_7", 3),
        ];
        assert_eq!(routes(&log), vec![vec![wh(1), wh(2)], vec![wh(2)], vec![wh(1), wh(2)]]);
    }

    #[test]
    fn deleting_stops_routing_for_good_and_frees_a_slot() {
        let log = [
            plan_changed("acc_7", Plan::Growth, None, 0),
            created(wh(1), "acc_7", BOTH, 0),
            created(wh(2), "acc_7", BOTH, 0),
            interested("acc_7", 1),
            deleted(wh(1)),
            interested("acc_7", 2),
            // Events after deletion change nothing.
            enabled(wh(1)),
            interested("acc_7", 3),
        ];
        assert_eq!(routes(&log), vec![vec![wh(1), wh(2)], vec![wh(2)], vec![wh(2)]]);
        let r = registry(&log);
        assert_eq!(r.live_webhooks(&acc("acc_7")), 1);
        assert!(r.webhook(&wh(1)).is_none());
        assert_eq!(r.webhooks_of(&acc("acc_7")).map(|w| w.id).collect::<Vec<_>>(), vec![wh(2)]);
        assert_eq!(r.webhooks().count(), 1);
    }

    #[test]
    fn a_webhook_created_later_gets_only_later_submissions() {
        let log = [
            plan_changed("acc_7", Plan::Growth, None, 0),
            created(wh(1), "acc_7", BOTH, 0),
            declined("acc_7", 1),
            created(wh(2), "acc_7", &[EventType::Declined], 2),
            declined("acc_7", 3),
        ];
        assert_eq!(routes(&log), vec![vec![wh(1)], vec![wh(1), wh(2)]]);
    }

    #[test]
    fn changing_the_event_types_changes_the_route_from_that_point() {
        let log = [
            plan_changed("acc_7", Plan::Growth, None, 0),
            created(wh(1), "acc_7", BOTH, 0),
            interested("acc_7", 1),
            WebhookUpdated {
                webhook_id: wh(1),
                url: "https://x.example.com/".into(),
                events: vec![EventType::Declined],
                description: None,
                format: Default::default(),
                recorded_at: t(2),
            }
            .into(),
            interested("acc_7", 3),
            declined("acc_7", 4),
        ];
        assert_eq!(routes(&log), vec![vec![wh(1)], vec![], vec![wh(1)]]);
        assert_eq!(registry(&log).webhook(&wh(1)).expect("exists").url, "https://x.example.com/");
    }

    #[test]
    fn a_test_event_goes_to_its_webhook_whatever_it_subscribes_to_while_routable() {
        let log = [
            plan_changed("acc_7", Plan::Growth, None, 0),
            created(wh(1), "acc_7", &[EventType::Declined], 0),
            created(wh(2), "acc_7", BOTH, 0),
            test_event(wh(1), "acc_7", EventType::Interested),
            disabled(wh(1)),
            test_event(wh(1), "acc_7", EventType::Interested),
            enabled(wh(1)),
            plan_changed("acc_7", Plan::Starter, Some(Plan::Growth), 1),
            test_event(wh(1), "acc_7", EventType::Declined),
            plan_changed("acc_7", Plan::Growth, Some(Plan::Starter), 2),
            deleted(wh(1)),
            test_event(wh(1), "acc_7", EventType::Declined),
        ];
        assert_eq!(routes(&log), vec![vec![wh(1)], vec![], vec![], vec![]]);
    }

    #[test]
    fn the_view_carries_account_url_events_status_and_both_secrets() {
        let r = registry(&[
            plan_changed("acc_7", Plan::Growth, None, 0),
            plan_changed("acc_7", Plan::Scale, Some(Plan::Growth), 1),
            created(wh(1), "acc_7", BOTH, 0),
            WebhookSecretRotated {
                webhook_id: wh(1),
                secret: secret(2),
                secret_version: 2,
                previous_valid_until: t(500),
                recorded_at: t(10),
            }
            .into(),
            disabled(wh(1)),
        ]);
        assert_eq!(r.plan(&acc("acc_7")), Some(Plan::Scale));
        assert_eq!(r.plan(&acc("acc_9")), None);
        let view = r.webhook(&wh(1)).expect("exists");
        assert_eq!(view.account_id, acc("acc_7"));
        assert_eq!(view.url, "https://hooks.example.com/in");
        assert_eq!(view.events, BOTH);
        assert!(!view.is_enabled());
        assert_eq!(view.secrets.current, secret(2));
        let previous = view.secrets.previous.as_ref().expect("previous secret");
        assert_eq!((previous.secret.clone(), previous.valid_until), (secret(1), t(500)));
        assert_eq!(view.secrets.signing_at(t(499)).count(), 2);
        assert_eq!(r.live_webhooks(&acc("acc_7")), 1);
    }

    #[test]
    fn a_repeated_creation_is_ignored() {
        let r = registry(&[
            plan_changed("acc_7", Plan::Growth, None, 0),
            created(wh(1), "acc_7", BOTH, 0),
            disabled(wh(1)),
            created(wh(1), "acc_7", BOTH, 0),
        ]);
        assert_eq!(r.live_webhooks(&acc("acc_7")), 1);
        assert!(!r.webhook(&wh(1)).expect("exists").is_enabled(), "the duplicate must not reset the state");
    }

    #[test]
    fn the_registry_agrees_with_the_stream_fold() {
        let stream = [
            created(wh(1), "acc_7", BOTH, 0),
            WebhookSecretRotated {
                webhook_id: wh(1),
                secret: secret(2),
                secret_version: 2,
                previous_valid_until: t(500),
                recorded_at: t(10),
            }
            .into(),
            disabled(wh(1)),
            enabled(wh(1)),
        ];
        let folded = crate::webhook::fold(&stream);
        assert_eq!(registry(&stream).webhook(&wh(1)), folded.active());
    }

    #[test]
    fn a_webhook_receives_deliveries_while_enabled_and_its_account_is_on_a_webhook_plan() {
        let receives = |log: &[DomainEvent]| {
            let r = registry(log);
            r.webhook(&wh(1)).is_some_and(|w| r.receives_deliveries(w))
        };
        let on = [plan_changed("acc_7", Plan::Growth, None, 0), created(wh(1), "acc_7", BOTH, 0)];
        assert!(receives(&on));
        assert!(!receives(&[created(wh(1), "acc_7", BOTH, 0)]), "no plan yet");
        assert!(!receives(&[on[0].clone(), on[1].clone(), disabled(wh(1))]));
        assert!(!receives(&[on[0].clone(), on[1].clone(), plan_changed("acc_7", Plan::Starter, None, 1)]));
        assert!(!receives(&[on[0].clone(), on[1].clone(), deleted(wh(1))]), "deleted: not there at all");
        assert!(receives(&[on[0].clone(), on[1].clone(), disabled(wh(1)), enabled(wh(1))]));
    }
}
