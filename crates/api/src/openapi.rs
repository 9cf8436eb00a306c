//! The OpenAPI document: its frame (title, the bearer scheme, the routes served beside the
//! route modules), and [`complete`], run over the whole document once every route module's
//! `Doc` is merged in (see `routes::openapi`). The handlers document what is theirs (bodies,
//! their own statuses); what every request goes through at the edge is added here, once, so
//! that each operation lists every status it can answer: 401 and 403 where a token is
//! needed, 400 and 404 for path ids, 405 for a wrong method, 408, 413 and 415 for a body,
//! 414, 422 for an `Idempotency-Key`, 409 for a command, 503 when the store is out of reach.
//! Path ids get their patterns and bounds, every response a description, and the document
//! the OpenAPI 3.1 `webhooks` section of the requests packhooks sends ([`crate::catalogue`]).

use actix_web::HttpResponse;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Object, ObjectBuilder, Ref, RefOr, ResponseBuilder, Schema, Type};
use utoipa::{Modify, OpenApi};

use crate::error::PROBLEM_JSON;

#[derive(OpenApi)]
#[openapi(
    info(title = "packhooks", description = "Delivers candidate-pack form submissions to customers' webhooks: \
        accounts and their plans, webhooks, form submissions, the event history for auditors and the \
        projections for operators. The requests packhooks sends are in `webhooks`; their catalogue is \
        `GET /v1/event-types`."),
    paths(document, event_types),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(crate::error::Problem, crate::auth::Role)),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Routes anyone may call, without a token.
const PUBLIC: [&str; 4] = ["/healthz", "/readyz", "/openapi.json", "/v1/event-types"];

/// Routes that answer without the store.
const WITHOUT_STORE: [&str; 3] = ["/healthz", "/openapi.json", "/v1/event-types"];

/// Adds to every operation what the edge of the API gives it (see the module docs).
pub fn complete(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let public = PUBLIC.contains(&path.as_str());
        let operations = [
            (&mut item.get, false),
            (&mut item.post, true),
            (&mut item.put, true),
            (&mut item.patch, true),
            (&mut item.delete, true),
        ];
        for (operation, command) in operations {
            let Some(operation) = operation.as_mut() else { continue };
            if public {
                operation.security = Some(vec![Default::default()]);
            }
            complete_parameters(path, operation);
            let has = |location: ParameterIn, name: Option<&str>| {
                operation
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| p.parameter_in == location && name.is_none_or(|n| p.name.eq_ignore_ascii_case(n)))
            };
            let path_ids = has(ParameterIn::Path, None);
            let query = has(ParameterIn::Query, None);
            let keyed = has(ParameterIn::Header, Some("Idempotency-Key"));
            let body = operation.request_body.is_some();
            let statuses: [(bool, &str, &str); 13] = [
                (path_ids || query || body || keyed || !public, "400", "The request is not well formed: a path id, a query parameter, a header or the body (`code` and `field` say which)"),
                (!public, "401", "No bearer token, or not one of ours"),
                (!public, "403", "The token lacks the role this route needs, or the account's plan does not allow it"),
                (path_ids, "404", "Nothing with this id"),
                (true, "405", "The path exists, but not with this method; `Allow` lists its methods"),
                (body, "408", "The body did not arrive within the request timeout"),
                (command, "409", "Changed concurrently (read again and retry), or refused by the current state"),
                (body, "413", "The body is over 64 KiB"),
                (true, "414", "The path and query are over 8 KiB"),
                (body, "415", "The body must be `application/json`"),
                (keyed, "422", "The `Idempotency-Key` was used for a different request"),
                (!WITHOUT_STORE.contains(&path.as_str()), "503", "The event store is out of reach, or the server is still reading the log"),
                (true, "500", "An internal error; the answer says nothing more, the server's log has the cause"),
            ];
            for (applies, status, description) in statuses {
                if applies {
                    operation.responses.responses.entry(status.to_owned()).or_insert_with(|| problem(description));
                }
            }
            for (status, response) in operation.responses.responses.iter_mut() {
                if let RefOr::T(response) = response {
                    if response.description.trim().is_empty() {
                        response.description = default_description(status).to_owned();
                    }
                }
            }
        }
    }
}

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
    RefOr::T(ResponseBuilder::new().description(description).content(PROBLEM_JSON, content).build())
}

fn default_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted: stored durably; delivery follows",
        "204" => "Done; nothing to show",
        "400" => "The request is not well formed",
        "404" => "Nothing with this id",
        "409" => "Refused by the current state",
        "422" => "The `Idempotency-Key` was used for a different request",
        "503" => "Not available now",
        _ => "See the problem's `code`",
    }
}

/// Parameters get the patterns and bounds their parsers apply: path ids, the query
/// parameters, the `Idempotency-Key` header.
fn complete_parameters(path: &str, operation: &mut Operation) {
    use packhooks_projections::{audit, delivery_log};
    // The routes' page bounds: the audit history, the delivery log, and the short lists
    // (an account's webhooks, the projections) of at most 100.
    let page = if path.starts_with("/v1/audit") {
        audit::MAX_PAGE
    } else if path.starts_with("/v1/webhooks/") {
        delivery_log::MAX_PAGE
    } else {
        100
    };
    for parameter in operation.parameters.iter_mut().flatten() {
        let schema = match (&parameter.parameter_in, parameter.name.as_str()) {
            (ParameterIn::Path, "account" | "pack") => text(1, 64, EXTERNAL_ID),
            (ParameterIn::Path, "id") if path.starts_with("/v1/submissions/") => text(36, 36, "^sub_[0-9a-f]{32}$"),
            (ParameterIn::Path, "id") => text(35, 35, "^wh_[0-9a-f]{32}$"),
            (ParameterIn::Path, "delivery") => text(36, 36, "^dlv_[0-9a-f]{32}$"),
            (ParameterIn::Path, "name") => {
                ObjectBuilder::new().schema_type(Type::String).enum_values(Some(packhooks_projections::NAMES)).build()
            }
            (ParameterIn::Header, name) if name.eq_ignore_ascii_case("Idempotency-Key") => {
                text(1, crate::idempotency::MAX_KEY_LEN, "^[!-~](?:[ -~]*[!-~])?$")
            }
            (ParameterIn::Query, "state") => ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(packhooks_projections::deliveries::state::ALL))
                .build(),
            (ParameterIn::Query, "event_type") => {
                ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["interested", "declined"])).build()
            }
            (ParameterIn::Query, "direction") => {
                ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["forwards", "backwards"])).build()
            }
            (ParameterIn::Query, "limit") => {
                ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(page as f64)).build()
            }
            // Below 2^63, so every number fits the store's positions and revisions; a stream's
            // cursor is a revision, an account's webhooks' the last webhook id, the
            // projections' a name (any text), the others a log position.
            (ParameterIn::Query, "from" | "before" | "cursor") if path.starts_with("/v1/audit/streams") => {
                text(1, 18, "^[0-9]{1,18}$")
            }
            (ParameterIn::Query, "cursor") if path.ends_with("/webhooks") => text(35, 35, "^wh_[0-9a-f]{32}$"),
            (ParameterIn::Query, "cursor") if path.starts_with("/v1/ops") => continue,
            (ParameterIn::Query, "from" | "before" | "cursor") => text(1, 37, "^[0-9]{1,18}(?:/[0-9]{1,18})?$"),
            (ParameterIn::Query, "at" | "since" | "until") => ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::DateTime)))
                .pattern(Some(RFC3339))
                .build(),
            _ => continue,
        };
        parameter.schema = Some(RefOr::T(Schema::Object(schema)));
    }
}

/// Ids the frontend chooses: 1 to 64 of `A-Z a-z 0-9 _ - .`, but not `.` or `..`.
const EXTERNAL_ID: &str = r"^(?:[A-Za-z0-9_-]|\.[A-Za-z0-9_-]|\.\.[A-Za-z0-9_.-])[A-Za-z0-9_.-]*$";

/// RFC 3339 as the API reads it.
const RFC3339: &str = r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$";

fn text(min: usize, max: usize, pattern: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .build()
}

/// This document: every route, its parameters, bodies and answers, and (`webhooks`) the
/// requests packhooks sends.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json")),
)]
pub async fn document() -> HttpResponse {
    let mut document = serde_json::to_value(crate::openapi()).expect("the document serialises");
    constrain_bodies(&mut document["components"]["schemas"]);
    document["webhooks"] = crate::catalogue::webhooks_section();
    HttpResponse::Ok().json(document)
}

/// A character of a free text: anything but a control character other than tab and newline.
const TEXT_CHAR: &str = r"[^\x00-\x08\x0B-\x1F\x7F-\x9F]";
/// A character that shows (`is_visible` in the domain's submission rules).
const VISIBLE_CHAR: &str = r"[^\s\x00-\x1F\x7F-\x9F\u00AD\u034F\u115F\u1160\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\u2800\u3164\uFE00-\uFE0F\uFEFF\uFFA0]";
/// A URL with a host name (each label starting with a letter) and a plain path.
const HTTP_URL: &str = r"^https?://[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(?:/[A-Za-z0-9._~/-]*)?$";

/// The request bodies' fields get the bounds and patterns the domain checks (by the field's
/// name, in every `…In` schema), and a decline's reason its "exactly one of" shape.
fn constrain_bodies(schemas: &mut serde_json::Value) {
    use packhooks_domain::submission::{MAX_FIELD, MAX_PACK_NAME, MAX_REASON_LABEL, MAX_TEXT};
    use packhooks_domain::webhook::MAX_DESCRIPTION;
    use serde_json::json;
    let with_visible = |max: usize| json!({"minLength": 1, "maxLength": max, "pattern": format!("^{TEXT_CHAR}*{VISIBLE_CHAR}{TEXT_CHAR}*$")});
    let not_blank = |max: usize| json!({"minLength": 1, "maxLength": max, "pattern": format!(r"^{TEXT_CHAR}*[^\s\x00-\x1F\x7F-\x9F]{TEXT_CHAR}*$")});
    let rules = [
        ("pack_name", with_visible(MAX_PACK_NAME)),
        ("name", with_visible(MAX_FIELD)),
        ("custom", with_visible(MAX_REASON_LABEL)),
        ("phone", not_blank(MAX_FIELD)),
        ("message", not_blank(MAX_TEXT)),
        ("feedback", not_blank(MAX_TEXT)),
        ("description", json!({"maxLength": MAX_DESCRIPTION, "pattern": format!("^{TEXT_CHAR}*$")})),
        ("email", json!({"maxLength": MAX_FIELD, "pattern": r"^[^@\s\x00-\x1F\x7F-\x9F]+@[^@\s\x00-\x1F\x7F-\x9F]+$"})),
        ("linkedin_url", json!({"maxLength": MAX_FIELD, "pattern": HTTP_URL})),
        ("resume_url", json!({"maxLength": MAX_FIELD, "pattern": HTTP_URL})),
        ("url", json!({"maxLength": packhooks_domain::webhook::WebhookUrl::MAX_LEN, "pattern": HTTP_URL})),
        ("events", json!({"minItems": 1, "maxItems": 2, "uniqueItems": true})),
    ];
    let Some(schemas) = schemas.as_object_mut() else { return };
    for (name, schema) in schemas.iter_mut() {
        if !name.ends_with("In") {
            continue;
        }
        let Some(properties) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) else { continue };
        for (field, rule) in &rules {
            if let (Some(property), Some(rule)) = (properties.get_mut(*field), rule.as_object()) {
                let target = property.as_object_mut().expect("a property is a schema object");
                for (key, value) in rule {
                    target.insert(key.clone(), value.clone());
                }
            }
        }
    }
    for id in ["AccountId", "PackId"] {
        if let Some(schema) = schemas.get_mut(id).and_then(|s| s.as_object_mut()) {
            schema.insert("minLength".into(), json!(1));
            schema.insert("maxLength".into(), json!(64));
            schema.insert("pattern".into(), json!(EXTERNAL_ID));
        }
    }
    if let Some(reason) = schemas.get_mut("ReasonIn").and_then(|s| s.as_object_mut()) {
        let code = reason.get("properties").and_then(|p| p.get("code")).cloned().unwrap_or(json!({}));
        let custom = reason.get("properties").and_then(|p| p.get("custom")).cloned().unwrap_or(json!({}));
        let code = json!({"allOf": [code, {"not": {"type": "null"}}]});
        for key in ["properties", "required", "additionalProperties"] {
            reason.remove(key);
        }
        reason.insert(
            "oneOf".into(),
            json!([
                {"type": "object", "required": ["code"], "additionalProperties": false, "properties": {"code": code}},
                {"type": "object", "required": ["custom"], "additionalProperties": false,
                 "properties": {"custom": {"allOf": [custom, {"type": "string"}]}}},
            ]),
        );
    }
}

/// The event catalogue: each event type packhooks sends, with a description, the JSON Schema
/// of its body and example bodies (a decline with a standard and with a custom reason).
#[utoipa::path(
    get,
    path = "/v1/event-types",
    tag = "operations",
    responses((status = 200, description = "`data`: each event type with `type` (in the body), `event` (in this API), `description`, `schema` and `examples`", content_type = "application/json")),
)]
pub async fn event_types() -> HttpResponse {
    HttpResponse::Ok().json(crate::catalogue::event_types())
}
