//! The fixed JSON body a webhook receives (DESIGN.md, "Webhook request").
//!
//! Every field is always present; a field the form did not collect is `null`. The body is
//! built once per delivery and the same bytes are signed and sent on every attempt.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::submission::{
    CandidateDeclined, CandidateInterested, DeclineReason, DeclinedCandidate, InterestedCandidate, StandardReason,
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
            DeclineReason::Standard(r) => {
                ReasonOut { code: Some(r.code()), label: r.label().to_owned(), custom: false }
            }
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
        WebhookMessage {
            kind: e.event.message_type(),
            id: message_id(e.test_id.uuid()),
            timestamp: submitted_at,
            test: true,
            data,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("messages always serialise")
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;
    use crate::{AccountId, PackId, SubmissionId, TestEventId, WebhookId};

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).single().expect("valid") + chrono::Duration::microseconds(123_456)
    }

    fn json(message: &WebhookMessage) -> String {
        String::from_utf8(message.to_bytes()).expect("utf-8")
    }

    fn declined(reason: DeclineReason, feedback: Option<&str>) -> CandidateDeclined {
        CandidateDeclined {
            submission_id: SubmissionId::from_uuid(Uuid::from_u128(0xab)),
            account_id: AccountId::parse("acc_7").expect("id"),
            pack_id: PackId::parse("pk_42").expect("id"),
            pack_name: "Senior Rust Engineer".into(),
            candidate: DeclinedCandidate { name: Some("Ada".into()), email: None },
            reason,
            feedback: feedback.map(str::to_owned),
            submitted_at: at(),
        }
    }

    #[test]
    fn interested_has_every_field_with_null_for_what_was_not_collected() {
        let e = CandidateInterested {
            submission_id: SubmissionId::from_uuid(Uuid::from_u128(0x2a)),
            account_id: AccountId::parse("acc_7").expect("id"),
            pack_id: PackId::parse("pk_42").expect("id"),
            pack_name: "Senior Rust Engineer".into(),
            candidate: InterestedCandidate {
                name: Some("Ada".into()),
                email: Some("ada@example.com".into()),
                ..InterestedCandidate::default()
            },
            submitted_at: at(),
        };
        assert_eq!(
            json(&WebhookMessage::interested(&e)),
            concat!(
                r#"{"type":"candidate.interested","id":"msg_0000000000000000000000000000002a","#,
                r#""timestamp":"2026-11-28T09:00:00.123456Z","test":false,"#,
                r#""data":{"account_id":"acc_7","submission_id":"sub_0000000000000000000000000000002a","#,
                r#""submitted_at":"2026-11-28T09:00:00.123456Z","pack":{"id":"pk_42","name":"Senior Rust Engineer"},"#,
                r#""candidate":{"name":"Ada","email":"ada@example.com","phone":null,"linkedin_url":null,"#,
                r#""resume_url":null,"message":null}}}"#,
            )
        );
    }

    #[test]
    fn declined_with_a_standard_reason() {
        let e = declined(DeclineReason::Standard(StandardReason::NotLooking), Some("Happy where I am."));
        assert_eq!(
            json(&WebhookMessage::declined(&e)),
            concat!(
                r#"{"type":"candidate.declined","id":"msg_000000000000000000000000000000ab","#,
                r#""timestamp":"2026-11-28T09:00:00.123456Z","test":false,"#,
                r#""data":{"account_id":"acc_7","submission_id":"sub_000000000000000000000000000000ab","#,
                r#""submitted_at":"2026-11-28T09:00:00.123456Z","pack":{"id":"pk_42","name":"Senior Rust Engineer"},"#,
                r#""candidate":{"name":"Ada","email":null},"#,
                r#""reason":{"code":"not_looking","label":"Not looking right now","custom":false},"#,
                r#""feedback":"Happy where I am."}}"#,
            )
        );
    }

    #[test]
    fn declined_with_a_custom_reason_and_no_feedback() {
        let e = declined(DeclineReason::Custom("Reason #2".into()), None);
        assert_eq!(
            json(&WebhookMessage::declined(&e)),
            concat!(
                r#"{"type":"candidate.declined","id":"msg_000000000000000000000000000000ab","#,
                r#""timestamp":"2026-11-28T09:00:00.123456Z","test":false,"#,
                r#""data":{"account_id":"acc_7","submission_id":"sub_000000000000000000000000000000ab","#,
                r#""submitted_at":"2026-11-28T09:00:00.123456Z","pack":{"id":"pk_42","name":"Senior Rust Engineer"},"#,
                r#""candidate":{"name":"Ada","email":null},"#,
                r#""reason":{"code":null,"label":"Reason #2","custom":true},"#,
                r#""feedback":null}}"#,
            )
        );
    }

    #[test]
    fn every_standard_reason_renders_its_code_and_label() {
        for r in StandardReason::ALL {
            let message = WebhookMessage::declined(&declined(DeclineReason::Standard(r), None));
            let value: serde_json::Value = serde_json::from_slice(&message.to_bytes()).expect("json");
            assert_eq!(
                value["data"]["reason"],
                serde_json::json!({"code": r.code(), "label": r.label(), "custom": false})
            );
        }
    }

    #[test]
    fn a_test_event_is_marked_and_has_the_same_shape() {
        let e = TestEventRequested {
            webhook_id: WebhookId::from_uuid(Uuid::from_u128(1)),
            account_id: AccountId::parse("acc_7").expect("id"),
            test_id: TestEventId::from_uuid(Uuid::from_u128(0x7e)),
            event: EventType::Interested,
            recorded_at: at(),
        };
        let value: serde_json::Value = serde_json::from_slice(&WebhookMessage::test(&e).to_bytes()).expect("json");
        assert_eq!(value["type"], "candidate.interested");
        assert_eq!(value["test"], true);
        assert_eq!(value["id"], "msg_0000000000000000000000000000007e");
        let keys: Vec<_> = value["data"]["candidate"].as_object().expect("object").keys().cloned().collect();
        assert_eq!(keys.len(), 6, "{keys:?}");
        assert_eq!(value["data"]["candidate"]["phone"], serde_json::Value::Null);

        let declined = TestEventRequested { event: EventType::Declined, ..e };
        let value: serde_json::Value =
            serde_json::from_slice(&WebhookMessage::test(&declined).to_bytes()).expect("json");
        assert_eq!(value["type"], "candidate.declined");
        assert_eq!(value["data"]["feedback"], serde_json::Value::Null);
        assert_eq!(value["data"]["reason"]["custom"], false);
    }
}
