//! The published contract: `/openapi.json` names every status each route can answer, with a
//! description, its per-route security, the bounds and patterns of path ids, and the
//! requests packhooks sends (`webhooks`); `GET /v1/event-types` is the event catalogue, whose
//! schemas the bodies really delivered are checked against (with Python's `jsonschema`).

use std::time::Duration;

use packhooks_tests::app::{interest_body, spawn_app, spawn_app_with};
use packhooks_tests::receiver::TestReceiver;
use packhooks_tests::schemas::schema_errors;
use reqwest::Method;
use serde_json::{json, Value};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

#[actix_web::test]
async fn every_operation_documents_each_status_it_can_answer_with_a_description() {
    let app = spawn_app().await;
    let doc: Value = app.anonymous(Method::GET, "/openapi.json").send().await.unwrap().json().await.unwrap();
    let public = ["/healthz", "/readyz", "/openapi.json", "/v1/event-types"];
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(operation) = item.get(method) else { continue };
            operations += 1;
            let responses = operation["responses"].as_object().unwrap();
            let has = |status: &str| responses.contains_key(status);
            for (status, response) in responses {
                let described = response["description"].as_str().is_some_and(|d| !d.trim().is_empty());
                assert!(described, "{method} {path} {status} has no description");
            }
            assert!(has("405") && has("414") && has("500"), "{method} {path}: {responses:?}");
            if public.contains(&path.as_str()) {
                assert_eq!(operation["security"], serde_json::json!([{}]), "{method} {path} needs no token");
            } else {
                assert!(operation.get("security").is_none(), "{method} {path} keeps the bearer requirement");
                assert!(has("401") && has("403"), "{method} {path}");
            }
            if path.contains('{') {
                assert!(has("400") && has("404"), "{method} {path}");
            }
            if operation.get("requestBody").is_some() {
                for status in ["400", "408", "413", "415"] {
                    assert!(has(status), "{method} {path} lacks {status}");
                }
            }
            if path != "/healthz" && !public[2..].contains(&path.as_str()) {
                assert!(has("503"), "{method} {path}");
            }
        }
    }
    assert!(operations >= 20, "{operations} operations");
    app.stop().await;
}

#[actix_web::test]
async fn path_ids_carry_their_patterns_and_the_document_describes_the_requests_sent() {
    let app = spawn_app().await;
    let doc: Value = app.anonymous(Method::GET, "/openapi.json").send().await.unwrap().json().await.unwrap();
    let parameter = |path: &str, name: &str| -> Value {
        let operation = METHODS.iter().find_map(|m| doc["paths"][path].get(*m)).expect(path);
        operation["parameters"].as_array().unwrap().iter().find(|p| p["name"] == name).cloned().expect(name)
    };
    assert_eq!(parameter("/v1/webhooks/{id}", "id")["schema"]["pattern"], "^wh_[0-9a-f]{32}$");
    assert_eq!(parameter("/v1/submissions/{id}", "id")["schema"]["pattern"], "^sub_[0-9a-f]{32}$", "a submission id, not a webhook id");
    let account = &parameter("/v1/accounts/{account}/plan", "account")["schema"];
    assert_eq!((account["minLength"].as_u64(), account["maxLength"].as_u64()), (Some(1), Some(64)));
    assert!(account["pattern"].is_string());
    assert_eq!(doc["components"]["schemas"]["InterestIn"]["properties"]["pack_name"]["maxLength"], 200);

    for kind in ["candidate.interested", "candidate.declined"] {
        let post = &doc["webhooks"][kind]["post"];
        let headers: Vec<&str> =
            post["parameters"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
        for header in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            assert!(headers.contains(&header), "{kind}: {headers:?}");
        }
        let content = &post["requestBody"]["content"]["application/json"];
        assert_eq!(content["schema"]["properties"]["type"]["const"], kind);
        assert!(!content["examples"].as_object().unwrap().is_empty(), "{kind} has examples");
    }

    let catalogue: Value = app.anonymous(Method::GET, "/v1/event-types").send().await.unwrap().json().await.unwrap();
    let types = catalogue["data"].as_array().unwrap();
    assert_eq!(types.len(), 2);
    let declined = types.iter().find(|t| t["type"] == "candidate.declined").unwrap();
    assert_eq!(declined["event"], "declined");
    assert!(declined["description"].is_string() && declined["schema"].is_object());
    let customs: Vec<bool> =
        declined["examples"].as_array().unwrap().iter().map(|e| e["data"]["reason"]["custom"] == true).collect();
    assert_eq!(customs, [false, true], "a decline with a standard and with a custom reason");
    app.stop().await;
}

/// What a receiver got, checked against the catalogue's schema of its type: the schemas
/// describe the bodies packhooks really sends, not only the examples written next to them.
#[actix_web::test]
async fn every_body_delivered_and_every_example_validates_against_the_catalogue_schema_of_its_type() {
    let app = spawn_app_with(|_| {}).await;
    let receiver = TestReceiver::start();
    let hook = app.given_webhook("acc_cat", &receiver.url("/catalogue")).await;
    let decline = |reason: Value, candidate: Value| {
        json!({"account_id": "acc_cat", "pack_name": "Data Engineer", "candidate": candidate, "reason": reason})
    };
    let submissions = [
        ("interest", interest_body("acc_cat")),
        ("interest", json!({"account_id": "acc_cat", "pack_name": "Data Engineer", "candidate": {"name": "Grace"}})),
        ("decline", decline(json!({"code": "compensation"}), json!({"name": "Ada", "email": "ada@example.com"}))),
        ("decline", decline(json!({"custom": "Relocating abroad"}), json!({"name": "Linus"}))),
    ];
    for (form, body) in &submissions {
        let response = app.post_json(&format!("/v1/packs/pk_cat/{form}"), body).await;
        assert_eq!(response.status(), 202, "{form}: {body}");
    }
    let id = hook["id"].as_str().unwrap();
    for event in ["interested", "declined"] {
        let response = app.post_json(&format!("/v1/webhooks/{id}/test"), &json!({ "event": event })).await;
        assert_eq!(response.status(), 202);
    }
    assert!(receiver.wait_for(Some("/catalogue"), 6, Duration::from_secs(20)).await, "six deliveries arrive");

    let catalogue: Value = app.anonymous(Method::GET, "/v1/event-types").send().await.unwrap().json().await.unwrap();
    let schema_of = |kind: &str| -> Value {
        catalogue["data"].as_array().unwrap().iter().find(|t| t["type"] == kind).unwrap()["schema"].clone()
    };
    let mut cases = Vec::new();
    for received in receiver.requests_to("/catalogue") {
        let body = received.json();
        cases.push((schema_of(body["type"].as_str().expect("a type")), body));
    }
    for entry in catalogue["data"].as_array().unwrap() {
        for example in entry["examples"].as_array().unwrap() {
            cases.push((entry["schema"].clone(), example.clone()));
        }
    }
    let kinds: std::collections::BTreeSet<String> =
        cases.iter().map(|(_, body)| body["type"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(kinds.len(), 2, "both event types are checked: {kinds:?}");
    let errors = schema_errors(&cases);
    for ((_, body), errors) in cases.iter().zip(&errors) {
        assert!(errors.is_empty(), "{body} does not match its schema: {errors:?}");
    }
    // The check can fail: a body with a field the schema does not allow is refused.
    let (schema, mut body) = cases[0].clone();
    body["data"]["unexpected"] = json!(1);
    body["type"] = json!(12);
    assert!(!schema_errors(&[(schema, body)])[0].is_empty(), "the schema refuses a wrong body");
    app.stop().await;
}
