//! `Idempotency-Key`: the header that makes a command safe to retry, checked at the edge the
//! same way on every route (1 to 255 printable ASCII characters, else a 400 on
//! `Idempotency-Key`). What a key means (ids, request hashes, replays) is the command path's:
//! see [`packhooks_command`].

use actix_web::HttpRequest;

use crate::ApiError;

/// The header that makes a command safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The longest idempotency key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// The request's `Idempotency-Key`: `None` without one, a 400 on `Idempotency-Key` for one
/// that is not 1 to 255 printable ASCII characters.
pub fn key(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    value.to_str().ok().filter(|k| is_valid_key(k)).map(Some).ok_or(ApiError::InvalidInput {
        field: "Idempotency-Key",
        reason: "must be 1 to 255 printable ASCII characters",
    })
}

pub fn is_valid_key(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| (0x20..0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_ascii_of_bounded_length() {
        assert!(is_valid_key("order-42"));
        assert!(is_valid_key(&"k".repeat(MAX_KEY_LEN)));
        assert!(!is_valid_key(""));
        assert!(!is_valid_key(&"k".repeat(MAX_KEY_LEN + 1)));
        assert!(!is_valid_key("tab\there"));
        assert!(!is_valid_key("café"));
    }
}
