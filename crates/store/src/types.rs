//! The values the store trait speaks in: positions, revisions, expectations, events, filters.

use std::fmt;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A place in the global `$all` order: the domain's [`packhooks_domain::Position`], the one
/// position type of packhooks (it knows nothing else of the domain).
pub use packhooks_domain::Position;

/// What an append expects of the stream it writes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedRevision {
    /// No check at all.
    Any,
    /// The stream must not exist (or be soft-deleted with nothing after).
    NoStream,
    /// The stream must exist.
    StreamExists,
    /// The stream's last event must have exactly this revision.
    Exact(u64),
}

impl fmt::Display for ExpectedRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedRevision::Any => f.write_str("any"),
            ExpectedRevision::NoStream => f.write_str("no stream"),
            ExpectedRevision::StreamExists => f.write_str("stream exists"),
            ExpectedRevision::Exact(r) => write!(f, "revision {r}"),
        }
    }
}

/// What a stream actually was when an expectation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamState {
    /// The stream has no events.
    NoStream,
    /// The stream's last event has this revision.
    Revision(u64),
}

impl fmt::Display for StreamState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamState::NoStream => f.write_str("no stream"),
            StreamState::Revision(r) => write!(f, "revision {r}"),
        }
    }
}

/// An event to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventData {
    /// Unique id; appending the same id again at the same place writes nothing.
    pub id: Uuid,
    /// The event's type name, e.g. `CandidateInterested`.
    pub event_type: String,
    /// JSON body.
    pub data: Bytes,
    /// JSON metadata (correlation and causation ids).
    pub metadata: Bytes,
}

impl EventData {
    /// An event with a JSON body and metadata already serialised.
    pub fn json(id: Uuid, event_type: impl Into<String>, data: impl Into<Bytes>, metadata: impl Into<Bytes>) -> Self {
        EventData { id, event_type: event_type.into(), data: data.into(), metadata: metadata.into() }
    }
}

/// An event as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    pub id: Uuid,
    pub stream: String,
    /// The event's revision within its stream, from 0.
    pub revision: u64,
    /// The event's place in `$all`.
    pub position: Position,
    pub event_type: String,
    pub data: Bytes,
    pub metadata: Bytes,
    /// When the store wrote it (the store's clock).
    pub created: DateTime<Utc>,
}

impl RecordedEvent {
    /// True for the store's own events: a stream or event type starting with `$`, as
    /// EventStoreDB writes into `$all` (`$metadata` in `$$<stream>` on a delete, `$stats-…`
    /// statistics, links). Readers of `$all` hide them unless asked for.
    pub fn is_system(&self) -> bool {
        self.stream.starts_with('$') || self.event_type.starts_with('$')
    }
}

/// The answer to a successful append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendResult {
    /// The revision of the last event of the batch (the next expected revision).
    pub next_expected_revision: u64,
    /// The `$all` position of the last event of the batch.
    pub position: Position,
}

/// Where a stream read starts (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamPosition {
    Start,
    End,
    Revision(u64),
}

/// Where an `$all` read starts: a position is included forwards and excluded backwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllPosition {
    Start,
    End,
    Position(Position),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forwards,
    Backwards,
}

/// Where a subscription starts; it yields events strictly after this point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscribeFrom {
    /// From the first event of `$all`.
    Start,
    /// From the first event after this position (exclusive).
    After(Position),
    /// Live events only (the caught-up signal comes first).
    End,
}

/// Which events a subscription keeps. Filters never drop checkpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriptionFilter {
    /// Keep events whose stream name starts with any of these prefixes.
    StreamPrefix(Vec<String>),
    /// Keep events whose type starts with any of these prefixes.
    EventTypePrefix(Vec<String>),
}

impl SubscriptionFilter {
    pub fn matches(&self, event: &RecordedEvent) -> bool {
        match self {
            SubscriptionFilter::StreamPrefix(p) => p.iter().any(|p| event.stream.starts_with(p.as_str())),
            SubscriptionFilter::EventTypePrefix(p) => p.iter().any(|p| event.event_type.starts_with(p.as_str())),
        }
    }
}

/// What a subscription yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriptionEvent {
    Event(RecordedEvent),
    /// History is done; what follows is live. Sent once per subscription.
    CaughtUp,
    /// Everything up to this position has been scanned (filtered subscriptions).
    Checkpoint(Position),
}

/// Streams whose names start with `$` are the store's own; `$all` is not a stream to append to.
pub fn validate_stream_name(stream: &str) -> Result<(), crate::StoreError> {
    if stream.is_empty() || stream.len() > 512 || stream == "$all" {
        return Err(crate::StoreError::InvalidArgument(format!("invalid stream name {stream:?}")));
    }
    Ok(())
}
