//! Accounts: the recruiting product sets an account's plan (`PUT /v1/accounts/{account}/plan`)
//! and reads what its webhooks page needs (`GET /v1/accounts/{account}`: the plan, whether it
//! may have webhooks, the limit and how many it has). Only growth and scale accounts may have
//! webhooks; the plan lives in `account-{id}`.
//!
//! A plan change holds the account's lock (the one creating a webhook holds, see
//! `webhooks`) from reading the account to appending the change, so a create never decides
//! on a plan that changes before its webhook is stored: at its place in the log, every
//! `WebhookCreated` finds its account on growth or scale. The lock is per process: several
//! instances on one EventStoreDB can still interleave the two.
//!
//! With an `Idempotency-Key` (see [`crate::idempotency`]) the change's event id derives from
//! (account stream, key): a retry finds it and answers as the first time, changing nothing
//! more. The key is scoped to the account, like a keyed webhook create's: a key one of them
//! used is refused (422) on the other.

use actix_web::{get, put, web, HttpRequest, HttpResponse};
use packhooks_domain::account::{self, AccountState, Plan, SetPlan};
use packhooks_domain::AccountId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Authorized, Frontend};
use crate::command::{self, Command, Key};
use crate::idempotency;
use crate::json::ApiJson;
use crate::{ApiError, ApiState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(set_plan).service(get_account);
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(set_plan, get_account), components(schemas(AccountOut, AccountDetailOut)))]
pub struct Doc;

/// An account as its webhooks page needs it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountDetailOut {
    pub account_id: AccountId,
    /// `null` for an account whose plan was never set.
    pub plan: Option<Plan>,
    /// Whether the plan allows webhooks (growth and scale do; starter and no plan do not).
    pub webhooks_allowed: bool,
    /// The most webhooks an account may have (`PACKHOOKS_MAX_WEBHOOKS`).
    pub webhook_limit: usize,
    /// Its webhooks now (enabled or disabled; deleted ones are gone).
    pub webhook_count: usize,
}

/// Serialisable too: a keyed request's hash is taken over the parsed body.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanIn {
    pub plan: Plan,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountOut {
    pub account_id: AccountId,
    pub plan: Plan,
}

/// The route's kind in keyed requests' hashes.
const KIND: &str = "set_plan";

/// An account id from the path; one that cannot be valid is a 400 on `account`.
pub(crate) fn account_id(text: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(text).map_err(|source| ApiError::InvalidId { field: "account", source })
}

/// Sets the account's plan. Setting the plan it already has changes nothing. Waits for a
/// webhook create of the same account in flight, so the create's plan check stays true.
#[utoipa::path(
    put,
    path = "/v1/accounts/{account}/plan",
    tag = "accounts",
    params(
        ("account" = String, Path, description = "The account id, e.g. `acc_7`"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters; a retry with the same key on the account changes nothing more and answers as the first time; the key with a different request (body or route) is a 422 `idempotency_key_reused`"),
    ),
    request_body = PlanIn,
    responses(
        (status = 200, body = AccountOut),
        (status = 400, body = crate::error::Problem, content_type = crate::error::PROBLEM_JSON),
        (status = 409, body = crate::error::Problem, content_type = crate::error::PROBLEM_JSON),
        (status = 422, body = crate::error::Problem, content_type = crate::error::PROBLEM_JSON),
    ),
)]
#[put("/v1/accounts/{account}/plan")]
async fn set_plan(
    auth: Authorized<Frontend>,
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: ApiJson<PlanIn>,
) -> Result<HttpResponse, ApiError> {
    let account_id = account_id(&path)?;
    let stream = account_id.stream();
    let plan = body.0.plan;
    let raw_key = idempotency::key(&req)?;
    let key = raw_key.map(|key| Key::new(key, KIND, account_id.as_str(), &body.0));
    let lock = state.account_lock(&account_id);
    let _held = lock.lock().await;
    // A key a webhook create of the account used names that request.
    if let (Some(raw), Some(key)) = (raw_key, &key) {
        let created = super::webhooks::keyed_webhook_id(&account_id, raw).stream();
        if command::holds_key(state.store.as_ref(), &created, key).await? {
            return Err(ApiError::IdempotencyKeyReused);
        }
    }
    let command = SetPlan { account_id: account_id.clone(), plan, now: state.clock.now() };
    let on = Command::on(&stream).keyed(key.as_ref()).issued_by(Some(auth.issuer()));
    command::run(state.store.as_ref(), &on, |events| {
        let current = events.iter().fold(AccountState::default(), account::evolve);
        Ok::<_, ApiError>(account::decide(&current, command.clone())?)
    })
    .await?;
    // The answer names the plan asked for: a retry (same hash, so same plan) answers the same.
    Ok(HttpResponse::Ok().json(AccountOut { account_id, plan }))
}

/// An account: its plan, whether it may have webhooks, the limit and its webhook count. An
/// account packhooks never heard of has no plan and no webhooks.
#[utoipa::path(
    get,
    path = "/v1/accounts/{account}",
    tag = "accounts",
    params(("account" = String, Path, description = "The account id, e.g. `acc_7`")),
    responses(
        (status = 200, body = AccountDetailOut),
        (status = 400, body = crate::error::Problem, content_type = crate::error::PROBLEM_JSON),
    ),
)]
#[get("/v1/accounts/{account}")]
async fn get_account(
    _: Authorized<Frontend>,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account_id = account_id(&path)?;
    state.registry.ensure_current().await?;
    let tracked = state.registry.read().await;
    let plan = tracked.registry.plan(&account_id);
    let webhook_count = tracked.registry.live_webhooks(&account_id);
    drop(tracked);
    Ok(HttpResponse::Ok().json(AccountDetailOut {
        account_id,
        plan,
        webhooks_allowed: plan.is_some_and(Plan::allows_webhooks),
        webhook_limit: state.config.max_webhooks,
        webhook_count,
    }))
}
