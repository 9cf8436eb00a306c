//! The packhooks domain, as pure functions.
//!
//! Commands go through `decide(&State, Command) -> Result<Vec<Event>, DomainError>`, and state
//! is folded with `evolve(State, &Event) -> State`. Nothing here does I/O or reads a clock:
//! time, ids and secrets arrive inside the commands, so every rule is testable given/when/then.
//!
//! Refusals are one [`DomainError`] with a stable `code()`. Rules that span streams (the plan,
//! the webhook count) come in a [`webhook::WebhookContext`]; the [`registry::Registry`] folds
//! the lifecycle events of the whole log to answer where a submission goes.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use packhooks_domain::account::{self, AccountState, Plan, SetPlan};
//! use packhooks_domain::registry::Registry;
//! use packhooks_domain::webhook::{self, CreateWebhook, EventType, Secret, UrlPolicy, WebhookContext, WebhookState};
//! use packhooks_domain::{AccountId, WebhookId};
//!
//! let now = Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap();
//! let account = AccountId::parse("acc_7").unwrap();
//! let mut log = account::decide(&AccountState::default(), SetPlan { account_id: account.clone(), plan: Plan::Growth, now })?;
//!
//! let id = WebhookId::from_uuid(uuid::Uuid::from_u128(1));
//! let ctx = WebhookContext { plan: Some(Plan::Growth), live_webhooks_of_account: 0, max_webhooks: 4, url_policy: UrlPolicy::default() };
//! let create = CreateWebhook {
//!     webhook_id: id,
//!     account_id: account.clone(),
//!     url: "https://hooks.example.com/in".into(),
//!     events: vec![EventType::Declined],
//!     description: None,
//!     format: None,
//!     secret: Secret::from_bytes(&[7; 32]),
//!     now,
//! };
//! log.extend(webhook::decide(&WebhookState::None, create, &ctx)?);
//!
//! let mut registry = Registry::new();
//! log.iter().for_each(|event| registry.apply(event));
//! assert_eq!(registry.route(&account, EventType::Declined).collect::<Vec<_>>(), vec![id]);
//! assert_eq!(registry.route(&account, EventType::Interested).count(), 0);
//! # Ok::<(), packhooks_domain::DomainError>(())
//! ```

pub mod account;
pub mod chat;
pub mod clock;
pub mod delivery;
pub mod error;
pub mod events;
pub mod explain;
pub mod ids;
pub mod ip_policy;
pub mod payload;
pub mod position;
pub mod registry;
pub mod submission;
pub mod webhook;

#[cfg(test)]
mod testkit;

pub use error::{DomainError, ErrorKind};
pub use events::{CommandMetadata, DomainEvent, EventMetadata, Issuer};
pub use ids::*;
pub use position::Position;
