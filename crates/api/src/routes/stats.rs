//! Pack statistics (`GET /v1/packs/{pack}/stats`) and account totals
//! (`GET /v1/accounts/{account}/stats`), read from the pack statistics read model. Test
//! events are never counted.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use packhooks_domain::PackId;
use packhooks_projections::pack_stats::{AccountStats, DayCount, LastSubmission, PackStats, ReasonCount, Stats};
use serde::Serialize;
use utoipa::ToSchema;

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
    components(schemas(PackStatsOut, AccountStatsOut, ReasonCountOut, DayCountOut, LastSubmissionOut))
)]
pub struct Doc;

/// A pack's statistics.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackStatsOut {
    pub pack_id: String,
    /// `null` until the pack's first submission.
    pub account_id: Option<String>,
    pub pack_name: Option<String>,
    #[serde(flatten)]
    pub stats: StatsOut,
}

/// An account's totals over all its packs.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountStatsOut {
    pub account_id: String,
    pub packs: u64,
    #[serde(flatten)]
    pub stats: StatsOut,
}

/// The counts of a pack, or the totals of an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsOut {
    pub interested: u64,
    pub declined: u64,
    /// Most given first.
    pub decline_reasons: Vec<ReasonCountOut>,
    pub per_day: Vec<DayCountOut>,
    pub last_submission: Option<LastSubmissionOut>,
}

/// One decline reason and how often it was given.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReasonCountOut {
    /// The standard code (`compensation`, …), or `null` for a custom reason.
    pub code: Option<String>,
    /// The label shown to people: the standard label, or the pack's custom text.
    pub label: String,
    pub custom: bool,
    pub count: u64,
}

/// Submissions on one day (UTC).
#[derive(Debug, Serialize, ToSchema)]
pub struct DayCountOut {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub interested: u64,
    pub declined: u64,
}

/// The latest submission.
#[derive(Debug, Serialize, ToSchema)]
pub struct LastSubmissionOut {
    pub at: DateTime<Utc>,
    pub submission_id: String,
}

impl From<PackStats> for PackStatsOut {
    fn from(p: PackStats) -> Self {
        PackStatsOut { pack_id: p.pack_id, account_id: p.account_id, pack_name: p.pack_name, stats: p.stats.into() }
    }
}

impl From<AccountStats> for AccountStatsOut {
    fn from(a: AccountStats) -> Self {
        AccountStatsOut { account_id: a.account_id, packs: a.packs, stats: a.stats.into() }
    }
}

impl From<Stats> for StatsOut {
    fn from(s: Stats) -> Self {
        StatsOut {
            interested: s.interested,
            declined: s.declined,
            decline_reasons: s.decline_reasons.into_iter().map(Into::into).collect(),
            per_day: s.per_day.into_iter().map(Into::into).collect(),
            last_submission: s.last_submission.map(Into::into),
        }
    }
}

impl From<ReasonCount> for ReasonCountOut {
    fn from(r: ReasonCount) -> Self {
        ReasonCountOut { code: r.code, label: r.label, custom: r.custom, count: r.count }
    }
}

impl From<DayCount> for DayCountOut {
    fn from(d: DayCount) -> Self {
        DayCountOut { day: d.day, interested: d.interested, declined: d.declined }
    }
}

impl From<LastSubmission> for LastSubmissionOut {
    fn from(l: LastSubmission) -> Self {
        LastSubmissionOut { at: l.at, submission_id: l.submission_id }
    }
}

/// A pack's statistics: interested, declined, decline reasons, counts per day, last submission.
#[utoipa::path(
    get,
    path = "/v1/packs/{pack}/stats",
    tag = "stats",
    params(("pack" = String, Path, description = "The pack id, e.g. `pk_42`")),
    responses((status = 200, body = PackStatsOut), (status = 400, body = crate::error::Problem, content_type = PROBLEM)),
)]
#[get("/v1/packs/{pack}/stats")]
async fn pack_stats(
    _: Authorized<Frontend>,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let pack = PackId::parse(path.as_str()).map_err(|source| ApiError::InvalidId { field: "pack", source })?;
    let stats = projections(&state)?.read_models().pack_stats(pack.to_string()).await.map_err(failed)?;
    Ok(HttpResponse::Ok().json(PackStatsOut::from(stats)))
}

/// An account's totals over all its packs.
#[utoipa::path(
    get,
    path = "/v1/accounts/{account}/stats",
    tag = "stats",
    params(("account" = String, Path, description = "The account id, e.g. `acc_7`")),
    responses((status = 200, body = AccountStatsOut), (status = 400, body = crate::error::Problem, content_type = PROBLEM)),
)]
#[get("/v1/accounts/{account}/stats")]
async fn account_stats(
    _: Authorized<Frontend>,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account = account_id(&path)?;
    let stats = projections(&state)?.read_models().account_stats(account.to_string()).await.map_err(failed)?;
    Ok(HttpResponse::Ok().json(AccountStatsOut::from(stats)))
}
