//! The one error type of the domain: every refused command ends here, with a stable `code()`
//! the API puts in its problem+json, the field at fault where there is one, and a coarse
//! [`ErrorKind`] the edge maps to an HTTP status (the domain itself knows nothing of HTTP).
//!
//! Idempotent repeats are not errors: enabling an enabled webhook, disabling a disabled one,
//! deleting a deleted one or setting the plan an account already has decide to *no events*,
//! so a client retrying a request never sees a failure for something that already happened.

use crate::account::Plan;
use crate::webhook::EventType;

/// What a refused command was refused for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Webhooks exist only on growth and scale; `None` is an account packhooks has not seen.
    #[error("webhooks need the growth or scale plan (account is on {})", plan_name(.plan))]
    PlanNotEligible { plan: Option<Plan> },
    #[error("the account already has {max} webhooks, the most allowed")]
    WebhookLimitReached { max: usize },
    #[error("no such webhook")]
    WebhookNotFound,
    #[error("the webhook was deleted")]
    WebhookDeleted,
    #[error("a webhook with this id already exists")]
    WebhookExists,
    /// Test events go only to enabled webhooks: a disabled one would never answer.
    #[error("the webhook is disabled")]
    WebhookDisabled,
    #[error("invalid url")]
    InvalidUrl(#[source] UrlRefusal),
    #[error("invalid event types: {0}")]
    InvalidEvents(EventsProblem),
    #[error("invalid signing secret")]
    InvalidSecret(#[source] SecretProblem),
    /// Any other field that failed validation; `field` is its JSON path (`candidate.email`).
    #[error("invalid {field}: {problem}")]
    InvalidField { field: &'static str, problem: FieldProblem },
}

/// A coarse class of error; the API maps it to a status (403, 404, 409, 410, 422).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The account's plan does not allow this.
    Forbidden,
    NotFound,
    /// The thing existed and is gone for good.
    Gone,
    /// The command clashes with the current state.
    Conflict,
    /// The input itself is wrong.
    Invalid,
}

impl DomainError {
    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::PlanNotEligible { .. } => "plan_not_eligible",
            DomainError::WebhookLimitReached { .. } => "webhook_limit_reached",
            DomainError::WebhookNotFound => "webhook_not_found",
            DomainError::WebhookDeleted => "webhook_deleted",
            DomainError::WebhookExists => "webhook_exists",
            DomainError::WebhookDisabled => "webhook_disabled",
            DomainError::InvalidUrl(_) => "invalid_url",
            DomainError::InvalidEvents(_) => "invalid_events",
            DomainError::InvalidSecret(_) => "invalid_secret",
            DomainError::InvalidField { .. } => "invalid_field",
        }
    }

    /// The JSON path of the request field at fault, if one is.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            DomainError::InvalidUrl(_) => Some("url"),
            DomainError::InvalidEvents(_) => Some("events"),
            DomainError::InvalidSecret(_) => Some("secret"),
            DomainError::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            DomainError::PlanNotEligible { .. } => ErrorKind::Forbidden,
            DomainError::WebhookNotFound => ErrorKind::NotFound,
            DomainError::WebhookDeleted => ErrorKind::Gone,
            DomainError::WebhookLimitReached { .. } | DomainError::WebhookExists | DomainError::WebhookDisabled => {
                ErrorKind::Conflict
            }
            DomainError::InvalidUrl(_)
            | DomainError::InvalidEvents(_)
            | DomainError::InvalidSecret(_)
            | DomainError::InvalidField { .. } => ErrorKind::Invalid,
        }
    }

    pub(crate) fn invalid_field(field: &'static str, problem: FieldProblem) -> Self {
        DomainError::InvalidField { field, problem }
    }
}

fn plan_name(plan: &Option<Plan>) -> &'static str {
    match plan {
        None => "no plan",
        Some(Plan::Starter) => "starter",
        Some(Plan::Growth) => "growth",
        Some(Plan::Scale) => "scale",
    }
}

/// Why a webhook URL was refused. `reason()` is a stable code for the detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("not a URL")]
    Malformed(#[source] url::ParseError),
    #[error("longer than {max} characters")]
    TooLong { max: usize },
    #[error("the scheme must be http or https")]
    Scheme,
    #[error("user names and passwords are not allowed in the URL")]
    Userinfo,
    #[error("a host is required")]
    NoHost,
    /// A literal IP address that is not publicly routable (private, loopback, …).
    #[error("the target address is not public")]
    PrivateAddress,
    /// `localhost` or a `*.localhost` name.
    #[error("the target host is local")]
    LocalHostName,
    /// Port 0: nothing listens there.
    #[error("port 0 is not a port anything listens on")]
    PortZero,
    /// https to an IPv6 literal: the TLS client cannot name such a server, so every attempt
    /// would fail before its handshake.
    #[error("https to an IPv6 address literal is not supported; use a host name or http")]
    HttpsToIpv6Literal,
}

impl UrlRefusal {
    pub fn reason(&self) -> &'static str {
        match self {
            UrlRefusal::Malformed(_) => "malformed",
            UrlRefusal::TooLong { .. } => "too_long",
            UrlRefusal::Scheme => "scheme",
            UrlRefusal::Userinfo => "userinfo",
            UrlRefusal::NoHost => "no_host",
            UrlRefusal::PrivateAddress => "private_address",
            UrlRefusal::LocalHostName => "local_host_name",
            UrlRefusal::PortZero => "port_zero",
            UrlRefusal::HttpsToIpv6Literal => "https_ipv6_literal",
        }
    }
}

/// What is wrong with a webhook's list of event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EventsProblem {
    #[error("at least one event type is required")]
    Empty,
    #[error("{0:?} is listed twice")]
    Duplicate(EventType),
}

/// What is wrong with a signing secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretProblem {
    #[error("must start with whsec_")]
    Prefix,
    #[error("must be standard base64 after whsec_")]
    Encoding(#[source] base64::DecodeError),
    #[error("must hold {min} to {max} bytes")]
    Length { min: usize, max: usize },
}

/// What is wrong with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    /// Present but empty or only whitespace.
    #[error("must not be blank")]
    Blank,
    /// Longer than `max` characters (Unicode scalar values, not bytes).
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must be an email address")]
    Email,
    #[error("must be an http or https URL")]
    Url,
    #[error("must be at most {max_seconds} seconds")]
    DurationTooLong { max_seconds: u64 },
    /// A control character other than tab and newline (a NUL, an escape sequence, a
    /// carriage return): texts are shown to people and written to logs.
    #[error("must not hold control characters other than tab and newline")]
    ControlCharacter,
    /// A name made only of invisible characters (zero-width spaces, fillers).
    #[error("must contain a visible character")]
    Invisible,
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::error::Error as _;

    use super::*;

    fn one_of_each() -> Vec<DomainError> {
        vec![
            DomainError::PlanNotEligible { plan: Some(Plan::Starter) },
            DomainError::WebhookLimitReached { max: 4 },
            DomainError::WebhookNotFound,
            DomainError::WebhookDeleted,
            DomainError::WebhookExists,
            DomainError::WebhookDisabled,
            DomainError::InvalidUrl(UrlRefusal::Scheme),
            DomainError::InvalidEvents(EventsProblem::Empty),
            DomainError::InvalidSecret(SecretProblem::Prefix),
            DomainError::InvalidField { field: "candidate.email", problem: FieldProblem::Email },
        ]
    }

    #[test]
    fn codes_are_stable_and_distinct() {
        let codes: Vec<_> = one_of_each().iter().map(DomainError::code).collect();
        assert_eq!(
            codes,
            [
                "plan_not_eligible",
                "webhook_limit_reached",
                "webhook_not_found",
                "webhook_deleted",
                "webhook_exists",
                "webhook_disabled",
                "invalid_url",
                "invalid_events",
                "invalid_secret",
                "invalid_field",
            ]
        );
        assert_eq!(codes.iter().collect::<HashSet<_>>().len(), codes.len());
    }

    #[test]
    fn input_errors_name_their_field_and_state_errors_do_not() {
        for e in one_of_each() {
            assert_eq!(e.field().is_some(), e.kind() == ErrorKind::Invalid, "{e:?}");
        }
        let e = DomainError::InvalidField { field: "candidate.email", problem: FieldProblem::Email };
        assert_eq!(e.field(), Some("candidate.email"));
        assert_eq!(e.to_string(), "invalid candidate.email: must be an email address");
    }

    #[test]
    fn causes_are_kept_as_sources() {
        let parse = url::Url::parse("no url").expect_err("malformed");
        let e = DomainError::InvalidUrl(UrlRefusal::Malformed(parse));
        let refusal = e.source().expect("the refusal");
        assert_eq!(refusal.to_string(), "not a URL");
        assert!(refusal.source().is_some(), "the url crate's error is kept");
        assert_eq!(
            DomainError::PlanNotEligible { plan: None }.to_string(),
            "webhooks need the growth or scale plan (account is on no plan)"
        );
    }
}
