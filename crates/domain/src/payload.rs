//! The fixed JSON body a webhook receives (DESIGN.md, "Webhook request").
//!
//! Every field is always present; a field the form did not collect is `null`. The body is
//! built once per delivery and the same bytes are signed and sent on every attempt.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::submission::{
    CandidateDeclined, CandidateInterested, DeclineReason, DeclinedCandidate, InterestedCandidate,
    StandardReason,
};
use crate::webhook::{EventType, TestEventRequested};

/// The webhook body.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct WebhookMessage {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub timestamp: String,
    pub test: bool,
    pub data: MessageData,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum MessageData {
    Interested {
        account_id: String,
        submission_id: String,
        submitted_at: String,
        pack: PackRef,
        candidate: InterestedCandidate,
    },
    Declined {
        account_id: String,
        submission_id: String,
        submitted_at: String,
        pack: PackRef,
        candidate: DeclinedCandidate,
        reason: ReasonOut,
        feedback: Option<String>,
    },
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PackRef {
    pub id: String,
    pub name: String,
}

/// `{"code":"not_looking","label":"Not looking right now","custom":false}` or
/// `{"code":null,"label":"Reason #2","custom":true}`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ReasonOut {
    pub code: Option<&'static str>,
    pub label: String,
    pub custom: bool,
}

impl From<&DeclineReason> for ReasonOut {
    fn from(reason: &DeclineReason) -> Self {
        match reason {
            DeclineReason::Standard(r) => ReasonOut { code: Some(r.code()), label: r.label().to_owned(), custom: false },
            DeclineReason::Custom(label) => ReasonOut { code: None, label: label.clone(), custom: true },
        }
    }
}

/// RFC 3339 with microseconds and `Z`, as in the contract's example.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The `webhook-id` of a message: `msg_` and the UUID of what it carries.
pub fn message_id(uuid: uuid::Uuid) -> String {
    format!("msg_{}", uuid.simple())
}

impl WebhookMessage {
    pub fn interested(e: &CandidateInterested) -> Self {
        WebhookMessage {
            kind: EventType::Interested.message_type(),
            id: message_id(e.submission_id.uuid()),
            timestamp: timestamp(e.submitted_at),
            test: false,
            data: MessageData::Interested {
                account_id: e.account_id.to_string(),
                submission_id: e.submission_id.to_string(),
                submitted_at: timestamp(e.submitted_at),
                pack: PackRef { id: e.pack_id.to_string(), name: e.pack_name.clone() },
                candidate: e.candidate.clone(),
            },
        }
    }

    pub fn declined(e: &CandidateDeclined) -> Self {
        WebhookMessage {
            kind: EventType::Declined.message_type(),
            id: message_id(e.submission_id.uuid()),
            timestamp: timestamp(e.submitted_at),
            test: false,
            data: MessageData::Declined {
                account_id: e.account_id.to_string(),
                submission_id: e.submission_id.to_string(),
                submitted_at: timestamp(e.submitted_at),
                pack: PackRef { id: e.pack_id.to_string(), name: e.pack_name.clone() },
                candidate: e.candidate.clone(),
                reason: ReasonOut::from(&e.reason),
                feedback: e.feedback.clone(),
            },
        }
    }

    /// A test event: sample data of the requested kind, marked `"test": true`.
    pub fn test(e: &TestEventRequested) -> Self {
        let submitted_at = timestamp(e.recorded_at);
        let pack = PackRef { id: "pk_test".into(), name: "Test pack".into() };
        let data = match e.event {
            EventType::Interested => MessageData::Interested {
                account_id: e.account_id.to_string(),
                submission_id: e.test_id.to_string(),
                submitted_at: submitted_at.clone(),
                pack,
                candidate: InterestedCandidate {
                    name: Some("Test Candidate".into()),
                    email: Some("candidate@example.com".into()),
                    ..InterestedCandidate::default()
                },
            },
            EventType::Declined => MessageData::Declined {
                account_id: e.account_id.to_string(),
                submission_id: e.test_id.to_string(),
                submitted_at: submitted_at.clone(),
                pack,
                candidate: DeclinedCandidate {
                    name: Some("Test Candidate".into()),
                    email: Some("candidate@example.com".into()),
                },
                reason: ReasonOut::from(&DeclineReason::Standard(StandardReason::NotLooking)),
                feedback: None,
            },
        };
        WebhookMessage { kind: e.event.message_type(), id: message_id(e.test_id.uuid()), timestamp: submitted_at, test: true, data }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("messages always serialise")
    }
}
