//! Form submissions: `POST /v1/packs/{pack}/interest` and `/decline`, appended to `pack-{id}`.
//!
//! With an `Idempotency-Key`, the submission id and the event id are UUID v5 of (pack, key):
//! a retry produces the same event id, the store's idempotent append writes nothing the
//! second time, and the answer (submission id and position) is the same. Without a key, ids
//! are fresh UUID v7s.
//!
//! The key names one request, not just one event id: a keyed event carries the hash of its
//! request (form, pack and the parsed body) in its metadata, and after the append the event
//! at the returned revision is read back. If it is another form's event or another body's
//! hash, the key was reused for a different request: 422 `idempotency_key_reused`, never the
//! first request's answer (which would tell the client a submission it never made was
//! stored). The read-back costs keyed submissions one stream read; unkeyed ones skip it.

use std::fmt::Write as _;

use actix_web::http::header::ContentType;
use actix_web::http::Method;
use actix_web::{guard, web, HttpRequest, HttpResponse};
use packhooks_domain::submission::{
    self, DeclineReason, DeclinedCandidate, InterestedCandidate, StandardReason, SubmitDecline, SubmitInterest,
};
use packhooks_domain::{AccountId, DomainEvent, EventMetadata, PackId, SubmissionId};
use packhooks_store::{Direction, EventData, ExpectedRevision, Position, StreamPosition};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Authorized, Frontend};
use crate::command;
use crate::idempotency::{self, KeyedMetadata};
use crate::json::ApiJson;
use crate::{ApiError, ApiState};

/// Registered by hand rather than with `#[post]`, which is the same resource with actix's
/// method guard: that guard records every method it checks in the request's extensions (a
/// map and a `Vec` allocated and freed per request) for a 405 that a resource-level guard
/// never sends. This guard only compares; a GET still falls through to the 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/packs/{pack}/interest")
            .name("submit_interest")
            .guard(guard::fn_guard(is_post))
            .to(submit_interest),
    )
    .service(
        web::resource("/v1/packs/{pack}/decline")
            .name("submit_decline")
            .guard(guard::fn_guard(is_post))
            .to(submit_decline),
    );
}

fn is_post(ctx: &guard::GuardContext<'_>) -> bool {
    ctx.head().method == Method::POST
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(submit_interest, submit_decline))]
pub struct Doc;

/// The namespace of submission ids derived from idempotency keys. Fixed forever: changing it
/// would make a retry after an upgrade a second submission.
const SUBMISSION_NAMESPACE: Uuid = Uuid::from_u128(0x5d1c_6a8e_2f0b_4c39_9b57_0e3a_81f4_c2d6);
/// The namespace of the event ids of those submissions.
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x8a43_e9b1_77c2_4f05_a6d8_3b19_5e70_f124);

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InterestedCandidateIn {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub linkedin_url: Option<String>,
    pub resume_url: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclinedCandidateIn {
    pub name: Option<String>,
    pub email: Option<String>,
}

/// Serialisable too: a keyed request's hash is taken over this parsed form (see [`request_hash`]).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InterestIn {
    pub account_id: AccountId,
    pub pack_name: String,
    pub candidate: InterestedCandidateIn,
}

/// `{"code":"compensation"}` for a standard reason or `{"custom":"Reason #2"}`: exactly one.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonIn {
    pub code: Option<StandardReason>,
    pub custom: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineIn {
    pub account_id: AccountId,
    pub pack_name: String,
    pub candidate: DeclinedCandidateIn,
    pub reason: ReasonIn,
    pub feedback: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubmissionAcceptedOut {
    pub submission_id: SubmissionId,
    /// The submission's place in the log (`$all`); retries with the same key get the same one.
    pub position: String,
}

impl From<InterestedCandidateIn> for InterestedCandidate {
    fn from(c: InterestedCandidateIn) -> Self {
        InterestedCandidate {
            name: c.name,
            email: c.email,
            phone: c.phone,
            linkedin_url: c.linkedin_url,
            resume_url: c.resume_url,
            message: c.message,
        }
    }
}

impl TryFrom<ReasonIn> for DeclineReason {
    type Error = ApiError;
    fn try_from(r: ReasonIn) -> Result<Self, ApiError> {
        match (r.code, r.custom) {
            (Some(code), None) => Ok(DeclineReason::Standard(code)),
            (None, Some(custom)) => Ok(DeclineReason::Custom(custom)),
            _ => Err(ApiError::InvalidInput { field: "reason", reason: "needs exactly one of code and custom" }),
        }
    }
}

/// The ids of one submission: derived from the idempotency key, or fresh.
struct Ids {
    submission: SubmissionId,
    event: Uuid,
    /// The ids came from an `Idempotency-Key`: the request is hashed and checked after the append.
    keyed: bool,
}

impl Ids {
    fn for_request(req: &HttpRequest, pack: &PackId) -> Result<Ids, ApiError> {
        let Some(key) = idempotency::key(req)? else {
            return Ok(Ids {
                submission: SubmissionId::from_uuid(Uuid::now_v7()),
                event: Uuid::now_v7(),
                keyed: false,
            });
        };
        // The pack id holds no NUL, so (pack, key) pairs map to distinct names.
        let name = format!("{pack}\0{key}");
        Ok(Ids {
            submission: SubmissionId::from_uuid(Uuid::new_v5(&SUBMISSION_NAMESPACE, name.as_bytes())),
            event: Uuid::new_v5(&EVENT_NAMESPACE, name.as_bytes()),
            keyed: true,
        })
    }
}

fn pack_id(text: &str) -> Result<PackId, ApiError> {
    PackId::parse(text).map_err(|source| ApiError::InvalidId { field: "pack", source })
}

/// The hash of a keyed submission ([`idempotency::request_hash`] of the form, the pack and
/// the parsed body).
fn request_hash(form: &str, pack: &PackId, body: &impl Serialize) -> String {
    idempotency::request_hash(form, pack.as_str(), body)
}

/// Appends the submission's one event with the derived id and answers 202; with a key, first
/// checks that the stored event is this request's (see the module's header).
async fn accept(
    state: &ApiState,
    pack: &PackId,
    ids: Ids,
    hash: Option<String>,
    events: Vec<DomainEvent>,
) -> Result<HttpResponse, ApiError> {
    let metadata = EventMetadata::correlated(ids.submission);
    let stream = pack.stream();
    let Some(hash) = hash else {
        let data = events.iter().map(|e| command::event_data(ids.event, e, &metadata)).collect();
        drop(events);
        let appended = state.store.append(&stream, ExpectedRevision::Any, data).await?;
        return Ok(accepted(ids.submission, appended.position));
    };
    let [event] = events.as_slice() else {
        return Err(ApiError::internal(std::io::Error::other("a submission decides exactly one event")));
    };
    let keyed = KeyedMetadata { base: &metadata, request_hash: &hash };
    let data = EventData::json(
        ids.event,
        event.event_type(),
        event.to_json(),
        keyed.to_bytes(),
    );
    let appended = state.store.append(&stream, ExpectedRevision::Any, vec![data]).await?;
    let stored = state
        .store
        .read_stream(&stream, StreamPosition::Revision(appended.next_expected_revision), Direction::Forwards, 1)
        .await?;
    let Some(stored) = stored.into_iter().next().filter(|s| s.id == ids.event) else {
        return Err(ApiError::internal(std::io::Error::other("the appended submission is not where the store said")));
    };
    // No hash on events stored before requests were hashed: only the form is compared then.
    let stored_hash = idempotency::stored_hash(&stored.metadata);
    let same_request =
        stored.event_type == event.event_type() && stored_hash.as_ref().is_none_or(|stored| *stored == hash);
    if !same_request {
        return Err(ApiError::IdempotencyKeyReused);
    }
    Ok(accepted(ids.submission, appended.position))
}

fn accepted(submission: SubmissionId, position: Position) -> HttpResponse {
    HttpResponse::Accepted().content_type(ContentType::json()).body(accepted_body(submission, position))
}

/// The [`SubmissionAcceptedOut`] body, written straight into one buffer: both values are
/// made of ASCII letters, digits, `_` and `/`, which JSON strings hold unescaped (a test
/// compares it with the serialised struct).
fn accepted_body(submission: SubmissionId, position: Position) -> String {
    let mut body = String::with_capacity(96);
    let mut uuid = Uuid::encode_buffer();
    body.push_str(r#"{"submission_id":""#);
    body.push_str(SubmissionId::PREFIX);
    body.push_str(submission.uuid().simple().encode_lower(&mut uuid));
    body.push_str(r#"","position":""#);
    let _ = write!(body, "{position}");
    body.push_str(r#""}"#);
    body
}

/// A candidate submitted the Interested form.
#[utoipa::path(
    post,
    path = "/v1/packs/{pack}/interest",
    tag = "submissions",
    params(
        ("pack" = String, Path, description = "The pack id, e.g. `pk_42`"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters; a retry with the same key is the same submission; the key with a different request (body or form) is a 422 `idempotency_key_reused`"),
    ),
    request_body = InterestIn,
    responses(
        (status = 202, body = SubmissionAcceptedOut),
        (status = 400, body = crate::error::Problem, content_type = crate::error::PROBLEM_JSON),
        (status = 422, body = crate::error::Problem, content_type = crate::error::PROBLEM_JSON),
    ),
)]
async fn submit_interest(
    _: Authorized<Frontend>,
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: ApiJson<InterestIn>,
) -> Result<HttpResponse, ApiError> {
    let pack = pack_id(&path)?;
    let ids = Ids::for_request(&req, &pack)?;
    let body = body.into_inner();
    let hash = ids.keyed.then(|| request_hash("interest", &pack, &body));
    let events = submission::decide(SubmitInterest {
        submission_id: ids.submission,
        pack_id: pack.clone(),
        account_id: body.account_id,
        pack_name: body.pack_name,
        candidate: body.candidate.into(),
        now: state.clock.now(),
    })?;
    accept(&state, &pack, ids, hash, events).await
}

/// A candidate submitted the Declined form.
#[utoipa::path(
    post,
    path = "/v1/packs/{pack}/decline",
    tag = "submissions",
    params(
        ("pack" = String, Path, description = "The pack id, e.g. `pk_42`"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters; a retry with the same key is the same submission; the key with a different request (body or form) is a 422 `idempotency_key_reused`"),
    ),
    request_body = DeclineIn,
    responses(
        (status = 202, body = SubmissionAcceptedOut),
        (status = 400, body = crate::error::Problem, content_type = crate::error::PROBLEM_JSON),
        (status = 422, body = crate::error::Problem, content_type = crate::error::PROBLEM_JSON),
    ),
)]
async fn submit_decline(
    _: Authorized<Frontend>,
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: ApiJson<DeclineIn>,
) -> Result<HttpResponse, ApiError> {
    let pack = pack_id(&path)?;
    let ids = Ids::for_request(&req, &pack)?;
    let body = body.into_inner();
    let hash = ids.keyed.then(|| request_hash("decline", &pack, &body));
    let events = submission::decide(SubmitDecline {
        submission_id: ids.submission,
        pack_id: pack.clone(),
        account_id: body.account_id,
        pack_name: body.pack_name,
        candidate: DeclinedCandidate { name: body.candidate.name, email: body.candidate.email },
        reason: body.reason.try_into()?,
        feedback: body.feedback,
        now: state.clock.now(),
    })?;
    accept(&state, &pack, ids, hash, events).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn only_a_post_is_routed_to_a_submission() {
        use actix_web::test::{call_service, init_service, TestRequest};
        for method in [Method::POST, Method::PUT] {
            let request = TestRequest::default().method(method.clone()).to_srv_request();
            assert_eq!(is_post(&request.guard_ctx()), method == Method::POST);
        }
        let app =
            init_service(actix_web::App::new().configure(configure).default_service(web::to(HttpResponse::ImATeapot)))
                .await;
        for path in ["/v1/packs/pk_42/interest", "/v1/packs/pk_42/decline"] {
            let response = call_service(&app, TestRequest::get().uri(path).to_request()).await;
            assert_eq!(response.status(), 418, "a GET of {path} falls through to the default service");
        }
    }

    #[test]
    fn the_accepted_body_is_the_serialised_answer() {
        let submission = SubmissionId::from_uuid(Uuid::now_v7());
        for position in [Position::at(1), Position::at(u64::MAX), Position { commit: 7, prepare: 3 }] {
            let expected = serde_json::to_string(&SubmissionAcceptedOut {
                submission_id: submission,
                position: position.to_string(),
            })
            .unwrap();
            assert_eq!(accepted_body(submission, position), expected);
        }
    }
}
