//! Typed identifiers.
//!
//! Ids the product frontend owns (accounts, packs) are validated strings. Ids packhooks
//! mints (webhooks, submissions, deliveries, test events) carry a prefix (`wh_`, `sub_`,
//! `dlv_`, `test_`) followed by a UUID in simple form, so a log line says what it names.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why an id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub reason: &'static str,
}

/// Ids chosen by the frontend: 1 to 64 characters of `A-Z a-z 0-9 _ - .`, but not `.` or
/// `..`, which a client or proxy would resolve away as path segments.
macro_rules! external_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: impl Into<String>) -> Result<Self, InvalidId> {
                let s = s.into();
                if s.is_empty() || s.len() > 64 {
                    return Err(InvalidId { kind: $kind, reason: "must be 1 to 64 characters" });
                }
                if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
                    return Err(InvalidId { kind: $kind, reason: "may hold only letters, digits, '_', '-' and '.'" });
                }
                if s == "." || s == ".." {
                    return Err(InvalidId { kind: $kind, reason: "must not be . or .." });
                }
                Ok($name(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                $name::parse(s)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                $name::parse(s)
            }
        }
    };
}

/// Ids minted by packhooks: a prefix and a UUID in simple form, 32 lowercase hex digits.
/// Only that spelling is read: the other spellings of the same UUID (hyphenated, uppercase,
/// braced, `urn:uuid:`) would be aliases of one id, in paths, idempotency keys and logs.
macro_rules! minted_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schema(value_type = String)]
        pub struct $name(Uuid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;
            pub fn from_uuid(uuid: Uuid) -> Self {
                $name(uuid)
            }
            pub fn uuid(&self) -> Uuid {
                self.0
            }
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                let rest = s
                    .strip_prefix($prefix)
                    .ok_or(InvalidId { kind: $kind, reason: concat!("must start with ", $prefix) })?;
                let canonical =
                    rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                let uuid = Uuid::try_parse(rest)
                    .ok()
                    .filter(|_| canonical)
                    .ok_or(InvalidId { kind: $kind, reason: "must end in 32 lowercase hex digits" })?;
                Ok($name(uuid))
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                $name::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0.simple())
            }
        }
        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                $name::parse(s)
            }
        }
    };
}

external_id!(
    /// A customer account of the recruiting product, e.g. `acc_7`.
    AccountId, "account id"
);
external_id!(
    /// A candidate pack, e.g. `pk_42`.
    PackId, "pack id"
);
minted_id!(
    /// A webhook endpoint, shown as `wh_…`.
    WebhookId, "wh_", "webhook id"
);
minted_id!(
    /// One form submission, shown as `sub_…`; the webhook message id is `msg_` + this.
    SubmissionId, "sub_", "submission id"
);
minted_id!(
    /// One (submission, webhook) delivery, shown as `dlv_…`; all its attempts share it.
    DeliveryId, "dlv_", "delivery id"
);
minted_id!(
    /// One test event sent to a webhook, shown as `test_…`.
    TestEventId, "test_", "test event id"
);

impl WebhookId {
    /// The stream holding this webhook's lifecycle events.
    pub fn stream(&self) -> String {
        format!("{}{self}", streams::WEBHOOK)
    }
    /// The stream holding this webhook's delivery outcomes (written only by its actor).
    pub fn deliveries_stream(&self) -> String {
        format!("{}{self}", streams::DELIVERIES)
    }
}

impl AccountId {
    pub fn stream(&self) -> String {
        format!("{}{self}", streams::ACCOUNT)
    }
}

impl PackId {
    pub fn stream(&self) -> String {
        format!("{}{self}", streams::PACK)
    }
}

impl DeliveryId {
    /// A delivery's id is derived from what it delivers, so every instance and every replay
    /// names the same delivery the same way.
    pub fn for_message(webhook: WebhookId, message: Uuid) -> Self {
        DeliveryId(Uuid::new_v5(&webhook.uuid(), message.as_bytes()))
    }
}

/// Stream categories, the part of a stream name before the first `-`.
pub mod streams {
    pub const ACCOUNT: &str = "account-";
    pub const WEBHOOK: &str = "webhook-";
    pub const PACK: &str = "pack-";
    pub const DELIVERIES: &str = "deliveries-";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_round_trip_through_their_text_form() {
        let id = WebhookId::from_uuid(Uuid::from_u128(0x1234));
        let text = id.to_string();
        assert!(text.starts_with("wh_"));
        assert_eq!(WebhookId::parse(&text), Ok(id));
        assert!(WebhookId::parse("sub_00000000000000000000000000001234").is_err());
    }

    #[test]
    fn a_minted_id_has_one_spelling() {
        let id = WebhookId::from_uuid(Uuid::from_u128(0xabcd));
        let uuid = id.uuid();
        for alias in [
            format!("wh_{}", uuid.hyphenated()),
            format!("wh_{}", uuid.simple().to_string().to_uppercase()),
            format!("wh_{}", uuid.urn()),
            format!("wh_{}", uuid.braced()),
            format!("WH_{}", uuid.simple()),
            format!("wh_{} ", uuid.simple()),
        ] {
            assert!(WebhookId::parse(&alias).is_err(), "{alias}");
        }
        assert_eq!(WebhookId::parse(&id.to_string()), Ok(id));
    }

    #[test]
    fn external_ids_refuse_odd_characters_and_lengths() {
        assert!(AccountId::parse("acc_7").is_ok());
        assert!(AccountId::parse("").is_err());
        assert!(AccountId::parse("a/b").is_err());
        assert!(AccountId::parse("x".repeat(65)).is_err());
        assert!(AccountId::parse(".").is_err());
        assert!(AccountId::parse("..").is_err());
        assert!(AccountId::parse("...").is_ok());
        assert!(AccountId::parse("acc.7").is_ok());
    }
}
