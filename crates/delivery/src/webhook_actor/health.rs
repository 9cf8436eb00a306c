//! Health: the failing and recovered flags that follow attempts, the auto-disable timer on
//! the injected clock, and the disable itself, appended to the webhook's lifecycle stream.
//! Every change is logged at info for the operator, with the webhook, its account and the
//! error code.

use actix::prelude::*;
use packhooks_command::{Command, CommandError};
use packhooks_domain::delivery::{auto_disable_at, auto_disable_due, DeliverySource, DisableReason};
use packhooks_domain::webhook::{decide, fold, DisableWebhook, DisabledBy, UrlPolicy, WebhookContext};
use packhooks_domain::{DomainError, DomainEvent, WebhookId};
use packhooks_store::EventStore;

use super::WebhookActor;
use crate::outcome::IdText;

impl WebhookActor {
    /// An event the rules decided after an attempt (abandoned, flagged failing, recovered):
    /// folded into the health, logged, and buffered. `cause` is the attempt's error code
    /// and HTTP status, if it failed.
    pub(super) fn follow(
        &mut self,
        event: DomainEvent,
        source: &DeliverySource,
        delivery: &IdText,
        cause: Option<(&str, Option<u16>)>,
        ctx: &mut Context<Self>,
    ) {
        self.state.health = self.state.health.evolve(&event);
        let (account, delivery_id) = (self.webhook.account(), delivery.as_str());
        let (error_code, status_code) = cause.map_or((None, None), |(code, status)| (Some(code), status));
        match &event {
            DomainEvent::DeliveryAbandoned(e) => {
                self.config.metrics.abandoned();
                tracing::info!(webhook = %self.id, account, delivery = delivery_id, attempts = e.attempts, error_code, status_code, "delivery abandoned");
            }
            DomainEvent::WebhookFlaggedFailing(_) => {
                tracing::info!(webhook = %self.id, account, delivery = delivery_id, error_code, status_code, "webhook flagged failing");
                self.arm_auto_disable(ctx);
            }
            DomainEvent::WebhookRecovered(_) => {
                tracing::info!(webhook = %self.id, account, delivery = delivery_id, "webhook recovered");
            }
            _ => {}
        }
        self.push(&event, source, delivery);
    }

    /// Arms the auto-disable timer of a failing webhook, on the injected clock.
    pub(super) fn arm_auto_disable(&mut self, ctx: &mut Context<Self>) {
        if let Some(at) = auto_disable_at(&self.state.health, self.webhook.now(), self.config.auto_disable_after) {
            self.at(at, ctx, |act, ctx| act.check_auto_disable(ctx));
        }
    }

    fn check_auto_disable(&mut self, ctx: &mut Context<Self>) {
        let (now, after) = (self.clock.now(), self.config.auto_disable_after);
        if let Some(reason) = auto_disable_due(&self.state.health, self.webhook.now(), now, after) {
            self.disable(reason, ctx);
        }
    }

    /// Appends `WebhookDisabled {by: auto}` to `webhook-{id}` through the one command path
    /// (`packhooks_command::run`): decided by the domain on the stream's current state and
    /// appended with that state's revision, decided again when an owner's command came first.
    pub(super) fn disable(&mut self, reason: DisableReason, ctx: &mut Context<Self>) {
        if self.disabling || !self.webhook.switch.is_active() {
            return;
        }
        self.disabling = true;
        let (store, clock, id, policy) = (self.store.clone(), self.clock.clone(), self.id, self.config.url_policy());
        let text = reason.text();
        let command = DisableWebhook { by: DisabledBy::Auto, reason: text.clone(), now: clock.now() };
        let work = async move { auto_disable(&*store, id, command, policy).await };
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            act.disabling = false;
            let (webhook, account) = (act.id, act.webhook.account());
            match result {
                Ok(AutoDisabled::Disabled) => {
                    tracing::info!(webhook = %webhook, account, reason_code = reason.code(), reason = %text, "webhook disabled automatically");
                }
                Ok(AutoDisabled::AlreadyOff(why)) => {
                    tracing::debug!(webhook = %webhook, account, reason_code = reason.code(), why, "webhook not disabled automatically: it is off already");
                }
                Err(error) => {
                    tracing::error!(webhook = %webhook, error = &error as &dyn std::error::Error, "could not disable the webhook");
                    return;
                }
            }
            act.webhook.switch.disabled();
            act.pump(ctx);
        }));
    }
}

/// What an automatic disable came to when it was not refused.
#[derive(Debug, PartialEq, Eq)]
enum AutoDisabled {
    /// `WebhookDisabled` was appended.
    Disabled,
    /// Nothing to do, a normal outcome: the webhook was disabled, deleted (or never
    /// existed) by the time the command read its stream.
    AlreadyOff(&'static str),
}

/// Runs the automatic disable through the one command path. The domain's refusals that mean
/// "the webhook is off already" are outcomes, told apart here; any other refusal, a store
/// failure or a stream that kept changing is the caller's error.
async fn auto_disable(
    store: &dyn EventStore,
    id: WebhookId,
    command: DisableWebhook,
    url_policy: UrlPolicy,
) -> Result<AutoDisabled, CommandError> {
    // Disabling needs nothing of the context; it is filled because `decide` takes one.
    let context = WebhookContext { plan: None, live_webhooks_of_account: 0, max_webhooks: 0, url_policy };
    let stream = id.stream();
    let ran = packhooks_command::run(store, &Command::on(&stream).correlated(id), |events| {
        decide(&fold(events), command.clone(), &context).map_err(CommandError::Domain)
    })
    .await;
    match ran {
        Ok(ran) if ran.appended.is_some() => Ok(AutoDisabled::Disabled),
        Ok(_) => Ok(AutoDisabled::AlreadyOff("disabled")),
        Err(CommandError::Domain(DomainError::WebhookDeleted)) => Ok(AutoDisabled::AlreadyOff("deleted")),
        Err(CommandError::Domain(DomainError::WebhookNotFound)) => Ok(AutoDisabled::AlreadyOff("not found")),
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use packhooks_command::read_events;
    use packhooks_domain::webhook::{EventType, Secret, WebhookCreated, WebhookDeleted, MAX_REASON};
    use packhooks_domain::AccountId;
    use packhooks_store::sqlite::SqliteStore;
    use uuid::Uuid;

    use super::*;

    fn disable(reason: &str) -> DisableWebhook {
        let now = Utc.with_ymd_and_hms(2026, 12, 8, 9, 0, 0).single().expect("a time");
        DisableWebhook { by: DisabledBy::Auto, reason: reason.to_owned(), now }
    }

    async fn append(store: &dyn EventStore, id: WebhookId, event: DomainEvent) {
        let stream = id.stream();
        packhooks_command::run(store, &Command::on(&stream), |_| Ok::<_, CommandError>(vec![event.clone()]))
            .await
            .expect("appended");
    }

    async fn created(store: &dyn EventStore) -> WebhookId {
        let id = WebhookId::from_uuid(Uuid::now_v7());
        let event = WebhookCreated {
            webhook_id: id,
            account_id: AccountId::parse("acc_7").expect("an account id"),
            url: "https://hooks.example.com/in".into(),
            events: vec![EventType::Interested],
            description: None,
            secret: Secret::from_bytes(&[7; 32]),
            secret_version: 1,
            format: Default::default(),
            recorded_at: disable("").now,
        };
        append(store, id, event.into()).await;
        id
    }

    async fn events(store: &dyn EventStore, id: WebhookId) -> Vec<DomainEvent> {
        read_events(store, &id.stream()).await.expect("read")
    }

    /// Real SQLite store. The refusal of the last case was swallowed on the old path (it
    /// answered as if the webhook had been disabled).
    #[tokio::test]
    async fn an_automatic_disable_runs_through_the_command_path_and_tells_a_webhook_already_off_from_a_refusal() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteStore::open(dir.path().join("events.db")).expect("a store");
        let policy = UrlPolicy::default();

        let id = created(&store).await;
        assert_eq!(auto_disable(&store, id, disable("failing"), policy).await.expect("ran"), AutoDisabled::Disabled);
        let stored = events(&store, id).await;
        assert!(
            matches!(stored.as_slice(), [_, DomainEvent::WebhookDisabled(d)] if d.by == DisabledBy::Auto && d.reason == "failing"),
            "{stored:?}"
        );
        let again = auto_disable(&store, id, disable("failing"), policy).await.expect("ran");
        assert_eq!(again, AutoDisabled::AlreadyOff("disabled"));
        assert_eq!(events(&store, id).await.len(), 2, "nothing more appended");

        let gone = created(&store).await;
        append(&store, gone, WebhookDeleted { webhook_id: gone, recorded_at: disable("").now }.into()).await;
        let deleted = auto_disable(&store, gone, disable("failing"), policy).await.expect("ran");
        assert_eq!(deleted, AutoDisabled::AlreadyOff("deleted"));
        assert_eq!(events(&store, gone).await.len(), 2, "nothing appended to a deleted webhook");

        let never = WebhookId::from_uuid(Uuid::now_v7());
        let missing = auto_disable(&store, never, disable("failing"), policy).await.expect("ran");
        assert_eq!(missing, AutoDisabled::AlreadyOff("not found"));

        let refused = created(&store).await;
        let long = "x".repeat(MAX_REASON + 1);
        match auto_disable(&store, refused, disable(&long), policy).await {
            Err(CommandError::Domain(e)) => assert_eq!(e.code(), "invalid_field", "{e}"),
            other => panic!("a refusal other than 'off already' must surface, got {other:?}"),
        }
        assert_eq!(events(&store, refused).await.len(), 1, "nothing appended");
    }
}
