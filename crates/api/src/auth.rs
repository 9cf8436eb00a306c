//! Bearer tokens and roles.
//!
//! A route declares the role it needs by taking an [`Authorized<R>`] argument (`R` is
//! [`Frontend`], [`Auditor`] or [`Ops`]). A request without a valid token is 401; a valid token
//! without the role is 403. Tokens are kept only as SHA-256 digests and compared in constant
//! time, and neither they nor their digests are ever logged.

use std::fmt;
use std::future::{ready, Ready};
use std::marker::PhantomData;

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use base64::Engine as _;
use packhooks_domain::Issuer;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{ApiError, ApiState};

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The recruiting product: plans, webhooks, submissions.
    Frontend,
    /// Read-only history: the audit endpoints.
    Auditor,
    /// Operations: projections, rebuilds.
    Ops,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Frontend, Role::Auditor, Role::Ops];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Frontend => "frontend",
            Role::Auditor => "auditor",
            Role::Ops => "ops",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown role {0:?} (expected frontend, auditor or ops)")]
pub struct UnknownRole(pub String);

/// Why a token text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    #[error("must be {min} to {max} characters", min = Token::MIN_LEN, max = Token::MAX_LEN)]
    Length,
    #[error("may hold only printable ASCII characters without spaces")]
    Characters,
}

/// A bearer token. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub const MIN_LEN: usize = 16;
    pub const MAX_LEN: usize = 512;

    pub fn parse(text: impl Into<String>) -> Result<Self, InvalidToken> {
        let text = text.into();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&text.len()) {
            return Err(InvalidToken::Length);
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidToken::Characters);
        }
        Ok(Token(text))
    }

    /// A fresh token: `phk_` and 32 random bytes in URL-safe base64.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        Token(format!("phk_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The token text, for the one place that must show or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn digest(text: &str) -> [u8; 32] {
        Sha256::digest(text.as_bytes()).into()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// The tokens the API accepts, each with its roles and its name.
#[derive(Clone, Default)]
pub struct TokenTable {
    /// SHA-256 of each token: comparing fixed-size digests in constant time keeps neither the
    /// token's length nor its prefix observable through timing.
    entries: Vec<Entry>,
}

#[derive(Clone)]
struct Entry {
    digest: [u8; 32],
    roles: Vec<Role>,
    /// The name the settings give the token: what its commands' events record.
    name: Option<TokenName>,
}

/// A token's name from the settings (`ci`, `recruiting-backend`): recorded in the metadata of
/// every event its commands append, so auditors see who did what without seeing the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenName(String);

impl TokenName {
    pub const MAX_LEN: usize = 64;

    /// 1 to 64 characters: ASCII letters, digits, `-`, `_`, `.` and `@`.
    pub fn parse(text: &str) -> Result<Self, InvalidTokenName> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@');
        if (1..=Self::MAX_LEN).contains(&text.len()) && text.chars().all(allowed) {
            Ok(TokenName(text.to_owned()))
        } else {
            Err(InvalidTokenName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 64 characters: ASCII letters, digits, '-', '_', '.' and '@'")]
pub struct InvalidTokenName;

impl fmt::Debug for TokenTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenTable").field("tokens", &self.entries.len()).finish()
    }
}

impl TokenTable {
    pub fn new() -> Self {
        TokenTable::default()
    }

    pub fn with(self, token: &Token, roles: &[Role]) -> Self {
        self.with_name(token, roles, None)
    }

    /// A token with a name (see [`TokenName`]).
    pub fn with_name(mut self, token: &Token, roles: &[Role], name: Option<TokenName>) -> Self {
        self.entries.push(Entry { digest: Token::digest(token.expose()), roles: roles.to_vec(), name });
        self
    }

    /// The roles of the presented token, or `None` when it is not one of ours.
    pub fn roles_of(&self, presented: &str) -> Option<&[Role]> {
        self.find(presented).map(|e| e.roles.as_slice())
    }

    /// Every entry is compared, so the time taken does not say which one matched.
    fn find(&self, presented: &str) -> Option<&Entry> {
        let digest = Token::digest(presented);
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.digest.ct_eq(&digest)) {
                found = Some(entry);
            }
        }
        found
    }
}

/// A role a route can require.
pub trait RequiredRole {
    const ROLE: Role;
}

/// Requires the frontend role.
pub struct Frontend;
/// Requires the auditor role.
pub struct Auditor;
/// Requires the ops role.
pub struct Ops;

impl RequiredRole for Frontend {
    const ROLE: Role = Role::Frontend;
}
impl RequiredRole for Auditor {
    const ROLE: Role = Role::Auditor;
}
impl RequiredRole for Ops {
    const ROLE: Role = Role::Ops;
}

/// Proof that the request carries a token with role `R`; take it as a handler's first
/// argument so that authentication fails before the body is read.
pub struct Authorized<R> {
    issuer: Issuer,
    role: PhantomData<R>,
}

impl<R> Authorized<R> {
    /// Who issues the request's command: the role the route required and the token's name.
    pub fn issuer(&self) -> Issuer {
        self.issuer.clone()
    }
}

impl<R: RequiredRole> FromRequest for Authorized<R> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authorize(req, R::ROLE).map(|name| Authorized {
            issuer: Issuer { role: R::ROLE.as_str().to_owned(), token: name },
            role: PhantomData,
        }))
    }
}

/// The token's name when it has the role.
fn authorize(req: &HttpRequest, role: Role) -> Result<Option<String>, ApiError> {
    let state = req.app_data::<web::Data<ApiState>>().expect("ApiState is registered as app data");
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .ok_or(ApiError::Unauthorized)?;
    let entry = state.config.tokens.find(presented).ok_or(ApiError::Unauthorized)?;
    if entry.roles.contains(&role) {
        Ok(entry.name.as_ref().map(|n| n.as_str().to_owned()))
    } else {
        Err(ApiError::Forbidden { role: role.as_str() })
    }
}

/// The token of an `Authorization: Bearer <token>` value (the scheme is case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_knows_only_its_tokens_and_their_roles() {
        let all = Token::generate();
        let auditor = Token::parse("auditor-token-0123456789").unwrap();
        let table = TokenTable::new().with(&all, &Role::ALL).with(&auditor, &[Role::Auditor]);
        assert_eq!(table.roles_of(all.expose()), Some(&Role::ALL[..]));
        assert_eq!(table.roles_of(auditor.expose()), Some(&[Role::Auditor][..]));
        assert_eq!(table.roles_of("auditor-token-0123456788"), None);
        assert_eq!(table.roles_of(""), None);
    }

    #[test]
    fn token_names_are_short_plain_words() {
        assert_eq!(TokenName::parse("recruiting-backend").unwrap().as_str(), "recruiting-backend");
        assert!(TokenName::parse("ops@example.com").is_ok());
        for bad in ["", "has space", "tab\there", "ünï", &"n".repeat(TokenName::MAX_LEN + 1)] {
            assert_eq!(TokenName::parse(bad), Err(InvalidTokenName), "{bad:?}");
        }
    }

    #[test]
    fn tokens_never_show_in_debug_output() {
        let token = Token::generate();
        assert!(!format!("{token:?}").contains(token.expose()));
        assert!(token.expose().starts_with("phk_"));
    }

    #[test]
    fn bearer_values_are_parsed_strictly() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearerabc"), None);
    }

    #[test]
    fn token_text_is_validated() {
        assert_eq!(Token::parse("short"), Err(InvalidToken::Length));
        assert_eq!(Token::parse("has a space in the middle"), Err(InvalidToken::Characters));
    }
}
