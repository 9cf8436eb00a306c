//! `GET /v1/submissions/{id}`: a submission explained, the question support asks before any
//! replay: for each webhook its account has or had, whether the submission was routed there
//! and if not why, and each delivery's state and attempts. The explanation is the
//! projections' ([`packhooks_projections::explain`]), shared with `packhooks audit submission`.

use actix_web::{get, web, HttpResponse};
use packhooks_projections::explain::{self, ExplainedDelivery, SubmissionExplained, WebhookRouting};
use packhooks_domain::explain::NotRouted;
use packhooks_domain::SubmissionId;

use super::read::{failed, projections};
use crate::auth::{Authorized, Frontend};
use crate::error::PROBLEM_JSON as PROBLEM;
use crate::{ApiError, ApiState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(explain_submission);
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(explain_submission),
    components(schemas(SubmissionExplained, WebhookRouting, ExplainedDelivery, NotRouted))
)]
pub struct Doc;

/// A submission explained: where it was routed, why not elsewhere, and what came of each
/// delivery. `reason` is `not_yet_created`, `deleted`, `disabled`, `plan_not_eligible` or
/// `other_event_type`, as things were when the submission was made. A submission made a
/// moment ago may be 404 until the read models have seen it.
#[utoipa::path(
    get,
    path = "/v1/submissions/{id}",
    tag = "submissions",
    params(("id" = String, Path, description = "The submission id, `sub_…`")),
    responses(
        (status = 200, body = SubmissionExplained),
        (status = 400, body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, body = crate::error::Problem, content_type = PROBLEM),
    ),
)]
#[get("/v1/submissions/{id}")]
async fn explain_submission(
    _: Authorized<Frontend>,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = SubmissionId::parse(path.as_str()).map_err(|source| ApiError::InvalidId { field: "id", source })?;
    let projections = projections(&state)?;
    let found = explain::explain(state.store.as_ref(), projections.read_models(), id).await.map_err(failed)?;
    let found = found.ok_or_else(|| ApiError::NotFound { what: format!("submission {id}") })?;
    Ok(HttpResponse::Ok().json(found))
}
