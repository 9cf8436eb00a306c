//! A webhook's state, folded from the events of its `webhook-{id}` stream.
//!
//! The same fold serves the command side ([`decide`](super::decide)), the routing registry
//! ([`Registry`](crate::registry::Registry)) and the audit view of a webhook at a time
//! ([`fold_until`]), so all three agree on what a webhook was.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{DisabledBy, EventType, Secret, WebhookCreated, WebhookFormat};
use crate::{AccountId, DomainEvent, WebhookId};

/// Where a webhook is in its life.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WebhookState {
    /// No `WebhookCreated` yet: the webhook does not exist.
    #[default]
    None,
    Active(Webhook),
    /// Deleted for good; what it was is kept for audits.
    Deleted {
        #[serde(flatten)]
        webhook: Webhook,
        deleted_at: DateTime<Utc>,
    },
}

/// An existing webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Webhook {
    pub id: WebhookId,
    pub account_id: AccountId,
    pub url: String,
    pub events: Vec<EventType>,
    pub description: Option<String>,
    pub format: WebhookFormat,
    pub status: WebhookStatus,
    pub secrets: Secrets,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Whether deliveries go to the webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WebhookStatus {
    Enabled,
    Disabled { by: DisabledBy, reason: String, since: DateTime<Utc> },
}

/// The signing secrets. Serialising shows versions and dates, never a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Secrets {
    #[serde(skip)]
    pub current: Secret,
    /// 1 for the secret the webhook was created with, one more per rotation.
    pub version: u32,
    /// The secret before the last rotation, which keeps signing until `valid_until` so
    /// receivers can switch without dropping messages. A second rotation within the overlap
    /// drops the older one: at most two secrets sign at once.
    pub previous: Option<PreviousSecret>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PreviousSecret {
    #[serde(skip)]
    pub secret: Secret,
    pub version: u32,
    pub valid_until: DateTime<Utc>,
}

impl Secrets {
    /// The secrets that sign a message sent at `at`: the current one, and the previous one
    /// while its overlap lasts (`at < valid_until`).
    pub fn signing_at(&self, at: DateTime<Utc>) -> impl Iterator<Item = &Secret> {
        let previous = self.previous.as_ref().filter(|p| at < p.valid_until).map(|p| &p.secret);
        std::iter::once(&self.current).chain(previous)
    }
}

impl Webhook {
    pub fn created(e: &WebhookCreated) -> Self {
        Webhook {
            id: e.webhook_id,
            account_id: e.account_id.clone(),
            url: e.url.clone(),
            events: e.events.clone(),
            description: e.description.clone(),
            format: e.format,
            status: WebhookStatus::Enabled,
            secrets: Secrets { current: e.secret.clone(), version: e.secret_version, previous: None },
            created_at: e.recorded_at,
            updated_at: e.recorded_at,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.status == WebhookStatus::Enabled
    }

    pub fn subscribes_to(&self, kind: EventType) -> bool {
        self.events.contains(&kind)
    }

    /// Applies a lifecycle event of this webhook other than creation and deletion (which
    /// change the [`WebhookState`] itself); other events leave it as it is.
    pub fn apply(&mut self, event: &DomainEvent) {
        match event {
            DomainEvent::WebhookUpdated(e) => {
                self.url = e.url.clone();
                self.events = e.events.clone();
                self.description = e.description.clone();
                self.format = e.format;
                self.updated_at = e.recorded_at;
            }
            DomainEvent::WebhookSecretRotated(e) => {
                let previous = PreviousSecret {
                    secret: std::mem::replace(&mut self.secrets.current, e.secret.clone()),
                    version: self.secrets.version,
                    valid_until: e.previous_valid_until,
                };
                self.secrets.version = e.secret_version;
                self.secrets.previous = Some(previous);
                self.updated_at = e.recorded_at;
            }
            DomainEvent::WebhookDisabled(e) => {
                self.status = WebhookStatus::Disabled { by: e.by, reason: e.reason.clone(), since: e.recorded_at };
                self.updated_at = e.recorded_at;
            }
            DomainEvent::WebhookEnabled(e) => {
                self.status = WebhookStatus::Enabled;
                self.updated_at = e.recorded_at;
            }
            _ => {}
        }
    }
}

impl WebhookState {
    pub fn evolve(self, event: &DomainEvent) -> Self {
        match (self, event) {
            (WebhookState::None, DomainEvent::WebhookCreated(e)) => WebhookState::Active(Webhook::created(e)),
            (WebhookState::Active(webhook), DomainEvent::WebhookDeleted(e)) => {
                WebhookState::Deleted { webhook, deleted_at: e.recorded_at }
            }
            (WebhookState::Active(mut webhook), event) => {
                webhook.apply(event);
                WebhookState::Active(webhook)
            }
            (state, _) => state,
        }
    }

    /// The webhook, unless it does not exist or was deleted.
    pub fn active(&self) -> Option<&Webhook> {
        match self {
            WebhookState::Active(webhook) => Some(webhook),
            _ => None,
        }
    }
}

/// `evolve(state, event) -> state`, for folds.
pub fn evolve(state: WebhookState, event: &DomainEvent) -> WebhookState {
    state.evolve(event)
}

/// The state after all of `events` (one webhook's stream, in order).
pub fn fold<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> WebhookState {
    events.into_iter().fold(WebhookState::None, evolve)
}

/// The state as it was at `at`: the fold of the stream's events up to the first one
/// recorded after `at`. Stopping there (rather than skipping it and going on) keeps the
/// answer a state the webhook really was in, even if clocks of two writers disagreed.
pub fn fold_until<'a>(events: impl IntoIterator<Item = &'a DomainEvent>, at: DateTime<Utc>) -> WebhookState {
    fold(events.into_iter().take_while(|e| e.recorded_at() <= at))
}
