//! `Idempotency-Key`s: what makes a command safe to retry.
//!
//! A key names one request, not just one event id: a keyed event carries the hash of its
//! request (the route's kind, its target and the parsed body, [`request_hash`]) in its
//! metadata, and a key met again with another hash is another request, never answered with
//! the first one's result.
//!
//! The ids of a keyed command's events are UUID v5 of (stream, key, index). The route is not in
//! the id but in the hash: one key on one stream names one request, so another route's request
//! with the key finds the first one's event and is refused. Submissions keep the event id they
//! have always derived themselves ([`Key::with_event_id`]), in their own namespace.

use packhooks_domain::CommandMetadata;
use packhooks_store::RecordedEvent;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The namespace of the event ids of keyed lifecycle commands. Fixed forever: changing it
/// would make a retry after an upgrade a second command.
const COMMAND_EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x3f6e_91c4_0b7a_4d28_8e15_c2a9_6d40_7b13);

/// The hash of a keyed request, `sha256:<hex>`: what kind of request (the form, the route),
/// its target (pack, account or webhook) and the body as parsed, so the same request written
/// differently (key order, spacing, `null` for an absent field) is the same request.
pub fn request_hash(kind: &str, target: &str, body: &impl Serialize) -> String {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    hasher.update([0]);
    hasher.update(target.as_bytes());
    hasher.update([0]);
    hasher.update(serde_json::to_vec(body).expect("request bodies always serialise"));
    format!("sha256:{:x}", hasher.finalize())
}

/// A command's `Idempotency-Key` and its request's hash.
#[derive(Clone, Debug)]
pub struct Key {
    key: String,
    hash: String,
    /// The first event's id, when the caller derives it (submissions); else per stream.
    first_id: Option<Uuid>,
}

impl Key {
    /// `kind` names the route (`update_webhook`, …), `target` the account or webhook it acts on.
    pub fn new(key: &str, kind: &str, target: &str, body: &impl Serialize) -> Self {
        Key { key: key.to_owned(), hash: request_hash(kind, target, body), first_id: None }
    }

    /// A key whose (single) event has an id the caller derived. Such events were stored
    /// before requests were hashed too: one without a hash is the same request when it is of
    /// the same type.
    pub fn with_event_id(mut self, id: Uuid) -> Self {
        self.first_id = Some(id);
        self
    }

    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The id of the `index`-th event the command appends to `stream`. Stream names and keys
    /// hold no NUL, so distinct (stream, key, index) give distinct names.
    pub fn event_id(&self, stream: &str, index: usize) -> Uuid {
        match (index, self.first_id) {
            (0, Some(id)) => id,
            (0, None) => Uuid::new_v5(&COMMAND_EVENT_NAMESPACE, format!("{stream}\0{}", self.key).as_bytes()),
            (i, _) => Uuid::new_v5(&COMMAND_EVENT_NAMESPACE, format!("{stream}\0{}\0{i}", self.key).as_bytes()),
        }
    }

    /// Whether a stored event of this key is this request's (its metadata holds this hash).
    pub(crate) fn same_request(&self, stored: &RecordedEvent, event_type: Option<&str>) -> bool {
        match CommandMetadata::read(&stored.metadata).and_then(|m| m.request_hash) {
            Some(hash) => hash == self.hash,
            None => self.first_id.is_some() && event_type.is_some_and(|t| t == stored.event_type),
        }
    }
}

#[cfg(test)]
mod tests {
    use packhooks_domain::EventMetadata;

    use super::*;

    fn stored(metadata: Vec<u8>) -> RecordedEvent {
        RecordedEvent {
            id: Uuid::nil(),
            stream: "pack-pk_1".into(),
            revision: 0,
            position: packhooks_store::Position::at(1),
            event_type: "CandidateInterested".into(),
            data: Default::default(),
            metadata: metadata.into(),
            created: Default::default(),
        }
    }

    #[test]
    fn event_ids_depend_on_stream_key_and_index_but_not_the_route() {
        let update = Key::new("k1", "update_webhook", "wh_1", &serde_json::json!({"url": "x"}));
        let disable = Key::new("k1", "disable_webhook", "wh_1", &());
        assert_eq!(update.event_id("webhook-1", 0), disable.event_id("webhook-1", 0));
        assert_ne!(update.hash, disable.hash);
        assert_ne!(update.event_id("webhook-1", 0), update.event_id("webhook-2", 0));
        assert_ne!(update.event_id("webhook-1", 0), update.event_id("webhook-1", 1));
        let other_key = Key::new("k2", "update_webhook", "wh_1", &serde_json::json!({"url": "x"}));
        assert_ne!(update.event_id("webhook-1", 0), other_key.event_id("webhook-1", 0));
    }

    #[test]
    fn the_hash_is_stored_and_read_back_and_only_derived_ids_accept_unhashed_events() {
        let key = Key::new("k1", "set_plan", "acc_7", &serde_json::json!({"plan": "growth"}));
        let base = EventMetadata::correlated("cmd_1");
        let hashed = CommandMetadata { base: base.clone(), request_hash: Some(key.hash.clone()), issued_by: None };
        let bytes = hashed.to_bytes();
        assert!(key.same_request(&stored(bytes.clone()), None));
        let unhashed = stored(serde_json::to_vec(&base).unwrap());
        assert!(!key.same_request(&unhashed, Some("CandidateInterested")), "no hash is not this request");
        let derived = key.clone().with_event_id(Uuid::nil());
        assert!(derived.same_request(&unhashed, Some("CandidateInterested")), "stored before hashing");
        assert!(!derived.same_request(&unhashed, Some("CandidateDeclined")), "another form");
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["correlation_id"], "cmd_1", "the usual metadata stays");
    }
}
