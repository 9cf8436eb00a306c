//! Health: the failing and recovered flags that follow attempts, the auto-disable timer on
//! the injected clock, and the disable itself, appended to the webhook's lifecycle stream.
//! Every change is logged at info for the operator, with the webhook, its account and the
//! error code.

use actix::prelude::*;
use chrono::{DateTime, Utc};
use packhooks_domain::delivery::{auto_disable_at, auto_disable_due, DeliverySource, DisableReason};
use packhooks_domain::webhook::{decide, fold, DisableWebhook, DisabledBy, UrlPolicy, WebhookContext};
use packhooks_domain::{DomainEvent, EventMetadata, WebhookId};
use packhooks_store::{read_stream_to_end, EventStore, ExpectedRevision, StoreError, StreamPosition};

use super::WebhookActor;
use crate::outcome::{self, IdText};
use crate::DeliveryError;

/// Tries of the auto-disable's read, decide and append when the webhook stream keeps
/// changing under it (an owner's command in between).
const DISABLE_TRIES: usize = 5;

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

    /// Appends `WebhookDisabled {by: auto}` to `webhook-{id}`, decided by the domain on the
    /// stream's current state and appended with that state's revision.
    pub(super) fn disable(&mut self, reason: DisableReason, ctx: &mut Context<Self>) {
        if self.disabling || self.webhook.active != Some(true) {
            return;
        }
        self.disabling = true;
        let (store, clock, id, policy) = (self.store.clone(), self.clock.clone(), self.id, self.config.url_policy());
        let text = reason.text();
        let work = async move {
            for _ in 0..DISABLE_TRIES {
                match disable_once(&*store, id, &text, clock.now(), policy).await {
                    Err(DeliveryError::Store(StoreError::WrongExpectedVersion { .. })) => continue,
                    other => return other.map(|()| text),
                }
            }
            Err(DeliveryError::Timeout("the webhook stream kept changing"))
        };
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            act.disabling = false;
            match result {
                Ok(text) => {
                    tracing::info!(webhook = %act.id, account = act.webhook.account(), reason_code = reason.code(), reason = %text, "webhook disabled automatically");
                    act.webhook.active = Some(false);
                    act.pump(ctx);
                }
                Err(error) => {
                    tracing::error!(webhook = %act.id, error = &error as &dyn std::error::Error, "could not disable the webhook")
                }
            }
        }));
    }
}

async fn disable_once(
    store: &dyn EventStore,
    id: WebhookId,
    reason: &str,
    now: DateTime<Utc>,
    url_policy: UrlPolicy,
) -> Result<(), DeliveryError> {
    let stream = id.stream();
    let recorded = read_stream_to_end(store, &stream, StreamPosition::Start).await?;
    let Some(last) = recorded.last().map(|r| r.revision) else { return Ok(()) };
    let events = recorded
        .iter()
        .map(|r| {
            DomainEvent::decode(&r.event_type, &r.data).map_err(|source| DeliveryError::Decode {
                stream: stream.clone(),
                revision: r.revision,
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let state = fold(&events);
    // Disabling needs nothing of the context; it is filled because `decide` takes one.
    let context = WebhookContext { plan: None, live_webhooks_of_account: 0, max_webhooks: 0, url_policy };
    let command = DisableWebhook { by: DisabledBy::Auto, reason: reason.to_owned(), now };
    let decided = match decide(&state, command, &context) {
        Ok(events) => events,
        Err(_) => return Ok(()), // deleted meanwhile: nothing to disable
    };
    if decided.is_empty() {
        return Ok(());
    }
    let metadata = EventMetadata::correlated(id);
    let data = decided.iter().map(|e| outcome::with_metadata(e, &metadata)).collect();
    store.append(&stream, ExpectedRevision::Exact(last), data).await?;
    Ok(())
}
