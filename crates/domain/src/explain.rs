//! Why a submission went, or did not go, to a webhook: the routing rule of [`Registry`],
//! asked afterwards with the reason spelled out (`GET /v1/submissions/{id}`).
//!
//! The answer is computed from the same lifecycle events the dispatcher had applied when the
//! submission passed (those before it in log order), so it is the answer the dispatcher gave,
//! live, after a restart and after a rebuild alike (DESIGN.md, "Routing invariant").

use serde::Serialize;

use crate::registry::Registry;
use crate::webhook::EventType;
use crate::{DomainEvent, WebhookId};

/// Why a submission was not routed to a webhook of its account. When several hold, the
/// first in this order is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotRouted {
    /// The webhook was created after the submission.
    NotYetCreated,
    /// The webhook had been deleted before the submission.
    Deleted,
    /// The webhook was disabled (by its owner or automatically) at the time.
    Disabled,
    /// The account was on starter (or packhooks had not been told a plan with webhooks).
    PlanNotEligible,
    /// The webhook did not subscribe to the submission's event type at the time.
    OtherEventType,
}

impl NotRouted {
    pub fn as_str(self) -> &'static str {
        match self {
            NotRouted::NotYetCreated => "not_yet_created",
            NotRouted::Deleted => "deleted",
            NotRouted::Disabled => "disabled",
            NotRouted::PlanNotEligible => "plan_not_eligible",
            NotRouted::OtherEventType => "other_event_type",
        }
    }
}

/// Whether a submission of `kind` was routed to `webhook`, one of its account's, given `before`: the account's and the webhook's lifecycle events that precede
/// the submission in the log, in log order. `Ok(())` exactly when [`Registry::route`] over
/// those events names the webhook.
pub fn routing(before: &[DomainEvent], kind: EventType, webhook: WebhookId) -> Result<(), NotRouted> {
    let mut registry = Registry::new();
    before.iter().for_each(|event| registry.apply(event));
    let Some(view) = registry.webhook(&webhook) else {
        let created = before.iter().any(|e| matches!(e, DomainEvent::WebhookCreated(c) if c.webhook_id == webhook));
        return Err(if created { NotRouted::Deleted } else { NotRouted::NotYetCreated });
    };
    if !view.is_enabled() {
        return Err(NotRouted::Disabled);
    }
    if !registry.receives_deliveries(view) {
        return Err(NotRouted::PlanNotEligible);
    }
    if !view.subscribes_to(kind) {
        return Err(NotRouted::OtherEventType);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Plan;
    use crate::testkit::fixtures::{acc, created, plan_changed, t, wh};
    use crate::webhook::{DisabledBy, WebhookDeleted, WebhookDisabled, WebhookEnabled, WebhookUpdated};

    const BOTH: &[EventType] = &[EventType::Interested, EventType::Declined];

    fn disabled(id: WebhookId) -> DomainEvent {
        WebhookDisabled { webhook_id: id, by: DisabledBy::Owner, reason: "off".into(), recorded_at: t(0) }.into()
    }

    fn why(before: &[DomainEvent], webhook: WebhookId, kind: EventType) -> Result<(), NotRouted> {
        routing(before, kind, webhook)
    }

    #[test]
    fn an_enabled_subscribed_webhook_of_a_growth_account_was_routed() {
        let given = [plan_changed("acc_7", Plan::Growth, None, 0), created(wh(1), "acc_7", BOTH, 0)];
        assert_eq!(why(&given, wh(1), EventType::Interested), Ok(()));
    }

    #[test]
    fn a_webhook_created_after_the_submission_did_not_exist_yet() {
        let given = [plan_changed("acc_7", Plan::Growth, None, 0)];
        assert_eq!(why(&given, wh(1), EventType::Interested), Err(NotRouted::NotYetCreated));
    }

    #[test]
    fn a_webhook_deleted_before_the_submission_was_deleted() {
        let given = [
            plan_changed("acc_7", Plan::Growth, None, 0),
            created(wh(1), "acc_7", BOTH, 0),
            WebhookDeleted { webhook_id: wh(1), recorded_at: t(1) }.into(),
        ];
        assert_eq!(why(&given, wh(1), EventType::Interested), Err(NotRouted::Deleted));
    }

    #[test]
    fn a_disabled_webhook_was_disabled_and_once_enabled_again_is_routed() {
        let mut given =
            vec![plan_changed("acc_7", Plan::Growth, None, 0), created(wh(1), "acc_7", BOTH, 0), disabled(wh(1))];
        assert_eq!(why(&given, wh(1), EventType::Declined), Err(NotRouted::Disabled));
        given.push(WebhookEnabled { webhook_id: wh(1), recorded_at: t(2) }.into());
        assert_eq!(why(&given, wh(1), EventType::Declined), Ok(()));
    }

    #[test]
    fn an_account_on_starter_or_without_a_plan_was_not_eligible() {
        let starter = [
            plan_changed("acc_7", Plan::Growth, None, 0),
            created(wh(1), "acc_7", BOTH, 0),
            plan_changed("acc_7", Plan::Starter, Some(Plan::Growth), 1),
        ];
        assert_eq!(why(&starter, wh(1), EventType::Interested), Err(NotRouted::PlanNotEligible));
        assert_eq!(
            why(&[created(wh(1), "acc_7", BOTH, 0)], wh(1), EventType::Interested),
            Err(NotRouted::PlanNotEligible)
        );
    }

    #[test]
    fn a_webhook_subscribed_to_the_other_type_at_the_time_was_not_routed() {
        let mut given =
            vec![plan_changed("acc_7", Plan::Growth, None, 0), created(wh(1), "acc_7", &[EventType::Declined], 0)];
        assert_eq!(why(&given, wh(1), EventType::Interested), Err(NotRouted::OtherEventType));
        given.push(
            WebhookUpdated {
                webhook_id: wh(1),
                url: "https://hooks.example.com/in".into(),
                events: vec![EventType::Interested],
                description: None,
                format: Default::default(),
                recorded_at: t(3),
            }
            .into(),
        );
        assert_eq!(why(&given, wh(1), EventType::Interested), Ok(()));
        assert_eq!(why(&given, wh(1), EventType::Declined), Err(NotRouted::OtherEventType));
    }

    #[test]
    fn disabled_is_told_before_the_plan_and_the_type() {
        let given = [
            plan_changed("acc_7", Plan::Starter, None, 0),
            created(wh(1), "acc_7", &[EventType::Declined], 0),
            disabled(wh(1)),
        ];
        assert_eq!(why(&given, wh(1), EventType::Interested), Err(NotRouted::Disabled));
    }

    #[test]
    fn the_answer_agrees_with_the_registrys_route_at_every_point_of_a_log() {
        let log: Vec<DomainEvent> = vec![
            created(wh(1), "acc_7", BOTH, 0),
            plan_changed("acc_7", Plan::Growth, None, 0),
            created(wh(2), "acc_7", &[EventType::Declined], 0),
            disabled(wh(1)),
            plan_changed("acc_7", Plan::Starter, Some(Plan::Growth), 1),
            WebhookEnabled { webhook_id: wh(1), recorded_at: t(2) }.into(),
            plan_changed("acc_7", Plan::Scale, Some(Plan::Starter), 3),
            WebhookDeleted { webhook_id: wh(2), recorded_at: t(4) }.into(),
            created(wh(3), "acc_7", &[EventType::Interested], 5),
        ];
        for end in 0..=log.len() {
            let before = &log[..end];
            let mut registry = Registry::new();
            before.iter().for_each(|e| registry.apply(e));
            for kind in [EventType::Interested, EventType::Declined] {
                let routed: Vec<WebhookId> = registry.route(&acc("acc_7"), kind).collect();
                for id in [wh(1), wh(2), wh(3)] {
                    assert_eq!(why(before, id, kind).is_ok(), routed.contains(&id), "{id} {kind:?} after {end} events");
                }
            }
        }
    }
}
