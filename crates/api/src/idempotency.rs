//! `Idempotency-Key`: what makes a command safe to retry.
//!
//! The header is checked at the edge the same way on every route (1 to 255 printable ASCII
//! characters, else a 400 on `Idempotency-Key`). A key names one request, not just one event
//! id: a keyed event carries the hash of its request (the route's kind, its target and the
//! parsed body, [`request_hash`]) in its metadata, and a key met again with another hash is a
//! 422 `idempotency_key_reused`, never the first request's answer.
//!
//! Submissions derive their ids themselves (their own namespaces) and use the header and hash
//! helpers here. Commands on a lifecycle stream (webhooks, plans) go through [`KeyedStream`]:
//!
//! - the ids of a keyed command's events are UUID v5 of (stream, key, index). The route is not
//!   in the id but in the hash: one key on one stream names one request, so another route's
//!   request with the key finds the first one's event and is refused;
//! - before deciding, the stream is read with its ids; if it holds the key's event, the command
//!   was already carried out: its events and those before them are handed back (the caller
//!   answers from them, as it did the first time) and nothing is decided or appended;
//! - otherwise the caller decides and appends with the exact revision read; the appended events
//!   are then read back, so a twin request that won a race answers with the stored events (a
//!   rotated secret is the stored one, not the one this request drew).
//!
//! A command that decides no events (an enable of an enabled webhook, the plan it already has)
//! stores nothing, so nothing records its key: a retry is decided again, which answers the same
//! unless the target changed in between.

use actix_web::HttpRequest;
use packhooks_domain::{DomainEvent, EventMetadata};
use packhooks_store::{Direction, EventData, EventStore, ExpectedRevision, RecordedEvent, StoreError, StreamPosition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::ApiError;

/// The header that makes a command safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The longest idempotency key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// The namespace of the event ids of keyed lifecycle commands. Fixed forever: changing it
/// would make a retry after an upgrade a second command.
const COMMAND_EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x3f6e_91c4_0b7a_4d28_8e15_c2a9_6d40_7b13);

/// How many events one stream read fetches.
const READ_BATCH: usize = 1024;

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

/// The metadata of a keyed event: the usual ids and the request's hash.
#[derive(Serialize)]
pub struct KeyedMetadata<'a> {
    #[serde(flatten)]
    pub base: &'a EventMetadata,
    pub request_hash: &'a str,
}

impl KeyedMetadata<'_> {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("metadata always serialises")
    }
}

/// The request hash in a stored event's metadata, if it has one.
pub fn stored_hash(metadata: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct StoredRequestHash {
        request_hash: Option<String>,
    }
    serde_json::from_slice::<StoredRequestHash>(metadata).ok().and_then(|m| m.request_hash)
}

/// A lifecycle command with an `Idempotency-Key`: the key and its request's hash.
pub struct KeyedCommand<'a> {
    key: &'a str,
    hash: String,
}

impl<'a> KeyedCommand<'a> {
    /// `kind` names the route (`update_webhook`, …), `target` the account or webhook it acts on.
    pub fn new(key: &'a str, kind: &str, target: &str, body: &impl Serialize) -> Self {
        KeyedCommand { key, hash: request_hash(kind, target, body) }
    }

    /// The id of the `index`-th event the command appends to `stream`. Stream names and keys
    /// hold no NUL, so distinct (stream, key, index) give distinct names.
    pub fn event_id(&self, stream: &str, index: usize) -> Uuid {
        let name = match index {
            0 => format!("{stream}\0{}", self.key),
            i => format!("{stream}\0{}\0{i}", self.key),
        };
        Uuid::new_v5(&COMMAND_EVENT_NAMESPACE, name.as_bytes())
    }

    /// Whether a stored event's metadata carries this request's hash.
    fn same_request(&self, metadata: &[u8]) -> bool {
        stored_hash(metadata).is_some_and(|h| h == self.hash)
    }
}

/// What a keyed command comes to: the stream's events before the command's own, and its own
/// events as stored (none for a command that changed nothing).
#[derive(Debug)]
pub struct Ran {
    pub before: Vec<DomainEvent>,
    pub own: Vec<DomainEvent>,
}

impl Ran {
    /// Every event up to the command's last one, in order.
    pub fn events(&self) -> impl Iterator<Item = &DomainEvent> {
        self.before.iter().chain(&self.own)
    }
}

/// A stream read with its ids, for a keyed command (see the module's header).
pub struct KeyedStream {
    pub stream: String,
    recorded: Vec<RecordedEvent>,
    /// The stream's events, decoded.
    pub events: Vec<DomainEvent>,
    /// What an append after these events expects.
    pub expected: ExpectedRevision,
}

impl KeyedStream {
    /// Reads a whole stream; one that does not exist is empty with `NoStream` expected.
    pub async fn load(store: &dyn EventStore, stream: &str) -> Result<Self, ApiError> {
        let mut recorded = Vec::new();
        loop {
            let from = recorded
                .last()
                .map_or(StreamPosition::Start, |r: &RecordedEvent| StreamPosition::Revision(r.revision + 1));
            let batch = match store.read_stream(stream, from, Direction::Forwards, READ_BATCH).await {
                Ok(batch) => batch,
                Err(StoreError::StreamNotFound(_)) if recorded.is_empty() => break,
                Err(e) => return Err(e.into()),
            };
            let full = batch.len() == READ_BATCH;
            recorded.extend(batch);
            if !full {
                break;
            }
        }
        let events = recorded.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        let expected = recorded.last().map_or(ExpectedRevision::NoStream, |r| ExpectedRevision::Exact(r.revision));
        Ok(KeyedStream { stream: stream.to_owned(), recorded, events, expected })
    }

    /// Whether the stream holds an event of `command`'s key (whatever the request).
    pub fn holds_key(&self, command: &KeyedCommand<'_>) -> bool {
        let first = command.event_id(&self.stream, 0);
        self.recorded.iter().any(|r| r.id == first)
    }

    /// If the stream holds the key's events, the command was carried out already: its events
    /// and those before them; a 422 if they are another request's.
    pub fn replay(&self, command: &KeyedCommand<'_>) -> Result<Option<Ran>, ApiError> {
        let first = command.event_id(&self.stream, 0);
        let Some(at) = self.recorded.iter().position(|r| r.id == first) else {
            return Ok(None);
        };
        if !command.same_request(&self.recorded[at].metadata) {
            return Err(ApiError::IdempotencyKeyReused);
        }
        let count = self.recorded[at..]
            .iter()
            .enumerate()
            .take_while(|(i, r)| r.id == command.event_id(&self.stream, *i))
            .count();
        Ok(Some(Ran { before: self.events[..at].to_vec(), own: self.events[at..at + count].to_vec() }))
    }

    /// Appends what the command decided with the key's ids and the request's hash, at the
    /// revision read, and reads it back (a twin request may have stored it first).
    pub async fn append(
        self,
        store: &dyn EventStore,
        command: &KeyedCommand<'_>,
        decided: Vec<DomainEvent>,
    ) -> Result<Ran, ApiError> {
        if decided.is_empty() {
            return Ok(Ran { before: self.events, own: decided });
        }
        let stream = self.stream.as_str();
        let first = command.event_id(stream, 0);
        let base = EventMetadata::correlated(format!("cmd_{}", first.simple()));
        let metadata = KeyedMetadata { base: &base, request_hash: &command.hash }.to_bytes();
        let data = decided
            .iter()
            .enumerate()
            .map(|(i, e)| EventData::json(command.event_id(stream, i), e.event_type(), e.to_json(), metadata.clone()))
            .collect();
        let appended = store.append(stream, self.expected, data).await?;
        let count = decided.len();
        let from = (appended.next_expected_revision + 1).checked_sub(count as u64).ok_or_else(not_where_said)?;
        let stored = store.read_stream(stream, StreamPosition::Revision(from), Direction::Forwards, count).await?;
        let ours = stored.len() == count && stored.iter().enumerate().all(|(i, r)| r.id == command.event_id(stream, i));
        if !ours {
            return Err(not_where_said());
        }
        if !command.same_request(&stored[0].metadata) {
            return Err(ApiError::IdempotencyKeyReused);
        }
        let own = stored.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        Ok(Ran { before: self.events, own })
    }
}

fn decode(recorded: &RecordedEvent) -> Result<DomainEvent, ApiError> {
    DomainEvent::decode(&recorded.event_type, &recorded.data).map_err(ApiError::internal)
}

fn not_where_said() -> ApiError {
    ApiError::internal(std::io::Error::other("the appended events are not where the store said"))
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

    #[test]
    fn event_ids_depend_on_stream_key_and_index_but_not_the_route() {
        let update = KeyedCommand::new("k1", "update_webhook", "wh_1", &serde_json::json!({"url": "x"}));
        let disable = KeyedCommand::new("k1", "disable_webhook", "wh_1", &());
        assert_eq!(update.event_id("webhook-1", 0), disable.event_id("webhook-1", 0));
        assert_ne!(update.hash, disable.hash);
        assert_ne!(update.event_id("webhook-1", 0), update.event_id("webhook-2", 0));
        assert_ne!(update.event_id("webhook-1", 0), update.event_id("webhook-1", 1));
        let other_key = KeyedCommand::new("k2", "update_webhook", "wh_1", &serde_json::json!({"url": "x"}));
        assert_ne!(update.event_id("webhook-1", 0), other_key.event_id("webhook-1", 0));
    }

    #[test]
    fn the_hash_is_stored_and_read_back() {
        let command = KeyedCommand::new("k1", "set_plan", "acc_7", &serde_json::json!({"plan": "growth"}));
        let base = EventMetadata::correlated("cmd_1");
        let bytes = KeyedMetadata { base: &base, request_hash: &command.hash }.to_bytes();
        assert!(command.same_request(&bytes));
        assert!(!command.same_request(&serde_json::to_vec(&base).unwrap()), "no hash is not this request");
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["correlation_id"], "cmd_1", "the usual metadata stays");
    }
}
