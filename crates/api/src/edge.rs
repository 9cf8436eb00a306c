//! What every request goes through before routing: the checks that do not depend on the
//! route ([`check`]), `HEAD` served as `GET` ([`as_get`]), and the answer for a request no
//! route takes ([`unrouted`]): 405 with `Allow` when the path exists with other methods, else
//! 404. The table of paths and methods is the OpenAPI document's, so what the API answers
//! and what it documents cannot drift apart.

use std::sync::OnceLock;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};

use crate::ApiError;

/// The longest request target (path and query) accepted. Longer ones are 414 problem+json;
/// actix itself closes a request head over 128 KiB with a bodiless 431.
pub const MAX_URI: usize = 8 * 1024;

/// Headers that must appear at most once: with two, which one would count is a guess.
const SINGLE_HEADERS: [&str; 2] = ["Authorization", "Idempotency-Key"];

/// Refuses what no route should see: an overlong target, a repeated single header.
pub fn check(req: &actix_web::dev::RequestHead) -> Result<(), ApiError> {
    let target = req.uri.path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI {
        return Err(ApiError::UriTooLong { limit: MAX_URI });
    }
    for name in SINGLE_HEADERS {
        if req.headers.get_all(name).nth(1).is_some() {
            return Err(ApiError::InvalidInput { field: name, reason: "must be given at most once" });
        }
    }
    Ok(())
}

/// `HEAD` is routed as `GET`: the handler runs as for `GET`, and the HTTP layer, which
/// remembers the request was `HEAD`, sends the headers without the body.
pub fn as_get(head: &mut actix_web::dev::RequestHead) {
    if head.method == Method::HEAD {
        head.method = Method::GET;
    }
}

/// The answer for a request no route took.
pub async fn unrouted(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allowed = allowed_methods(req.path());
    if allowed.is_empty() {
        return Err(ApiError::NotFound { what: format!("{} {}", req.method(), req.path()) });
    }
    Err(ApiError::MethodNotAllowed { allow: allowed.join(", ") })
}

/// A documented path: its segments (`None` for a parameter) and its methods.
struct Route {
    segments: Vec<Option<String>>,
    methods: Vec<&'static str>,
}

/// The methods `path` answers to, `HEAD` wherever `GET`, in a fixed order.
pub fn allowed_methods(path: &str) -> Vec<&'static str> {
    let requested: Vec<&str> = path.split('/').collect();
    let mut allowed: Vec<&'static str> = routes()
        .iter()
        .filter(|route| {
            route.segments.len() == requested.len()
                && route.segments.iter().zip(&requested).all(|(expected, got)| match expected {
                    Some(literal) => literal == got,
                    None => !got.is_empty(),
                })
        })
        .flat_map(|route| route.methods.iter().copied())
        .collect();
    if allowed.contains(&"GET") {
        allowed.push("HEAD");
    }
    const ORDER: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
    allowed.sort_by_key(|m| ORDER.iter().position(|o| o == m));
    allowed.dedup();
    allowed
}

fn routes() -> &'static [Route] {
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        crate::openapi()
            .paths
            .paths
            .iter()
            .map(|(path, item)| Route {
                segments: path
                    .split('/')
                    .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_owned()))
                    .collect(),
                methods: [
                    (item.get.is_some(), "GET"),
                    (item.post.is_some(), "POST"),
                    (item.put.is_some(), "PUT"),
                    (item.patch.is_some(), "PATCH"),
                    (item.delete.is_some(), "DELETE"),
                ]
                .into_iter()
                .filter_map(|(present, method)| present.then_some(method))
                .collect(),
            })
            .collect()
    })
}
