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
use packhooks_domain::{AccountId, DomainEvent, Issuer, PackId, SubmissionId};
use packhooks_store::Position;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Authorized, Frontend};
use crate::command::{self, Command, Key};
use crate::idempotency;
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

/// Serialisable too: a keyed request's hash is taken over this parsed form (see `Ids::key`).
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
struct Ids<'a> {
    submission: SubmissionId,
    /// The request's `Idempotency-Key`; its event's id derives from it.
    key: Option<&'a str>,
}

impl<'a> Ids<'a> {
    fn for_request(req: &'a HttpRequest, pack: &PackId) -> Result<Ids<'a>, ApiError> {
        let Some(key) = idempotency::key(req)? else {
            return Ok(Ids { submission: SubmissionId::from_uuid(Uuid::now_v7()), key: None });
        };
        let submission = SubmissionId::from_uuid(Uuid::new_v5(&SUBMISSION_NAMESPACE, keyed_name(pack, key).as_bytes()));
        Ok(Ids { submission, key: Some(key) })
    }

    /// The command key of a keyed submission: the request's hash over the form, the pack and
    /// the parsed body, and the event id derived from (pack, key).
    fn key(&self, form: &str, pack: &PackId, body: &impl Serialize) -> Option<Key> {
        self.key.map(|key| {
            let event = Uuid::new_v5(&EVENT_NAMESPACE, keyed_name(pack, key).as_bytes());
            Key::new(key, form, pack.as_str(), body).with_event_id(event)
        })
    }
}

/// The pack id holds no NUL, so (pack, key) pairs map to distinct names.
fn keyed_name(pack: &PackId, key: &str) -> String {
    format!("{pack}\0{key}")
}

fn pack_id(text: &str) -> Result<PackId, ApiError> {
    PackId::parse(text).map_err(|source| ApiError::InvalidId { field: "pack", source })
}

/// Appends the submission's one event through the command path and answers 202; a keyed one
/// is read back and checked to be this request's (see the module's header).
async fn accept(
    state: &ApiState,
    pack: &PackId,
    submission: SubmissionId,
    key: Option<Key>,
    issuer: Issuer,
    events: Vec<DomainEvent>,
) -> Result<HttpResponse, ApiError> {
    // The request's span and line carry the submission from here on (see `app`).
    tracing::Span::current().record("submission_id", tracing::field::display(submission));
    let stream = pack.stream();
    let command =
        Command::append_only(&stream).keyed(key.as_ref()).correlated(submission).issued_by(Some(issuer));
    // An append-only command is decided once: nothing stored can conflict with it.
    let mut decided = Some(events);
    let ran = command::run(state.store.as_ref(), &command, |_| Ok::<_, ApiError>(decided.take().unwrap_or_default()))
        .await?;
    let appended = ran.appended.ok_or_else(|| {
        ApiError::internal(std::io::Error::other("a submission decides exactly one event"))
    })?;
    tracing::debug!(position = %appended.position, "submission stored");
    Ok(accepted(submission, appended.position))
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
    auth: Authorized<Frontend>,
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: ApiJson<InterestIn>,
) -> Result<HttpResponse, ApiError> {
    let pack = pack_id(&path)?;
    let ids = Ids::for_request(&req, &pack)?;
    let body = body.into_inner();
    let key = ids.key("interest", &pack, &body);
    let events = submission::decide(SubmitInterest {
        submission_id: ids.submission,
        pack_id: pack.clone(),
        account_id: body.account_id,
        pack_name: body.pack_name,
        candidate: body.candidate.into(),
        now: state.clock.now(),
    })?;
    accept(&state, &pack, ids.submission, key, auth.issuer(), events).await
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
    auth: Authorized<Frontend>,
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: ApiJson<DeclineIn>,
) -> Result<HttpResponse, ApiError> {
    let pack = pack_id(&path)?;
    let ids = Ids::for_request(&req, &pack)?;
    let body = body.into_inner();
    let key = ids.key("decline", &pack, &body);
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
    accept(&state, &pack, ids.submission, key, auth.issuer(), events).await
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
