//! The events the projections read, decoded lightly: only the types some projection uses
//! (chosen by event type before any JSON is parsed), and of those only the fields a read
//! model stores. Ids are parsed from borrowed text (`#[serde(borrow)]`), so a minted id costs
//! no allocation; free text that a read model keeps is the only thing copied.
//!
//! This replaces decoding into `DomainEvent` (every field, owned strings, ids through
//! `String`), which was the costliest stage of a rebuild. The live runner and a rebuild
//! decode through the same function, so both skip and read exactly the same events.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use packhooks_domain::delivery::FailureCode;
use packhooks_domain::submission::{DeclineReason, StandardReason};
use packhooks_domain::webhook::DisabledBy;
use packhooks_domain::{AccountId, DeliveryId, PackId, SubmissionId, WebhookId};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// A projected event.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    WebhookCreated {
        webhook_id: WebhookId,
        account_id: AccountId,
    },
    WebhookDisabled {
        webhook_id: WebhookId,
        by: DisabledBy,
        reason: String,
        recorded_at: DateTime<Utc>,
    },
    WebhookEnabled {
        webhook_id: WebhookId,
        recorded_at: DateTime<Utc>,
    },
    WebhookDeleted {
        webhook_id: WebhookId,
    },
    /// `CandidateInterested` (`reason: None`) or `CandidateDeclined`.
    Submitted(Submission),
    DeliveryAttempted(Attempt),
    DeliveryAbandoned(Abandoned),
    WebhookFlaggedFailing {
        webhook_id: WebhookId,
        delivery_id: DeliveryId,
        failing_since: DateTime<Utc>,
        recorded_at: DateTime<Utc>,
    },
    WebhookRecovered {
        webhook_id: WebhookId,
        delivery_id: DeliveryId,
        recorded_at: DateTime<Utc>,
    },
}

/// A submission, interested or declined.
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    pub submission_id: SubmissionId,
    pub account_id: AccountId,
    pub pack_id: PackId,
    pub pack_name: String,
    /// `Some` for a decline.
    pub reason: Option<DeclineReason>,
    pub submitted_at: DateTime<Utc>,
}

/// A delivery given up.
#[derive(Clone, Debug, PartialEq)]
pub struct Abandoned {
    pub webhook_id: WebhookId,
    pub delivery_id: DeliveryId,
    pub source_stream: String,
    pub source_revision: u64,
    pub message_id: String,
    pub test: bool,
    pub recorded_at: DateTime<Utc>,
}

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    pub webhook_id: WebhookId,
    pub delivery_id: DeliveryId,
    pub source_stream: String,
    /// The delivered event's revision in `source_stream`.
    pub source_revision: u64,
    pub message_id: String,
    pub test: bool,
    pub attempt: u32,
    pub success: bool,
    pub status: Option<u16>,
    /// The failure code; `None` for a success.
    pub code: Option<FailureCode>,
    pub latency_ms: u64,
    pub response_body: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub recorded_at: DateTime<Utc>,
}

/// Whether some projection reads events of this stored type. Every other type is skipped
/// before any parsing, live and in a rebuild alike (the live runner checks this before it
/// even hands an event to its writer thread).
pub fn is_projected(event_type: &str) -> bool {
    matches!(
        event_type,
        "DeliveryAttempted"
            | "CandidateInterested"
            | "CandidateDeclined"
            | "DeliveryAbandoned"
            | "WebhookCreated"
            | "WebhookDisabled"
            | "WebhookEnabled"
            | "WebhookDeleted"
            | "WebhookFlaggedFailing"
            | "WebhookRecovered"
    )
}

impl Event {
    /// Decodes a stored event: `Ok(None)` for a type no projection reads (skipped without
    /// parsing: see [`is_projected`]), `Err` for a malformed body.
    pub fn decode(event_type: &str, data: &[u8]) -> Result<Option<Event>, serde_json::Error> {
        if !is_projected(event_type) {
            return Ok(None);
        }
        Ok(Some(match event_type {
            "DeliveryAttempted" => {
                let a: AttemptJson<'_> = serde_json::from_slice(data)?;
                match (&*a.outcome.result, a.outcome.code) {
                    ("success", _) => {
                        if a.outcome.status.is_none() {
                            return Err(serde_json::Error::missing_field("status"));
                        }
                    }
                    ("failure", Some(_)) => {}
                    ("failure", None) => return Err(serde_json::Error::missing_field("code")),
                    (other, _) => return Err(serde_json::Error::unknown_variant(other, &["success", "failure"])),
                }
                Event::DeliveryAttempted(a.into_attempt())
            }
            "CandidateInterested" | "CandidateDeclined" => {
                let s: SubmissionJson<'_> = serde_json::from_slice(data)?;
                if event_type == "CandidateDeclined" && s.reason.is_none() {
                    return Err(serde_json::Error::missing_field("reason"));
                }
                Event::Submitted(Submission {
                    submission_id: s.submission_id,
                    account_id: s.account_id,
                    pack_id: s.pack_id,
                    pack_name: s.pack_name.into_owned(),
                    reason: match event_type {
                        "CandidateInterested" => None,
                        _ => s.reason.map(|r| match r {
                            ReasonJson::Standard(r) => DeclineReason::Standard(r),
                            ReasonJson::Custom(label) => DeclineReason::Custom(label.into_owned()),
                        }),
                    },
                    submitted_at: s.submitted_at,
                })
            }
            "DeliveryAbandoned" => {
                let a: AbandonedJson<'_> = serde_json::from_slice(data)?;
                Event::DeliveryAbandoned(Abandoned {
                    webhook_id: a.webhook_id,
                    delivery_id: a.delivery_id,
                    source_stream: a.source.stream.into_owned(),
                    source_revision: a.source.revision,
                    message_id: a.source.message_id.into_owned(),
                    test: a.source.test,
                    recorded_at: a.recorded_at,
                })
            }
            "WebhookCreated" => {
                let c: CreatedJson = serde_json::from_slice(data)?;
                Event::WebhookCreated { webhook_id: c.webhook_id, account_id: c.account_id }
            }
            "WebhookDisabled" => {
                let d: DisabledJson<'_> = serde_json::from_slice(data)?;
                Event::WebhookDisabled {
                    webhook_id: d.webhook_id,
                    by: d.by,
                    reason: d.reason.into_owned(),
                    recorded_at: d.recorded_at,
                }
            }
            "WebhookEnabled" => {
                let e: EnabledJson = serde_json::from_slice(data)?;
                Event::WebhookEnabled { webhook_id: e.webhook_id, recorded_at: e.recorded_at }
            }
            "WebhookDeleted" => {
                let e: DeletedJson = serde_json::from_slice(data)?;
                Event::WebhookDeleted { webhook_id: e.webhook_id }
            }
            "WebhookFlaggedFailing" => {
                let f: FlaggedJson = serde_json::from_slice(data)?;
                Event::WebhookFlaggedFailing {
                    webhook_id: f.webhook_id,
                    delivery_id: f.delivery_id,
                    failing_since: f.failing_since,
                    recorded_at: f.recorded_at,
                }
            }
            "WebhookRecovered" => {
                let r: RecoveredJson = serde_json::from_slice(data)?;
                Event::WebhookRecovered {
                    webhook_id: r.webhook_id,
                    delivery_id: r.delivery_id,
                    recorded_at: r.recorded_at,
                }
            }
            _ => return Ok(None),
        }))
    }
}

/// A minted id (`wh_…`, `dlv_…`, `sub_…`) parsed from borrowed text (no allocation).
fn minted<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    struct Text<T>(std::marker::PhantomData<T>);
    impl<T> serde::de::Visitor<'_> for Text<T>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an id")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
            v.parse().map_err(E::custom)
        }
    }
    d.deserialize_str(Text(std::marker::PhantomData))
}

/// An external id (account, pack), validated as the domain does.
fn external<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    minted(d)
}

#[derive(Deserialize)]
struct AttemptJson<'a> {
    #[serde(deserialize_with = "minted")]
    webhook_id: WebhookId,
    #[serde(deserialize_with = "minted")]
    delivery_id: DeliveryId,
    #[serde(borrow)]
    source: SourceJson<'a>,
    attempt: u32,
    #[serde(borrow)]
    outcome: OutcomeJson<'a>,
    latency_ms: u64,
    #[serde(borrow, default)]
    response_body: Option<Cow<'a, str>>,
    #[serde(default)]
    next_attempt_at: Option<DateTime<Utc>>,
    recorded_at: DateTime<Utc>,
}

impl AttemptJson<'_> {
    fn into_attempt(self) -> Attempt {
        let success = self.outcome.result == "success";
        Attempt {
            webhook_id: self.webhook_id,
            delivery_id: self.delivery_id,
            source_stream: self.source.stream.into_owned(),
            source_revision: self.source.revision,
            message_id: self.source.message_id.into_owned(),
            test: self.source.test,
            attempt: self.attempt,
            success,
            status: self.outcome.status,
            code: if success { None } else { self.outcome.code },
            latency_ms: self.latency_ms,
            response_body: self.response_body.map(Cow::into_owned),
            next_attempt_at: self.next_attempt_at,
            recorded_at: self.recorded_at,
        }
    }
}

#[derive(Deserialize)]
struct SourceJson<'a> {
    #[serde(borrow)]
    stream: Cow<'a, str>,
    revision: u64,
    #[serde(borrow)]
    message_id: Cow<'a, str>,
    test: bool,
}

/// `AttemptOutcome` read flat (its tag is `result`), without buffering and without `detail`.
#[derive(Deserialize)]
struct OutcomeJson<'a> {
    #[serde(borrow)]
    result: Cow<'a, str>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    code: Option<FailureCode>,
}

#[derive(Deserialize)]
struct SubmissionJson<'a> {
    #[serde(deserialize_with = "minted")]
    submission_id: SubmissionId,
    #[serde(deserialize_with = "external")]
    account_id: AccountId,
    #[serde(deserialize_with = "external")]
    pack_id: PackId,
    #[serde(borrow)]
    pack_name: Cow<'a, str>,
    #[serde(borrow, default)]
    reason: Option<ReasonJson<'a>>,
    submitted_at: DateTime<Utc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ReasonJson<'a> {
    Standard(StandardReason),
    Custom(#[serde(borrow)] Cow<'a, str>),
}

#[derive(Deserialize)]
struct AbandonedJson<'a> {
    #[serde(deserialize_with = "minted")]
    webhook_id: WebhookId,
    #[serde(deserialize_with = "minted")]
    delivery_id: DeliveryId,
    #[serde(borrow)]
    source: SourceJson<'a>,
    recorded_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct CreatedJson {
    #[serde(deserialize_with = "minted")]
    webhook_id: WebhookId,
    #[serde(deserialize_with = "external")]
    account_id: AccountId,
}

#[derive(Deserialize)]
struct DisabledJson<'a> {
    #[serde(deserialize_with = "minted")]
    webhook_id: WebhookId,
    by: DisabledBy,
    #[serde(borrow)]
    reason: Cow<'a, str>,
    recorded_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct EnabledJson {
    #[serde(deserialize_with = "minted")]
    webhook_id: WebhookId,
    recorded_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct DeletedJson {
    #[serde(deserialize_with = "minted")]
    webhook_id: WebhookId,
}

#[derive(Deserialize)]
struct FlaggedJson {
    #[serde(deserialize_with = "minted")]
    webhook_id: WebhookId,
    #[serde(deserialize_with = "minted")]
    delivery_id: DeliveryId,
    failing_since: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct RecoveredJson {
    #[serde(deserialize_with = "minted")]
    webhook_id: WebhookId,
    #[serde(deserialize_with = "minted")]
    delivery_id: DeliveryId,
    recorded_at: DateTime<Utc>,
}
