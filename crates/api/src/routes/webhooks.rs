//! Webhooks: create and list an account's webhooks; read, change, delete, enable, disable
//! one and rotate its secret.
//!
//! Creating decides on the account's plan and webhook count, which live in other streams: it
//! holds the account's lock and brings the registry up to the store's head first, so two
//! creates at once cannot both take the last slot, and a plan change (which holds the same
//! lock) cannot land between the plan check and the append. Every other command decides on the
//! webhook's own stream and appends with the exact revision it read (409 on a race).
//!
//! Every command takes an `Idempotency-Key` (see [`crate::idempotency`]). A keyed create's
//! webhook id is UUID v5 of (account, key), so its retry addresses the same `webhook-{id}`
//! stream; it looks there first, before the plan and the limit are checked, so the retry of a
//! create that took the last slot answers with its webhook and its secret (read back from the
//! stored `WebhookCreated`), not 409. A keyed command on a webhook that is already stored
//! answers from the stream as it was after its event, so a retried rotation shows the secret
//! of the first answer and rotates nothing. A key is scoped to its target: the webhook, or the
//! account for a create (which also refuses a key the account's plan change used).

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use packhooks_domain::account::Plan;
use packhooks_domain::webhook::{
    self, CreateWebhook, DeleteWebhook, DisableWebhook, DisabledBy, EnableWebhook, EventType, RotateSecret, Secret,
    UpdateWebhook, UrlPolicy, Webhook, WebhookCommand, WebhookContext, WebhookFormat, WebhookState,
};
use packhooks_domain::{AccountId, DomainEvent, Issuer, WebhookId};
use rand::RngCore as _;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::accounts::account_id;
use super::read::{limit, query};
use super::webhook_views::{fill_health, WebhookOut};
use crate::auth::{Authorized, Frontend};
use crate::command::{self, Command, Key};
use crate::error::PROBLEM_JSON as PROBLEM;
use crate::idempotency;
use crate::json::ApiJson;
use crate::{ApiError, ApiState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_webhook)
        .service(list_webhooks)
        .service(get_webhook)
        .service(update_webhook)
        .service(delete_webhook)
        .service(enable_webhook)
        .service(disable_webhook)
        .service(rotate_secret);
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_webhook,
    list_webhooks,
    get_webhook,
    update_webhook,
    delete_webhook,
    enable_webhook,
    disable_webhook,
    rotate_secret
))]
pub struct Doc;

/// The random key bytes of a new signing secret.
const SECRET_BYTES: usize = 32;

/// The namespace of webhook ids derived from (account, idempotency key). Fixed forever:
/// changing it would make a retried create after an upgrade a second webhook.
const WEBHOOK_NAMESPACE: Uuid = Uuid::from_u128(0x9c2d_47e1_5a30_4b86_b1f7_64e0_2d93_a85c);

/// Serialisable too: a keyed request's hash is taken over the parsed body.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookIn {
    /// `http` or `https`, at most 2048 characters, no user info.
    pub url: String,
    /// `interested`, `declined` or both.
    pub events: Vec<EventType>,
    pub description: Option<String>,
    /// The body the webhook receives: `standard` (the event catalogue's JSON), or a chat
    /// message for `slack`, `discord` or `teams`. Absent: the format of a known chat webhook
    /// URL (the answer's `format_detected` is then `true`), else `standard`.
    /// Skipped when absent in a keyed request's hash, so keys used before the field existed
    /// still match their requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<WebhookFormat>,
}

/// A patch: absent fields stay as they are; `"description": null` clears the description.
/// Serialised for a keyed request's hash, an absent description stays absent (not `null`).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookIn {
    pub url: Option<String>,
    pub events: Option<Vec<EventType>>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// `standard`, `slack`, `discord` or `teams`. Absent: the format stays, unless `url`
    /// changes to a known chat webhook URL, whose format is then chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<WebhookFormat>,
}

/// A field that is present deserialises to `Some`, even when it is `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A new webhook, with its secret: the only answer besides rotation that shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookCreatedOut {
    #[serde(flatten)]
    pub webhook: WebhookOut,
    /// `whsec_…`: keep it; it is not shown again.
    pub secret: String,
    /// `true` when the request had no `format` and the URL is a known chat webhook (Slack,
    /// Discord, Teams), so `format` is the one chosen for it.
    pub format_detected: bool,
}

/// A changed webhook, and whether its format was chosen from its new URL.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookUpdatedOut {
    #[serde(flatten)]
    pub webhook: WebhookOut,
    /// `true` when the request gave a `url` but no `format`, and `format` is the one that
    /// known chat webhook URL calls for.
    pub format_detected: bool,
}

/// Whether a request without a `format` but with a `url` got the format of a known chat
/// webhook URL (the webhook's URL after the request).
fn format_detected(format: Option<WebhookFormat>, url_given: bool, webhook: &Webhook) -> bool {
    format.is_none()
        && url_given
        && WebhookFormat::detect_text(&webhook.url) == Some(webhook.format)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookListOut {
    pub data: Vec<WebhookOut>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<WebhookId>,
}

/// The most webhooks one page of a list holds (and the default).
const MAX_PAGE: usize = 100;

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretRotatedOut {
    pub id: WebhookId,
    /// The new `whsec_…` secret: keep it; it is not shown again.
    pub secret: String,
    pub secret_version: u32,
    /// Until then the previous secret also signs, so receivers can switch without a gap.
    pub previous_valid_until: DateTime<Utc>,
}

/// A webhook id from the path, checked like the account and pack ids: one that is not
/// well formed (or another spelling of a UUID) is 400 `invalid_field`, before any lookup.
pub(crate) fn webhook_id(text: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(text).map_err(|source| ApiError::InvalidId { field: "id", source })
}

/// The webhook a keyed create makes: the same for every retry with the key on the account.
/// Account ids hold no NUL, so distinct (account, key) give distinct names.
pub(crate) fn keyed_webhook_id(account: &AccountId, key: &str) -> WebhookId {
    WebhookId::from_uuid(Uuid::new_v5(&WEBHOOK_NAMESPACE, format!("{account}\0{key}").as_bytes()))
}

/// The route kinds in keyed requests' hashes.
pub(crate) mod kind {
    pub const CREATE: &str = "create_webhook";
    pub const UPDATE: &str = "update_webhook";
    pub const DELETE: &str = "delete_webhook";
    pub const ENABLE: &str = "enable_webhook";
    pub const DISABLE: &str = "disable_webhook";
    pub const ROTATE_SECRET: &str = "rotate_secret";
}

/// The key of a command on webhook `id` (`None` without an `Idempotency-Key`).
fn keyed(req: &HttpRequest, kind: &str, id: WebhookId, body: &impl Serialize) -> Result<Option<Key>, ApiError> {
    Ok(idempotency::key(req)?.map(|key| Key::new(key, kind, &id.to_string(), body)))
}

fn new_secret() -> Secret {
    let mut key = [0u8; SECRET_BYTES];
    rand::thread_rng().fill_bytes(&mut key);
    Secret::from_bytes(&key)
}

/// What a webhook decision is checked against: the account's plan and live webhooks (as the
/// command needs them) and the server's limits and URL policy.
pub(crate) fn context(state: &ApiState, plan: Option<Plan>, live_webhooks_of_account: usize) -> WebhookContext {
    WebhookContext {
        plan,
        live_webhooks_of_account,
        max_webhooks: state.config.max_webhooks,
        url_policy: UrlPolicy { allow_private_targets: state.config.allow_private_targets },
    }
}

/// Creates a webhook. 403 `plan_not_eligible` unless the account is on growth or scale;
/// 409 `webhook_limit_reached` when it already has the most allowed. With an
/// `Idempotency-Key`, a retry answers with the webhook (and secret) the first request made.
#[utoipa::path(
    post,
    path = "/v1/accounts/{account}/webhooks",
    tag = "webhooks",
    params(
        ("account" = String, Path, description = "The account id"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters; a retry with the same key on the account answers with the same webhook and secret, even at the webhook limit; the key with a different request (body or route) is a 422 `idempotency_key_reused`"),
    ),
    request_body = CreateWebhookIn,
    responses(
        (status = 201, body = WebhookCreatedOut),
        (status = 400, body = crate::error::Problem, content_type = PROBLEM),
        (status = 403, body = crate::error::Problem, content_type = PROBLEM),
        (status = 409, body = crate::error::Problem, content_type = PROBLEM),
        (status = 422, body = crate::error::Problem, content_type = PROBLEM),
    ),
)]
#[post("/v1/accounts/{account}/webhooks")]
async fn create_webhook(
    auth: Authorized<Frontend>,
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: ApiJson<CreateWebhookIn>,
) -> Result<HttpResponse, ApiError> {
    let account_id = account_id(&path)?;
    let body = body.into_inner();
    let raw_key = idempotency::key(&req)?;
    let key = raw_key.map(|key| Key::new(key, kind::CREATE, account_id.as_str(), &body));
    let webhook_id =
        raw_key.map_or_else(|| WebhookId::from_uuid(Uuid::now_v7()), |key| keyed_webhook_id(&account_id, key));
    let lock = state.account_lock(&account_id);
    let _held = lock.lock().await;
    // A key the account's plan change used names that request (a key is scoped to the account).
    if let Some(key) = &key {
        if command::holds_key(state.store.as_ref(), &account_id.stream(), key).await? {
            return Err(ApiError::IdempotencyKeyReused);
        }
    }
    state.registry.ensure_current().await?;
    let ctx = {
        let tracked = state.registry.read().await;
        context(&state, tracked.registry.plan(&account_id), tracked.registry.live_webhooks(&account_id))
    };
    let command = CreateWebhook {
        webhook_id,
        account_id,
        url: body.url,
        events: body.events,
        description: body.description,
        format: body.format,
        secret: new_secret(),
        now: state.clock.now(),
    };
    // A retry finds its webhook before deciding, so it answers with what it made whatever the
    // plan and count are now.
    let stream = webhook_id.stream();
    let on = Command::on(&stream).keyed(key.as_ref()).issued_by(Some(auth.issuer()));
    let ran = command::run(state.store.as_ref(), &on, |events| {
        Ok::<_, ApiError>(webhook::decide(&webhook::fold(events), command.clone(), &ctx)?)
    })
    .await?;
    if ran.appended.is_some() {
        // Our own event, applied before the lock is released, so the next create counts it.
        state.registry.ensure_current().await?;
    }
    created(webhook_id, &ran.own, command.format)
}

/// The 201 of a create, from its stored events: the webhook and its first secret.
fn created(webhook_id: WebhookId, events: &[DomainEvent], format: Option<WebhookFormat>) -> Result<HttpResponse, ApiError> {
    let created = fold_active(events)?;
    let secret = created.secrets.current.expose().to_owned();
    let format_detected = format_detected(format, true, &created);
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::LOCATION, format!("/v1/webhooks/{webhook_id}")))
        .json(WebhookCreatedOut { webhook: WebhookOut::from_webhook(&created), secret, format_detected }))
}

/// Lists an account's webhooks (deleted ones are gone), in creation order, with their health.
#[utoipa::path(
    get,
    path = "/v1/accounts/{account}/webhooks",
    tag = "webhooks",
    params(
        ("account" = String, Path, description = "The account id"),
        ("limit" = Option<usize>, Query, description = "Webhooks per page, 1 to 100 (default 100)"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page: the webhooks created after this one"),
    ),
    responses((status = 200, body = WebhookListOut), (status = 400, body = crate::error::Problem, content_type = PROBLEM)),
)]
#[get("/v1/accounts/{account}/webhooks")]
async fn list_webhooks(
    _: Authorized<Frontend>,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let account_id = account_id(&path)?;
    let q = query(&req)?;
    let limit = limit(&q, MAX_PAGE, MAX_PAGE)?;
    let after = q
        .get("cursor")
        .map(|c| WebhookId::parse(c).map_err(|_| ApiError::InvalidInput { field: "cursor", reason: "is not a webhook id" }))
        .transpose()?;
    state.registry.ensure_current().await?;
    let tracked = state.registry.read().await;
    let listed = tracked.registry.webhooks_of(&account_id);
    // After the cursor's webhook; one deleted since leaves nothing to page through after it.
    let mut data: Vec<WebhookOut> = match after {
        Some(after) => listed.skip_while(|w| w.id != after).skip(1).take(limit + 1).map(WebhookOut::from_webhook).collect(),
        None => listed.take(limit + 1).map(WebhookOut::from_webhook).collect(),
    };
    drop(tracked);
    let next_cursor = (data.len() > limit).then(|| data[limit - 1].id);
    data.truncate(limit);
    fill_health(&state, &mut data).await;
    Ok(HttpResponse::Ok().json(WebhookListOut { data, next_cursor }))
}

/// Reads one webhook.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The webhook id, `wh_…`")),
    responses((status = 200, body = WebhookOut), (status = 404, body = crate::error::Problem, content_type = PROBLEM)),
)]
#[get("/v1/webhooks/{id}")]
async fn get_webhook(
    _: Authorized<Frontend>,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let current = load_webhook(&state, id).await?;
    let mut out = [WebhookOut::from_webhook(active_or_404(&current, id)?)];
    fill_health(&state, &mut out).await;
    let [out] = out;
    Ok(HttpResponse::Ok().json(out))
}

/// Runs a single-webhook command through the command path; the webhook's state after it
/// (after its first request's events, for a keyed retry).
async fn run(
    state: &ApiState,
    id: WebhookId,
    command: WebhookCommand,
    key: Option<Key>,
    issuer: Issuer,
) -> Result<WebhookState, ApiError> {
    let stream = id.stream();
    let ctx = context(state, None, 0);
    let on = Command::on(&stream).keyed(key.as_ref()).issued_by(Some(issuer));
    let ran = command::run(state.store.as_ref(), &on, |events| {
        Ok::<_, ApiError>(webhook::decide(&webhook::fold(events), command.clone(), &ctx)?)
    })
    .await?;
    Ok(webhook::fold(ran.events()))
}

/// The webhook's state as its stream says now.
pub(crate) async fn load_webhook(state: &ApiState, id: WebhookId) -> Result<WebhookState, ApiError> {
    Ok(webhook::fold(&command::read_events(state.store.as_ref(), &id.stream()).await?))
}

fn active_or_404(state: &WebhookState, id: WebhookId) -> Result<&Webhook, ApiError> {
    state.active().ok_or_else(|| ApiError::NotFound { what: format!("webhook {id}") })
}

/// The webhook a batch of events (starting with its creation) comes to.
fn fold_active(events: &[DomainEvent]) -> Result<Webhook, ApiError> {
    webhook::fold(events)
        .active()
        .cloned()
        .ok_or_else(|| ApiError::internal(std::io::Error::other("a created webhook folds to no webhook")))
}

/// Changes url, events, description or format; absent fields stay as they are.
#[utoipa::path(
    patch,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters; a retry with the same key on the webhook changes nothing more and answers as the first time; the key with a different request (body or route) is a 422 `idempotency_key_reused`"),
    ),
    request_body = UpdateWebhookIn,
    responses(
        (status = 200, body = WebhookUpdatedOut),
        (status = 400, body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, body = crate::error::Problem, content_type = PROBLEM),
        (status = 409, body = crate::error::Problem, content_type = PROBLEM),
        (status = 422, body = crate::error::Problem, content_type = PROBLEM),
    ),
)]
#[patch("/v1/webhooks/{id}")]
async fn update_webhook(
    auth: Authorized<Frontend>,
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: ApiJson<UpdateWebhookIn>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let body = body.into_inner();
    let keyed = keyed(&req, kind::UPDATE, id, &body)?;
    let (format, url_given) = (body.format, body.url.is_some());
    let command = UpdateWebhook {
        url: body.url,
        events: body.events,
        description: body.description,
        format: body.format,
        now: state.clock.now(),
    };
    let after = run(&state, id, command.into(), keyed, auth.issuer()).await?;
    let webhook = active_or_404(&after, id)?;
    let format_detected = format_detected(format, url_given, webhook);
    Ok(HttpResponse::Ok().json(WebhookUpdatedOut { webhook: WebhookOut::from_webhook(webhook), format_detected }))
}

/// Deletes a webhook for good; nothing is delivered to it afterwards. Deleting twice is fine.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters; a retry with the same key on the webhook changes nothing more and answers as the first time; the key with a different request (body or route) is a 422 `idempotency_key_reused`"),
    ),
    responses(
        (status = 204),
        (status = 400, body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, body = crate::error::Problem, content_type = PROBLEM),
        (status = 422, body = crate::error::Problem, content_type = PROBLEM),
    ),
)]
#[delete("/v1/webhooks/{id}")]
async fn delete_webhook(
    auth: Authorized<Frontend>,
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let keyed = keyed(&req, kind::DELETE, id, &())?;
    run(&state, id, DeleteWebhook { now: state.clock.now() }.into(), keyed, auth.issuer()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Enables a webhook: deliveries resume with the next submission.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/enable",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters; a retry with the same key on the webhook changes nothing more and answers as the first time; the key with a different request (body or route) is a 422 `idempotency_key_reused`"),
    ),
    responses(
        (status = 200, body = WebhookOut),
        (status = 400, body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, body = crate::error::Problem, content_type = PROBLEM),
        (status = 422, body = crate::error::Problem, content_type = PROBLEM),
    ),
)]
#[post("/v1/webhooks/{id}/enable")]
async fn enable_webhook(
    auth: Authorized<Frontend>,
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let keyed = keyed(&req, kind::ENABLE, id, &())?;
    let after = run(&state, id, EnableWebhook { now: state.clock.now() }.into(), keyed, auth.issuer()).await?;
    Ok(HttpResponse::Ok().json(WebhookOut::from_webhook(active_or_404(&after, id)?)))
}

/// Disables a webhook: submissions are not delivered to it (nor queued) until it is enabled.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/disable",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters; a retry with the same key on the webhook changes nothing more and answers as the first time; the key with a different request (body or route) is a 422 `idempotency_key_reused`"),
    ),
    responses(
        (status = 200, body = WebhookOut),
        (status = 400, body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, body = crate::error::Problem, content_type = PROBLEM),
        (status = 422, body = crate::error::Problem, content_type = PROBLEM),
    ),
)]
#[post("/v1/webhooks/{id}/disable")]
async fn disable_webhook(
    auth: Authorized<Frontend>,
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let keyed = keyed(&req, kind::DISABLE, id, &())?;
    let command = DisableWebhook { by: DisabledBy::Owner, reason: String::new(), now: state.clock.now() };
    let after = run(&state, id, command.into(), keyed, auth.issuer()).await?;
    Ok(HttpResponse::Ok().json(WebhookOut::from_webhook(active_or_404(&after, id)?)))
}

/// Replaces the signing secret. The previous one keeps signing for the configured overlap
/// (`PACKHOOKS_SECRET_ROTATION_OVERLAP`), so receivers can switch without dropping messages.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters; a retry with the same key on the webhook changes nothing more and answers as the first time; the key with a different request (body or route) is a 422 `idempotency_key_reused`"),
    ),
    responses(
        (status = 200, body = SecretRotatedOut),
        (status = 400, body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, body = crate::error::Problem, content_type = PROBLEM),
        (status = 422, body = crate::error::Problem, content_type = PROBLEM),
    ),
)]
#[post("/v1/webhooks/{id}/rotate-secret")]
async fn rotate_secret(
    auth: Authorized<Frontend>,
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let keyed = keyed(&req, kind::ROTATE_SECRET, id, &())?;
    let command =
        RotateSecret { secret: new_secret(), overlap: state.config.secret_rotation_overlap, now: state.clock.now() };
    let after = run(&state, id, command.into(), keyed, auth.issuer()).await?;
    // The secret as stored: a keyed retry's is the first answer's, not one drawn now.
    let webhook = active_or_404(&after, id)?;
    let previous_valid_until = webhook.secrets.previous.as_ref().map(|p| p.valid_until).unwrap_or(webhook.updated_at);
    Ok(HttpResponse::Ok().json(SecretRotatedOut {
        id,
        secret: webhook.secrets.current.expose().to_owned(),
        secret_version: webhook.secrets.version,
        previous_valid_until,
    }))
}
