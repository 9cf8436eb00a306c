//! The rows of `packhooks audit stream`: for each event its revision, its time, its type, and
//! the fields that matter for that type (`plan=growth`, `delivery=dlv_… attempt=2
//! result=failure error=timeout`), so that a stream reads as a history rather than as JSON.
//! `--json` keeps every field.

use chrono::{DateTime, SecondsFormat, Utc};
use packhooks_projections::audit::AuditEvent;
use serde_json::Value;

/// The header above the rows.
pub const HEADER: &str = "REVISION  TIME                      TYPE                   DETAILS";

/// One event as a row under [`HEADER`], ending with who issued it (`by=<token name or role>`)
/// when a command did.
pub fn row(event: &AuditEvent) -> String {
    let time = time_of(event).to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut details = details(&event.event_type, &event.data);
    if let Some(issuer) = &event.issued_by {
        let by = issuer.token.as_deref().unwrap_or(&issuer.role);
        details = if details.is_empty() { format!("by={by}") } else { format!("{details} by={by}") };
    }
    format!("{:>8}  {:<24}  {:<22} {}", event.revision, time, event.event_type, details)
}

/// When it happened: the time the event records (`recorded_at`, a submission's
/// `submitted_at`), else when the store wrote it.
fn time_of(event: &AuditEvent) -> DateTime<Utc> {
    ["recorded_at", "submitted_at"]
        .iter()
        .find_map(|key| event.data.get(key)?.as_str()?.parse().ok())
        .unwrap_or(event.created)
}

/// The fields shown for each event type, as (label, JSON pointer into the data).
fn fields_of(event_type: &str) -> &'static [(&'static str, &'static str)] {
    match event_type {
        "AccountPlanChanged" => &[("plan", "/plan"), ("previous", "/previous")],
        "WebhookCreated" => &[("webhook", "/webhook_id"), ("url", "/url"), ("events", "/events")],
        "WebhookUpdated" => &[("url", "/url"), ("events", "/events"), ("description", "/description")],
        "WebhookSecretRotated" => &[("version", "/secret_version"), ("previous_valid_until", "/previous_valid_until")],
        "WebhookDisabled" => &[("by", "/by"), ("reason", "/reason")],
        "WebhookEnabled" | "WebhookDeleted" => &[("webhook", "/webhook_id")],
        "TestEventRequested" => &[("test", "/test_id"), ("event", "/event")],
        "CandidateInterested" => {
            &[("submission", "/submission_id"), ("pack", "/pack_name"), ("candidate", "/candidate/name")]
        }
        "CandidateDeclined" => &[
            ("submission", "/submission_id"),
            ("pack", "/pack_name"),
            ("candidate", "/candidate/name"),
            ("reason", "/reason/standard"),
            ("custom_reason", "/reason/custom"),
        ],
        "DeliveryAttempted" => &[
            ("delivery", "/delivery_id"),
            ("attempt", "/attempt"),
            ("result", "/outcome/result"),
            ("status", "/outcome/status"),
            ("error", "/outcome/code"),
            ("latency_ms", "/latency_ms"),
            ("next_attempt", "/next_attempt_at"),
        ],
        "DeliveryAbandoned" => &[("delivery", "/delivery_id"), ("attempts", "/attempts")],
        "WebhookFlaggedFailing" => &[("since", "/failing_since"), ("delivery", "/delivery_id")],
        "WebhookRecovered" => &[("delivery", "/delivery_id")],
        "DeliveryCheckpoint" => {
            &[("resume", "/resume_position"), ("pending", "/pending"), ("failing_since", "/failing_since")]
        }
        _ => &[],
    }
}

/// `label=value` for each field of the type that is present; for a type this build does not
/// know, its first few plain fields.
fn details(event_type: &str, data: &Value) -> String {
    let known = fields_of(event_type);
    let parts: Vec<String> = if known.is_empty() {
        data.as_object()
            .into_iter()
            .flatten()
            .filter(|(key, value)| *key != "recorded_at" && !value.is_object() && !value.is_array())
            .take(4)
            .filter_map(|(key, value)| Some(format!("{key}={}", shown(value)?)))
            .collect()
    } else {
        known
            .iter()
            .filter_map(|(label, pointer)| Some(format!("{label}={}", shown(data.pointer(pointer)?)?)))
            .collect()
    };
    parts.join(" ")
}

/// A value as a row shows it: texts bare unless they hold spaces or quotes, lists joined
/// with commas (a list of objects by its length), `null` not at all.
fn shown(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null => return None,
        Value::String(text) if text.is_empty() || text.contains(|c: char| c.is_whitespace() || c == '"') => {
            format!("{text:?}")
        }
        Value::String(text) => text.clone(),
        Value::Array(items) if items.iter().all(|i| !i.is_object()) => {
            items.iter().filter_map(shown).collect::<Vec<_>>().join(",")
        }
        Value::Array(items) => items.len().to_string(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(event_type: &str, data: Value) -> AuditEvent {
        AuditEvent {
            position: "7".into(),
            stream: "s".into(),
            revision: 3,
            event_id: "e".into(),
            event_type: event_type.into(),
            created: "2026-12-08T10:00:00Z".parse().unwrap(),
            data,
            metadata: json!({}),
            issued_by: None,
        }
    }

    #[test]
    fn each_type_shows_the_fields_that_matter() {
        let attempt = event(
            "DeliveryAttempted",
            json!({"delivery_id": "dlv_1", "attempt": 2, "latency_ms": 12, "next_attempt_at": null,
                   "outcome": {"result": "failure", "code": "timeout", "status": null, "detail": "x"},
                   "recorded_at": "2026-12-08T10:00:01.5Z"}),
        );
        assert_eq!(
            row(&attempt),
            "       3  2026-12-08T10:00:01.500Z  DeliveryAttempted      \
             delivery=dlv_1 attempt=2 result=failure error=timeout latency_ms=12"
        );
        let declined = event(
            "CandidateDeclined",
            json!({"submission_id": "sub_1", "pack_name": "Senior Rust Engineer", "candidate": {"name": "Ada"},
                   "reason": {"custom": "Reason #2"}, "submitted_at": "2026-12-08T09:00:00Z"}),
        );
        assert!(row(&declined)
            .ends_with(r#"submission=sub_1 pack="Senior Rust Engineer" candidate=Ada custom_reason="Reason #2""#));
        let created = event(
            "WebhookCreated",
            json!({"webhook_id": "wh_1", "url": "https://x", "events": ["interested", "declined"]}),
        );
        assert!(row(&created).contains("2026-12-08T10:00:00.000Z"), "falls back to the store's time");
        assert!(row(&created).ends_with("webhook=wh_1 url=https://x events=interested,declined"));
        let mut plan = event("AccountPlanChanged", json!({"plan": "growth", "previous": null}));
        plan.issued_by =
            Some(packhooks_domain::events::Issuer { role: "frontend".into(), token: Some("portal".into()) });
        assert!(row(&plan).ends_with("plan=growth by=portal"), "{}", row(&plan));
        let future = event("SomethingNew", json!({"a": 1, "nested": {"b": 2}, "c": "d"}));
        assert!(row(&future).ends_with("SomethingNew           a=1 c=d"), "{}", row(&future));
    }
}
