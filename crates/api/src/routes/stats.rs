//! Pack statistics (`GET /v1/packs/{pack}/stats`) and account totals
//! (`GET /v1/accounts/{account}/stats`), read from the pack statistics read model. Test
//! events are never counted.

use actix_web::{get, web, HttpResponse};
use packhooks_domain::PackId;
use packhooks_projections::pack_stats::{AccountStats, DayCount, LastSubmission, PackStats, ReasonCount};

use super::accounts::account_id;
use super::read::{failed, projections};
use crate::auth::{Authorized, Frontend};
use crate::error::PROBLEM_JSON as PROBLEM;
use crate::{ApiError, ApiState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(pack_stats).service(account_stats);
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(pack_stats, account_stats),
    components(schemas(PackStats, AccountStats, ReasonCount, DayCount, LastSubmission))
)]
pub struct Doc;

/// A pack's statistics: interested, declined, decline reasons, counts per day, last submission.
#[utoipa::path(
    get,
    path = "/v1/packs/{pack}/stats",
    tag = "stats",
    params(("pack" = String, Path, description = "The pack id, e.g. `pk_42`")),
    responses((status = 200, body = PackStats), (status = 400, body = crate::error::Problem, content_type = PROBLEM)),
)]
#[get("/v1/packs/{pack}/stats")]
async fn pack_stats(
    _: Authorized<Frontend>,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let pack = PackId::parse(path.as_str()).map_err(|source| ApiError::InvalidId { field: "pack", source })?;
    let stats = projections(&state)?.read_models().pack_stats(pack.to_string()).await.map_err(failed)?;
    Ok(HttpResponse::Ok().json(stats))
}

/// An account's totals over all its packs.
#[utoipa::path(
    get,
    path = "/v1/accounts/{account}/stats",
    tag = "stats",
    params(("account" = String, Path, description = "The account id, e.g. `acc_7`")),
    responses((status = 200, body = AccountStats), (status = 400, body = crate::error::Problem, content_type = PROBLEM)),
)]
#[get("/v1/accounts/{account}/stats")]
async fn account_stats(
    _: Authorized<Frontend>,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account = account_id(&path)?;
    let stats = projections(&state)?.read_models().account_stats(account.to_string()).await.map_err(failed)?;
    Ok(HttpResponse::Ok().json(stats))
}
