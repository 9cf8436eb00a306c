//! The API's one error type and its problem+json rendering (RFC 9457).
//!
//! Every failure a handler or extractor can meet becomes an [`ApiError`]; the HTTP status and
//! the stable `code` are decided here and nowhere else. A 500 says nothing about its cause to
//! the client and logs the whole error chain instead.

use std::fmt::Write as _;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use packhooks_domain::error::{DomainError, ErrorKind};
use packhooks_domain::InvalidId;
use packhooks_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What a request body's JSON was wrong about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonProblem {
    /// Not JSON at all, truncated, or with trailing characters.
    Malformed,
    /// A field the type does not have (`deny_unknown_fields`).
    UnknownField,
    /// A value of the wrong JSON type (a number where a string belongs, …).
    InvalidType,
    /// A required field is absent.
    MissingField,
    /// The right type but a value the type refuses (an unknown enum variant, a bad id, …).
    InvalidValue,
}

impl JsonProblem {
    pub fn code(self) -> &'static str {
        match self {
            JsonProblem::Malformed => "malformed_json",
            JsonProblem::UnknownField => "unknown_field",
            JsonProblem::InvalidType => "invalid_type",
            JsonProblem::MissingField => "missing_field",
            JsonProblem::InvalidValue => "invalid_field",
        }
    }
}

/// Everything an API request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid: {source}")]
    Json {
        problem: JsonProblem,
        /// The JSON path of the field at fault (`candidate.email`), when there is one.
        field: Option<String>,
        #[source]
        source: serde_json::Error,
    },
    #[error("the request body could not be read")]
    Payload(#[source] actix_web::error::PayloadError),
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    /// The whole request did not arrive within the configured bound (a stalled body).
    #[error("the request did not arrive within {after:?}")]
    RequestTimeout { after: std::time::Duration },
    #[error("the request target is longer than {limit} bytes")]
    UriTooLong { limit: usize },
    /// Not well-formed HTTP/1.1 (a broken request line, a control byte in a header): refused
    /// by the HTTP parser before any route runs ([`crate::malformed`]).
    #[error("the request is not well-formed HTTP/1.1")]
    MalformedRequest,
    /// The request head (request line and headers) is over the HTTP parser's limit.
    #[error("the request head is larger than the server accepts (128 KiB, at most 96 headers)")]
    HeadTooLarge,
    /// The path exists, but not with this method; `allow` lists those it has.
    #[error("this path answers only {allow}")]
    MethodNotAllowed { allow: String },
    /// A path id that cannot name anything that exists.
    #[error("{what} not found")]
    NotFound { what: String },
    /// A path parameter or header that is not well formed.
    #[error("invalid {field}: {source}")]
    InvalidId {
        field: &'static str,
        #[source]
        source: InvalidId,
    },
    /// An input that is not well formed, outside the JSON body (a header, a query parameter).
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: &'static str },
    #[error("the request needs a bearer token")]
    Unauthorized,
    #[error("this token does not have the {role} role")]
    Forbidden { role: &'static str },
    /// Someone else changed the same thing first; the client may read again and retry.
    #[error("the resource was changed concurrently; read it again and retry")]
    Conflict(#[source] StoreError),
    /// An `Idempotency-Key` already used for a different request (another body, another
    /// form or route): answering the first request's result would hide that this one was not stored.
    #[error("this Idempotency-Key was already used for a different request; a new request needs a new key")]
    IdempotencyKeyReused,
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("the event store is unavailable")]
    Unavailable(#[source] StoreError),
    /// The registry has not caught up with the log yet (just started).
    #[error("not ready: still reading the log")]
    NotReady,
    /// Anything else: the client is told nothing, the chain is logged.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::WrongExpectedVersion { .. } => ApiError::Conflict(e),
            StoreError::Unavailable(_) | StoreError::Closed => ApiError::Unavailable(e),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl ApiError {
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(e))
    }

    /// A body that could not be read: 408 when its deadline passed, else 400.
    pub fn from_payload(e: actix_web::error::PayloadError) -> Self {
        match crate::deadline::timed_out(&e) {
            Some(after) => ApiError::RequestTimeout { after },
            None => ApiError::Payload(e),
        }
    }

    /// The stable, machine-readable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Json { problem, .. } => problem.code(),
            ApiError::Payload(_) => "malformed_json",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::RequestTimeout { .. } => "request_timeout",
            ApiError::UriTooLong { .. } => "uri_too_long",
            ApiError::MalformedRequest => "malformed_request",
            ApiError::HeadTooLarge => "header_too_large",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::NotFound { .. } => "not_found",
            ApiError::InvalidId { .. } | ApiError::InvalidInput { .. } => "invalid_field",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::Conflict(_) => "conflict",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::Domain(e) => match e {
                DomainError::WebhookNotFound | DomainError::WebhookDeleted => "not_found",
                DomainError::WebhookExists => "conflict",
                DomainError::InvalidEvents(_) | DomainError::InvalidSecret(_) => "invalid_field",
                // The rest keep the domain's code; each is in the README's table.
                other => other.code(),
            },
            ApiError::Unavailable(_) => "unavailable",
            ApiError::NotReady => "not_ready",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The field at fault, as a JSON path of the request body or the name of a parameter.
    pub fn field(&self) -> Option<String> {
        match self {
            ApiError::Json { field, .. } => field.clone(),
            ApiError::InvalidId { field, .. } | ApiError::InvalidInput { field, .. } => Some((*field).to_owned()),
            ApiError::IdempotencyKeyReused => Some("Idempotency-Key".to_owned()),
            ApiError::Domain(e) => e.field().map(str::to_owned),
            _ => None,
        }
    }

    fn title(&self) -> &'static str {
        match self.status_code() {
            StatusCode::BAD_REQUEST => "Bad request",
            StatusCode::UNAUTHORIZED => "Unauthorized",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::METHOD_NOT_ALLOWED => "Method not allowed",
            StatusCode::REQUEST_TIMEOUT => "Request timeout",
            StatusCode::URI_TOO_LONG => "URI too long",
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "Request header fields too large",
            StatusCode::CONFLICT => "Conflict",
            StatusCode::UNPROCESSABLE_ENTITY => "Unprocessable content",
            StatusCode::PAYLOAD_TOO_LARGE => "Payload too large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "Unsupported media type",
            StatusCode::SERVICE_UNAVAILABLE => "Service unavailable",
            _ => "Internal server error",
        }
    }

    /// The human-readable explanation; for a 500 it says nothing about the cause.
    fn detail(&self) -> String {
        match self {
            ApiError::Internal(_) => "internal error".to_owned(),
            ApiError::Json { source, .. } => source.to_string(),
            ApiError::Domain(e @ DomainError::InvalidUrl(refusal)) => format!("{e}: {refusal}"),
            other => other.to_string(),
        }
    }
}

/// The problem+json body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:packhooks:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable, machine-readable: `malformed_json`, `unknown_field`, `invalid_type`,
    /// `body_too_large`, `missing_field`, `not_found`, `conflict`, `plan_not_eligible`,
    /// `webhook_limit_reached`, `webhook_disabled`, `idempotency_key_reused`, `unauthorized`,
    /// `forbidden`, `invalid_url`, `invalid_field`, `unsupported_media_type`,
    /// `method_not_allowed`, `request_timeout`, `uri_too_long`, `malformed_request`,
    /// `header_too_large`, `unavailable`, `not_ready`, `internal`.
    pub code: String,
    /// The request field at fault, when there is one.
    pub field: Option<String>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Json { .. }
            | ApiError::Payload(_)
            | ApiError::InvalidId { .. }
            | ApiError::InvalidInput { .. }
            | ApiError::MalformedRequest => StatusCode::BAD_REQUEST,
            ApiError::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Domain(e) => match e.kind() {
                ErrorKind::Forbidden => StatusCode::FORBIDDEN,
                ErrorKind::NotFound | ErrorKind::Gone => StatusCode::NOT_FOUND,
                ErrorKind::Conflict => StatusCode::CONFLICT,
                ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            },
            ApiError::Unavailable(_) | ApiError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        // A client's mistake is the client's business: an operator sees it only at debug, by
        // its code (the detail may quote the body, which holds candidates' data).
        if status.is_server_error() {
            tracing::error!(code = self.code(), error = %chain(self), "request failed");
        } else {
            tracing::debug!(code = self.code(), status = status.as_u16(), "request refused");
        }
        let mut response = HttpResponse::build(status);
        response.content_type(PROBLEM_JSON);
        match self {
            ApiError::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            // The rest of the body may still be on its way: the connection cannot be reused.
            ApiError::RequestTimeout { .. } => {
                response.insert_header((header::CONNECTION, "close"));
            }
            _ => {}
        }
        response.body(self.problem_json())
    }
}

impl ApiError {
    /// The problem+json body of this error.
    pub fn problem_json(&self) -> Vec<u8> {
        let problem = Problem {
            kind: format!("urn:packhooks:problem:{}", self.code()),
            title: self.title().to_owned(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            code: self.code().to_owned(),
            field: self.field(),
        };
        serde_json::to_vec(&problem).expect("problems always serialise")
    }
}

/// The error and all its causes on one line, for the log.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;
    use packhooks_domain::error::{DomainError, UrlRefusal};
    use packhooks_store::{ExpectedRevision, StreamState};

    use super::*;

    async fn rendered(error: ApiError) -> (u16, serde_json::Value) {
        let response = error.error_response();
        let status = response.status().as_u16();
        assert_eq!(response.headers().get(header::CONTENT_TYPE).unwrap(), PROBLEM_JSON);
        let body = to_bytes(response.into_body()).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[actix_web::test]
    async fn a_500_says_nothing_about_its_cause() {
        let (status, body) = rendered(ApiError::internal(std::io::Error::other("disk /secret/path is full"))).await;
        assert_eq!(status, 500);
        assert_eq!(body["code"], "internal");
        assert_eq!(body["detail"], "internal error");
        assert!(!body.to_string().contains("secret"), "{body}");
    }

    #[actix_web::test]
    async fn store_and_domain_errors_map_to_their_status_and_code() {
        let conflict = StoreError::WrongExpectedVersion {
            stream: "webhook-x".into(),
            expected: ExpectedRevision::Exact(1),
            actual: StreamState::Revision(2),
        };
        let cases = [
            (ApiError::from(conflict), 409, "conflict", None),
            (ApiError::from(StoreError::Closed), 503, "unavailable", None),
            (DomainError::PlanNotEligible { plan: None }.into(), 403, "plan_not_eligible", None),
            (DomainError::WebhookLimitReached { max: 4 }.into(), 409, "webhook_limit_reached", None),
            (DomainError::WebhookDisabled.into(), 409, "webhook_disabled", None),
            (DomainError::WebhookNotFound.into(), 404, "not_found", None),
            (DomainError::WebhookDeleted.into(), 404, "not_found", None),
            (DomainError::InvalidUrl(UrlRefusal::Scheme).into(), 400, "invalid_url", Some("url")),
            (ApiError::Unauthorized, 401, "unauthorized", None),
            (ApiError::Forbidden { role: "ops" }, 403, "forbidden", None),
            (ApiError::IdempotencyKeyReused, 422, "idempotency_key_reused", Some("Idempotency-Key")),
            (ApiError::BodyTooLarge { limit: 1 }, 413, "body_too_large", None),
            (ApiError::UnsupportedMediaType, 415, "unsupported_media_type", None),
            (ApiError::MethodNotAllowed { allow: "GET, HEAD".into() }, 405, "method_not_allowed", None),
            (ApiError::RequestTimeout { after: std::time::Duration::from_secs(30) }, 408, "request_timeout", None),
            (ApiError::UriTooLong { limit: 8192 }, 414, "uri_too_long", None),
        ];
        for (error, status, code, field) in cases {
            let (got, body) = rendered(error).await;
            assert_eq!((got, body["code"].as_str().unwrap()), (status, code), "{body}");
            assert_eq!(body["field"].as_str(), field, "{body}");
            assert_eq!(body["type"], format!("urn:packhooks:problem:{code}"));
        }
    }
}
