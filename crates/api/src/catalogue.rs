//! The event catalogue: what packhooks sends to a webhook, each event type with a
//! description, the JSON Schema of its body and example bodies (a decline with a standard and
//! with a custom reason). Served by `GET /v1/event-types` and, as the OpenAPI 3.1 `webhooks`
//! section, in `/openapi.json`, with the request headers.

use serde_json::{json, Value};

/// The catalogue as `GET /v1/event-types` answers it.
pub fn event_types() -> Value {
    json!({ "data": [interested(), declined()] })
}

fn interested() -> Value {
    json!({
        "type": "candidate.interested",
        "event": "interested",
        "description": "A candidate submitted a pack's Interested form and left contact details. \
                        Fields the form did not collect are null.",
        "schema": envelope("candidate.interested", data(json!({
                "candidate": {
                    "type": "object",
                    "required": ["name", "email", "phone", "linkedin_url", "resume_url", "message"],
                    "additionalProperties": false,
                    "properties": {
                        "name": nullable_text(),
                        "email": nullable_text(),
                        "phone": nullable_text(),
                        "linkedin_url": nullable_text(),
                        "resume_url": nullable_text(),
                        "message": nullable_text(),
                    }
                }
        }))),
        "examples": [example("candidate.interested", json!({
            "account_id": "acc_7",
            "submission_id": "sub_0190f2a46b1c7d3e8f00000000000042",
            "submitted_at": "2026-11-28T09:00:00.123456Z",
            "pack": {"id": "pk_42", "name": "Senior Rust Engineer"},
            "candidate": {"name": "Ada", "email": "ada@example.com", "phone": null, "linkedin_url": null,
                          "resume_url": null, "message": null}
        }))]
    })
}

fn declined() -> Value {
    let body = |reason: Value, feedback: Value| {
        example(
            "candidate.declined",
            json!({
                "account_id": "acc_7",
                "submission_id": "sub_0190f2a46b1c7d3e8f00000000000043",
                "submitted_at": "2026-11-28T09:05:00.000001Z",
                "pack": {"id": "pk_42", "name": "Senior Rust Engineer"},
                "candidate": {"name": "Ada", "email": "ada@example.com"},
                "reason": reason,
                "feedback": feedback
            }),
        )
    };
    json!({
        "type": "candidate.declined",
        "event": "declined",
        "description": "A candidate submitted a pack's Declined form with a reason: one of the standard \
                        reasons (custom false, code set), or the pack's own label (custom true, code null).",
        "schema": envelope("candidate.declined", data(json!({
                "candidate": {
                    "type": "object",
                    "required": ["name", "email"],
                    "additionalProperties": false,
                    "properties": {"name": nullable_text(), "email": nullable_text()}
                },
                "reason": {
                    "type": "object",
                    "required": ["code", "label", "custom"],
                    "additionalProperties": false,
                    "properties": {
                        "code": {"type": ["string", "null"],
                                 "enum": ["not_looking", "compensation", "location", "role_fit", "company",
                                          "timing", "other", null]},
                        "label": {"type": "string"},
                        "custom": {"type": "boolean"}
                    }
                },
                "feedback": nullable_text()
        }))),
        "examples": [
            body(json!({"code": "compensation", "label": "Compensation", "custom": false}),
                 json!("Thanks, but the range is below my current salary.")),
            body(json!({"code": null, "label": "Reason #2", "custom": true}), Value::Null),
        ]
    })
}

/// The body around `data`: the same for every type.
fn envelope(kind: &str, data: Value) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["type", "id", "timestamp", "test", "data"],
        "additionalProperties": false,
        "properties": {
            "type": {"const": kind},
            "id": {"type": "string", "pattern": "^msg_[0-9a-f]{32}$",
                   "description": "The same as the webhook-id header, on every attempt: deduplicate on it"},
            "timestamp": {"type": "string", "format": "date-time",
                          "description": "When the submission was stored, RFC 3339 UTC with microseconds"},
            "test": {"type": "boolean", "description": "true for a test event sent from the API"},
            "data": data
        }
    })
}

/// The `data` of a body: the fields every type has, and `specific` ones; all required.
fn data(specific: Value) -> Value {
    let mut properties = json!({
        "account_id": {"type": "string"},
        "submission_id": {"type": "string", "pattern": "^(sub|test)_[0-9a-f]{32}$",
                          "description": "The submission, `sub_…`; for a test event the test's id, `test_…`"},
        "submitted_at": {"type": "string", "format": "date-time"},
        "pack": pack(),
    });
    if let (Some(all), Value::Object(specific)) = (properties.as_object_mut(), specific) {
        all.extend(specific);
    }
    let required: Vec<String> = properties.as_object().into_iter().flatten().map(|(k, _)| k.clone()).collect();
    json!({"type": "object", "required": required, "additionalProperties": false, "properties": properties})
}

fn example(kind: &str, data: Value) -> Value {
    let id = data["submission_id"].as_str().unwrap_or_default().replacen("sub_", "msg_", 1);
    json!({"type": kind, "id": id, "timestamp": data["submitted_at"], "test": false, "data": data})
}

fn pack() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name"],
        "additionalProperties": false,
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}}
    })
}

fn nullable_text() -> Value {
    json!({"type": ["string", "null"]})
}

/// The OpenAPI 3.1 `webhooks` section: the POST packhooks sends for each event type.
pub fn webhooks_section() -> Value {
    let catalogue = event_types();
    let header = |name: &str, description: &str, example: &str| {
        json!({"name": name, "in": "header", "required": true, "description": description,
               "schema": {"type": "string"}, "example": example})
    };
    let parameters = json!([
        header(
            "webhook-id",
            "msg_ and the submission id: the same on every attempt of a delivery",
            "msg_0190f2a46b1c7d3e8f00000000000042"
        ),
        header("webhook-timestamp", "Unix seconds of this attempt", "1764320400"),
        header(
            "webhook-signature",
            "v1, and the base64 HMAC-SHA256 of id.timestamp.body keyed with the secret's bytes after whsec_; \
                                     during a rotation two signatures, separated by a space",
            "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="
        ),
        header("user-agent", "packhooks and its version", "packhooks/0.1.0"),
    ]);
    let mut section = serde_json::Map::new();
    for entry in catalogue["data"].as_array().into_iter().flatten() {
        let examples: serde_json::Map<String, Value> = entry["examples"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, body)| (format!("example_{}", i + 1), json!({"value": body})))
            .collect();
        let name = entry["type"].as_str().unwrap_or_default().to_owned();
        section.insert(name.clone(), json!({
            "post": {
                "summary": name,
                "description": format!(
                    "{} This is the body of a webhook whose format is standard; one whose format is slack, discord \
                     or teams receives a chat message made from the same data instead (Slack text and Block Kit \
                     blocks, Discord content and one embed, a Teams Adaptive Card), with the same headers.",
                    entry["description"].as_str().unwrap_or_default()
                ),
                "parameters": parameters,
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": entry["schema"], "examples": examples}}},
                "responses": {
                    "2XX": {"description": "Delivered: any 2xx within the attempt timeout"},
                    "default": {"description": "Any other answer, or none in time, is a failed attempt: retried on the \
                                                schedule, abandoned after the last (410 Gone disables the webhook at once; \
                                                Retry-After on 429 and 503 is honoured within the retry bounds)"}
                }
            }
        }));
    }
    Value::Object(section)
}
