//! Webhooks: the endpoints an account registers, their lifecycle events and rules.
//!
//! - this file: the events of a `webhook-{id}` stream and the types they carry;
//! - `format.rs`: the body a webhook receives ([`WebhookFormat`]) and the chat URLs it is
//!   chosen for;
//! - `url.rs`: validated webhook URLs ([`WebhookUrl`]) and the private-target policy;
//! - `state.rs`: a webhook's state folded from its events ([`evolve`], [`fold_until`]);
//! - `decide.rs`: the commands and the rules that turn them into events ([`decide`]).

mod decide;
mod format;
mod state;
#[cfg(test)]
mod tests;
mod url;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use self::decide::{
    decide, CreateWebhook, DeleteWebhook, DisableWebhook, EnableWebhook, RequestTestEvent, RotateSecret, UpdateWebhook,
    WebhookCommand, WebhookContext, MAX_DESCRIPTION, MAX_REASON, MAX_SECRET_OVERLAP,
};
pub use self::format::WebhookFormat;
pub use self::state::{evolve, fold, fold_until, PreviousSecret, Secrets, Webhook, WebhookState, WebhookStatus};
pub use self::url::{UrlPolicy, WebhookUrl};
use crate::error::{DomainError, SecretProblem};
pub use crate::ip_policy::is_public_ip;
use crate::{AccountId, TestEventId, WebhookId};

/// The submission kinds a webhook can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Interested,
    Declined,
}

impl EventType {
    /// The `type` field of the webhook body.
    pub fn message_type(self) -> &'static str {
        match self {
            EventType::Interested => "candidate.interested",
            EventType::Declined => "candidate.declined",
        }
    }
}

/// A signing secret, `whsec_` followed by base64 of 24 to 64 random bytes.
///
/// `Debug` never shows the value, so a secret cannot leak into a log line by accident.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub const PREFIX: &'static str = "whsec_";
    /// The key length bounds, in bytes (the Standard Webhooks libraries accept 24 to 64).
    pub const MIN_BYTES: usize = 24;
    pub const MAX_BYTES: usize = 64;

    /// A secret from already-encoded text (`whsec_…`), unchecked; [`Secret::parse`] checks.
    /// `decide` checks every secret before it goes into an event.
    pub fn new(text: String) -> Self {
        Secret(text)
    }

    /// The secret for key bytes the caller drew at random (24 to 64 of them; `decide`
    /// refuses other lengths): `whsec_` and the standard base64 of the bytes.
    pub fn from_bytes(key: &[u8]) -> Self {
        Secret(format!("{}{}", Self::PREFIX, base64::engine::general_purpose::STANDARD.encode(key)))
    }

    /// A secret from `whsec_…` text, checked.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let secret = Secret(text.to_owned());
        secret.key_bytes()?;
        Ok(secret)
    }

    /// The HMAC key: the bytes the base64 after `whsec_` encodes.
    pub fn key_bytes(&self) -> Result<Vec<u8>, DomainError> {
        let encoded = self.0.strip_prefix(Self::PREFIX).ok_or(DomainError::InvalidSecret(SecretProblem::Prefix))?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| DomainError::InvalidSecret(SecretProblem::Encoding(e)))?;
        if !(Self::MIN_BYTES..=Self::MAX_BYTES).contains(&key.len()) {
            return Err(DomainError::InvalidSecret(SecretProblem::Length {
                min: Self::MIN_BYTES,
                max: Self::MAX_BYTES,
            }));
        }
        Ok(key)
    }
    /// The full `whsec_…` text, to show the owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Who disabled a webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisabledBy {
    Owner,
    Auto,
}

/// `webhook-{id}`: a webhook was registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookCreated {
    pub webhook_id: WebhookId,
    pub account_id: AccountId,
    pub url: String,
    pub events: Vec<EventType>,
    pub description: Option<String>,
    /// The body the webhook receives. Absent from events written before formats existed,
    /// which were all standard; the default says so.
    #[serde(default)]
    pub format: WebhookFormat,
    /// Kept in the event so that any instance can sign after any restart; audit views redact it.
    pub secret: Secret,
    pub secret_version: u32,
    pub recorded_at: DateTime<Utc>,
}

/// `webhook-{id}`: url, events, description or format changed; the fields hold the new values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookUpdated {
    pub webhook_id: WebhookId,
    pub url: String,
    pub events: Vec<EventType>,
    pub description: Option<String>,
    /// Absent from events written before formats existed, when every webhook was standard.
    #[serde(default)]
    pub format: WebhookFormat,
    pub recorded_at: DateTime<Utc>,
}

/// `webhook-{id}`: a new secret; the previous one keeps signing until `previous_valid_until`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecretRotated {
    pub webhook_id: WebhookId,
    pub secret: Secret,
    pub secret_version: u32,
    pub previous_valid_until: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// `webhook-{id}`: deliveries stop until the owner enables it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDisabled {
    pub webhook_id: WebhookId,
    pub by: DisabledBy,
    pub reason: String,
    pub recorded_at: DateTime<Utc>,
}

/// `webhook-{id}`: the owner enabled it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEnabled {
    pub webhook_id: WebhookId,
    pub recorded_at: DateTime<Utc>,
}

/// `webhook-{id}`: gone for good; nothing is delivered to it after this.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDeleted {
    pub webhook_id: WebhookId,
    pub recorded_at: DateTime<Utc>,
}

/// `webhook-{id}`: the owner asked for a test event. Routed to the webhook's actor like a
/// submission; never counted in statistics, never changes health.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestEventRequested {
    pub webhook_id: WebhookId,
    pub account_id: AccountId,
    pub test_id: TestEventId,
    pub event: EventType,
    pub recorded_at: DateTime<Utc>,
}
