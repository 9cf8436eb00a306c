//! Standard Webhooks signatures: `v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`.
//!
//! During a secret rotation every valid key signs, and the header carries the signatures
//! space-separated, so a receiver that knows either secret accepts the request.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// One signing key: the bytes after `whsec_`, decoded, with the HMAC already keyed (keying
/// hashes the padded key: two SHA-256 blocks a signature need not repeat). `Debug` hides it.
#[derive(Clone)]
pub struct SigningKey {
    bytes: Vec<u8>,
    keyed: HmacSha256,
}

impl SigningKey {
    pub fn new(bytes: Vec<u8>) -> Self {
        let keyed = HmacSha256::new_from_slice(&bytes).expect("HMAC takes keys of any length");
        SigningKey { bytes, keyed }
    }
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for SigningKey {}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

/// The `v1,<base64>` signature of one message with one key.
pub fn sign(key: &SigningKey, message_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut out = String::with_capacity(SIGNATURE_LEN);
    sign_into(&mut out, key, message_id, timestamp.to_string().as_bytes(), body);
    out
}

/// The length of one `v1,<base64 of 32 bytes>` signature.
const SIGNATURE_LEN: usize = 3 + 44;

/// Appends the `v1,<base64>` signature to `out`; `timestamp` is the decimal text.
fn sign_into(out: &mut String, key: &SigningKey, message_id: &str, timestamp: &[u8], body: &[u8]) {
    let mut mac = key.keyed.clone();
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp);
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    out.push_str("v1,");
    base64::engine::general_purpose::STANDARD.encode_string(digest, out);
}

/// The `webhook-signature` header value: one signature per key, space-separated.
/// `timestamp` is the decimal text of the `webhook-timestamp` header.
pub fn signature_header<'a>(
    keys: impl IntoIterator<Item = &'a SigningKey>,
    message_id: &str,
    timestamp: &str,
    body: &[u8],
) -> String {
    let mut out = String::with_capacity(2 * SIGNATURE_LEN + 1);
    for key in keys {
        if !out.is_empty() {
            out.push(' ');
        }
        sign_into(&mut out, key, message_id, timestamp.as_bytes(), body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification (and of its reference libraries).
    #[test]
    fn matches_the_specification_example() {
        let key =
            base64::engine::general_purpose::STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("example key");
        let body = br#"{"test": 2432232314}"#;
        let signature = sign(&SigningKey::new(key), "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn every_key_signs_during_a_rotation() {
        let keys = [SigningKey::new(vec![1; 32]), SigningKey::new(vec![2; 32])];
        let header = signature_header(&keys, "msg_x", "1", b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_ne!(parts[0], parts[1]);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_eq!(parts[0], sign(&keys[0], "msg_x", 1, b"{}"));
        assert_eq!(parts[1], sign(&keys[1], "msg_x", 1, b"{}"));
    }

    /// A keyed MAC reused for many messages signs each as a fresh one would.
    #[test]
    fn a_key_signs_many_messages_independently() {
        let key = SigningKey::new(vec![7; 24]);
        let first = sign(&key, "msg_a", 1614265330, b"{}");
        sign(&key, "msg_b", 1614265331, b"[1]");
        assert_eq!(sign(&key, "msg_a", 1614265330, b"{}"), first);
        assert_eq!(signature_header([&key], "msg_a", "1614265330", b"{}"), first);
    }
}
