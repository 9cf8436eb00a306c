//! Webhook commands and the rules that turn them into events.
//!
//! Rules that span streams (the account's plan, how many webhooks it has) come in a small
//! [`WebhookContext`] the caller reads before deciding; everything else is the webhook's own
//! state. Which rules apply where:
//!
//! - creating needs a growth or scale plan and a free slot (live webhooks < max);
//! - a test event needs the plan too, and an enabled webhook, since it would not be delivered
//!   otherwise; it may be of either kind, subscribed or not (the owner asked for it);
//! - update, rotate, enable, disable and delete work on any plan, so an owner who moved to
//!   starter can still tidy up (nothing is delivered to them meanwhile);
//! - repeats are no-ops: enable when enabled, disable when disabled, delete when deleted and
//!   an update that changes nothing decide to no events.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    DisabledBy, EventType, Secret, TestEventRequested, UrlPolicy, WebhookCreated, WebhookDeleted, WebhookDisabled,
    WebhookEnabled, WebhookFormat, WebhookSecretRotated, WebhookState, WebhookUpdated, WebhookUrl,
};
use crate::account::Plan;
use crate::error::{DomainError, EventsProblem, FieldProblem};
use crate::submission::text_or_none;
use crate::{AccountId, DomainEvent, TestEventId, WebhookId};

/// The longest description, in characters.
pub const MAX_DESCRIPTION: usize = 256;
/// The longest disable reason, in characters.
pub const MAX_REASON: usize = 1000;
/// The longest time an old secret keeps signing after a rotation.
pub const MAX_SECRET_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);

/// What `decide` needs to know beyond the webhook's own stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookContext {
    /// The account's plan now; `None` when the account has never had one set.
    pub plan: Option<Plan>,
    /// The account's webhooks that exist now (enabled or disabled, not deleted).
    pub live_webhooks_of_account: usize,
    /// The most webhooks an account may have (settings; 4 by default).
    pub max_webhooks: usize,
    pub url_policy: UrlPolicy,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateWebhook {
    pub webhook_id: WebhookId,
    pub account_id: AccountId,
    /// As the client sent it; validated (and normalised) here.
    pub url: String,
    pub events: Vec<EventType>,
    pub description: Option<String>,
    /// `None` chooses it from the URL: the chat format of a known chat webhook
    /// ([`WebhookFormat::detect`]), else standard. Given, it always wins.
    pub format: Option<WebhookFormat>,
    /// Drawn at random by the caller, e.g. `Secret::from_bytes(&32 random bytes)`.
    pub secret: Secret,
    pub now: DateTime<Utc>,
}

/// A patch: `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateWebhook {
    pub url: Option<String>,
    pub events: Option<Vec<EventType>>,
    /// `Some(None)` (or a blank text) clears the description.
    pub description: Option<Option<String>>,
    /// `None` keeps the format, unless `url` changes to a known chat webhook: then its format.
    pub format: Option<WebhookFormat>,
    pub now: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotateSecret {
    pub secret: Secret,
    /// How long the old secret keeps signing; at most [`MAX_SECRET_OVERLAP`](crate::webhook::MAX_SECRET_OVERLAP).
    pub overlap: Duration,
    pub now: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnableWebhook {
    pub now: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisableWebhook {
    pub by: DisabledBy,
    /// Blank gets a default text saying who disabled it.
    pub reason: String,
    pub now: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteWebhook {
    pub now: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestTestEvent {
    pub test_id: TestEventId,
    pub event: EventType,
    pub now: DateTime<Utc>,
}

/// Every webhook command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookCommand {
    Create(CreateWebhook),
    Update(UpdateWebhook),
    RotateSecret(RotateSecret),
    Enable(EnableWebhook),
    Disable(DisableWebhook),
    Delete(DeleteWebhook),
    RequestTestEvent(RequestTestEvent),
}

macro_rules! command_from {
    ($($variant:ident($command:ident)),* $(,)?) => {
        $(impl From<$command> for WebhookCommand {
            fn from(c: $command) -> Self {
                WebhookCommand::$variant(c)
            }
        })*
    };
}

command_from!(
    Create(CreateWebhook),
    Update(UpdateWebhook),
    RotateSecret(RotateSecret),
    Enable(EnableWebhook),
    Disable(DisableWebhook),
    Delete(DeleteWebhook),
    RequestTestEvent(RequestTestEvent),
);

/// Decides what a command on a webhook comes to.
pub fn decide(
    state: &WebhookState,
    command: impl Into<WebhookCommand>,
    ctx: &WebhookContext,
) -> Result<Vec<DomainEvent>, DomainError> {
    let command = command.into();
    let webhook = match (state, &command) {
        (WebhookState::None, WebhookCommand::Create(c)) => return create(c, ctx),
        (WebhookState::None, _) => return Err(DomainError::WebhookNotFound),
        (WebhookState::Deleted { .. }, WebhookCommand::Create(_)) => return Err(DomainError::WebhookExists),
        (WebhookState::Deleted { .. }, WebhookCommand::Delete(_)) => return Ok(vec![]),
        (WebhookState::Deleted { .. }, _) => return Err(DomainError::WebhookDeleted),
        (WebhookState::Active(webhook), _) => webhook,
    };
    let webhook_id = webhook.id;
    let event: DomainEvent = match command {
        WebhookCommand::Create(_) => return Err(DomainError::WebhookExists),
        WebhookCommand::Update(c) => {
            let (url, format) = match c.url {
                Some(raw) => {
                    let url = WebhookUrl::parse(&raw, &ctx.url_policy)?;
                    // Only a URL that changes brings its format: the same URL sent again (a
                    // client writing back the whole webhook) keeps a format chosen for it.
                    let detected = (url.as_str() != webhook.url).then(|| WebhookFormat::detect(url.as_url())).flatten();
                    (url.into(), c.format.or(detected).unwrap_or(webhook.format))
                }
                None => (webhook.url.clone(), c.format.unwrap_or(webhook.format)),
            };
            let events = match c.events {
                Some(events) => check_events(events)?,
                None => webhook.events.clone(),
            };
            let description = match c.description {
                Some(description) => check_description(description)?,
                None => webhook.description.clone(),
            };
            if url == webhook.url
                && events == webhook.events
                && description == webhook.description
                && format == webhook.format
            {
                return Ok(vec![]);
            }
            WebhookUpdated { webhook_id, url, events, description, format, recorded_at: c.now }.into()
        }
        WebhookCommand::RotateSecret(c) => {
            c.secret.key_bytes()?;
            if c.overlap > MAX_SECRET_OVERLAP {
                return Err(DomainError::invalid_field(
                    "overlap",
                    FieldProblem::DurationTooLong { max_seconds: MAX_SECRET_OVERLAP.as_secs() },
                ));
            }
            let overlap = chrono::Duration::from_std(c.overlap).expect("bounded by MAX_SECRET_OVERLAP");
            WebhookSecretRotated {
                webhook_id,
                secret: c.secret,
                secret_version: webhook.secrets.version + 1,
                previous_valid_until: c.now + overlap,
                recorded_at: c.now,
            }
            .into()
        }
        WebhookCommand::Enable(c) => {
            if webhook.is_enabled() {
                return Ok(vec![]);
            }
            WebhookEnabled { webhook_id, recorded_at: c.now }.into()
        }
        WebhookCommand::Disable(c) => {
            if !webhook.is_enabled() {
                return Ok(vec![]);
            }
            let reason = text_or_none("reason", Some(c.reason), MAX_REASON)?.unwrap_or_else(|| match c.by {
                DisabledBy::Owner => "disabled by the owner".to_owned(),
                DisabledBy::Auto => "disabled automatically".to_owned(),
            });
            WebhookDisabled { webhook_id, by: c.by, reason, recorded_at: c.now }.into()
        }
        WebhookCommand::Delete(c) => WebhookDeleted { webhook_id, recorded_at: c.now }.into(),
        WebhookCommand::RequestTestEvent(c) => {
            check_plan(ctx)?;
            if !webhook.is_enabled() {
                return Err(DomainError::WebhookDisabled);
            }
            TestEventRequested {
                webhook_id,
                account_id: webhook.account_id.clone(),
                test_id: c.test_id,
                event: c.event,
                recorded_at: c.now,
            }
            .into()
        }
    };
    Ok(vec![event])
}

fn create(c: &CreateWebhook, ctx: &WebhookContext) -> Result<Vec<DomainEvent>, DomainError> {
    check_plan(ctx)?;
    if ctx.live_webhooks_of_account >= ctx.max_webhooks {
        return Err(DomainError::WebhookLimitReached { max: ctx.max_webhooks });
    }
    let url = WebhookUrl::parse(&c.url, &ctx.url_policy)?;
    let events = check_events(c.events.clone())?;
    let description = check_description(c.description.clone())?;
    let format = c.format.or_else(|| WebhookFormat::detect(url.as_url())).unwrap_or_default();
    c.secret.key_bytes()?;
    Ok(vec![WebhookCreated {
        webhook_id: c.webhook_id,
        account_id: c.account_id.clone(),
        url: url.into(),
        events,
        description,
        format,
        secret: c.secret.clone(),
        secret_version: 1,
        recorded_at: c.now,
    }
    .into()])
}

fn check_plan(ctx: &WebhookContext) -> Result<(), DomainError> {
    match ctx.plan {
        Some(plan) if plan.allows_webhooks() => Ok(()),
        plan => Err(DomainError::PlanNotEligible { plan }),
    }
}

/// One or both kinds, each once; kept in the order given.
fn check_events(events: Vec<EventType>) -> Result<Vec<EventType>, DomainError> {
    if events.is_empty() {
        return Err(DomainError::InvalidEvents(EventsProblem::Empty));
    }
    for (i, kind) in events.iter().enumerate() {
        if events[..i].contains(kind) {
            return Err(DomainError::InvalidEvents(EventsProblem::Duplicate(*kind)));
        }
    }
    Ok(events)
}

/// Trimmed; a blank description is no description.
fn check_description(description: Option<String>) -> Result<Option<String>, DomainError> {
    text_or_none("description", description, MAX_DESCRIPTION)
}
