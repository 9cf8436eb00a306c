//! What the read routes share: the projections service, the query parameters of every list
//! (`limit` within documented bounds, `cursor`) and of the history views (positions, times,
//! direction), and how read-model failures answer.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{web, HttpRequest};
use chrono::{DateTime, Utc};
use packhooks_projections::{ProjectionError, Projections};
use packhooks_store::{Direction, Position};

use crate::{ApiError, ApiState};

/// The projections service the binary registered, or 503 when this server runs without one.
pub(crate) fn projections(state: &ApiState) -> Result<Arc<Projections>, ApiError> {
    state.extension::<Projections>().ok_or(ApiError::NotReady)
}

/// A read-model or audit failure as an API error: store failures keep their meaning, the rest
/// is internal (logged whole, told to nobody).
pub(crate) fn failed(e: ProjectionError) -> ApiError {
    match e {
        ProjectionError::Store(e) => e.into(),
        other => ApiError::internal(other),
    }
}

/// The query string as a map; a malformed one is a 400.
pub(crate) fn query(req: &HttpRequest) -> Result<HashMap<String, String>, ApiError> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|_| ApiError::InvalidInput { field: "query", reason: "is not a valid query string" })
}

/// `limit`: 1 to `max`, `default` when absent.
pub(crate) fn limit(q: &HashMap<String, String>, default: usize, max: usize) -> Result<usize, ApiError> {
    match q.get("limit") {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => {
                Err(ApiError::InvalidInput { field: "limit", reason: "must be a whole number within the page bounds" })
            }
        },
    }
}

/// A position parameter (`123` or `commit/prepare`).
pub(crate) fn position(q: &HashMap<String, String>, field: &'static str) -> Result<Option<Position>, ApiError> {
    q.get(field)
        .map(|text| {
            text.parse::<Position>().map_err(|_| ApiError::InvalidInput { field, reason: "is not a log position" })
        })
        .transpose()
}

/// A read-model paging cursor: a [`position`] whose parts fit the read model's signed 64-bit
/// columns, so a larger one is a 400 rather than a number that wraps negative.
pub(crate) fn cursor(q: &HashMap<String, String>, field: &'static str) -> Result<Option<Position>, ApiError> {
    let cursor = position(q, field)?;
    if cursor.is_some_and(|p| i64::try_from(p.commit).is_err() || i64::try_from(p.prepare).is_err()) {
        return Err(ApiError::InvalidInput { field, reason: "is beyond the largest log position" });
    }
    Ok(cursor)
}

/// `direction`: `forwards` (default) or `backwards`.
pub(crate) fn direction(q: &HashMap<String, String>) -> Result<Direction, ApiError> {
    match q.get("direction").map(String::as_str) {
        None | Some("forwards") => Ok(Direction::Forwards),
        Some("backwards") => Ok(Direction::Backwards),
        Some(_) => Err(ApiError::InvalidInput { field: "direction", reason: "must be forwards or backwards" }),
    }
}

/// An RFC 3339 time from the query. A `+` typed into a query string is decoded as a space,
/// so `…T10:00:00+01:00` arrives as `…T10:00:00 01:00`: a space where the offset's sign
/// belongs is read as that `+`.
pub(crate) fn time(q: &HashMap<String, String>, field: &'static str) -> Result<Option<DateTime<Utc>>, ApiError> {
    q.get(field)
        .map(|text| rfc3339(text).ok_or(ApiError::InvalidInput { field, reason: "is not an RFC 3339 time" }))
        .transpose()
}

fn rfc3339(text: &str) -> Option<DateTime<Utc>> {
    let parse = |t: &str| t.parse::<DateTime<Utc>>().ok();
    parse(text).or_else(|| {
        let (time, offset) = text.rsplit_once(' ')?;
        let is_offset = offset.len() == 5 && offset.as_bytes()[2] == b':';
        is_offset.then(|| parse(&format!("{time}+{offset}"))).flatten()
    })
}
