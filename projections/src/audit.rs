//! Audit views of the event history, shared by `packhooks audit …` and `/v1/audit/…`:
//! events of one stream or of `$all`, paged in either direction with a cursor; a webhook's
//! state folded from its events up to a time, with its delivery health then; and an export
//! of `$all` as JSON lines.
//!
//! Every view redacts secrets: bodies go through [`DomainEvent::to_redacted_json`], and any
//! other body (an event type this version does not know) has every `secret` field replaced.

use chrono::{DateTime, Utc};
use packhooks_domain::delivery::{Health, HealthStatus};
use packhooks_domain::webhook::{fold_until, WebhookState};
use packhooks_domain::{CommandMetadata, DomainEvent, Issuer, WebhookId};
use packhooks_store::{AllPosition, Direction, EventStore, Position, RecordedEvent, StoreError, StreamPosition};
use serde::Serialize;
use serde_json::Value;

use crate::ProjectionError;

/// The most events one page holds.
pub const MAX_PAGE: usize = 1000;

/// The redacted form of a secret.
const REDACTED: &str = "whsec_[redacted]";

/// One event as auditors see it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Its `$all` position.
    pub position: String,
    pub stream: String,
    pub revision: u64,
    pub event_id: String,
    pub event_type: String,
    /// When the store wrote it.
    pub created: DateTime<Utc>,
    /// The body, secrets redacted.
    pub data: Value,
    /// Correlation and causation ids, and who issued the command.
    pub metadata: Value,
    /// Who issued the command that appended it (the role and the token's name, never the
    /// token); absent on events packhooks wrote itself and on those before tokens were recorded.
    pub issued_by: Option<Issuer>,
}

fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "secret" {
                    *v = Value::String(REDACTED.into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

impl AuditEvent {
    pub fn from_recorded(e: &RecordedEvent) -> AuditEvent {
        let mut data = match DomainEvent::decode(&e.event_type, &e.data) {
            Ok(event) => event.to_redacted_json(),
            Err(_) => serde_json::from_slice(&e.data)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&e.data).into_owned())),
        };
        redact(&mut data);
        let metadata = serde_json::from_slice(&e.metadata).unwrap_or(Value::Null);
        let issued_by = CommandMetadata::read(&e.metadata).and_then(|m| m.issued_by);
        AuditEvent {
            position: e.position.to_string(),
            stream: e.stream.clone(),
            revision: e.revision,
            event_id: e.id.to_string(),
            event_type: e.event_type.clone(),
            created: e.created,
            data,
            metadata,
            issued_by,
        }
    }
}

/// A page of events with the cursor of the next page.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `from` (same direction) for the next page; `None` at the end. For a stream it
    /// is a revision, for `$all` a position.
    pub next: Option<String>,
}

fn page(mut events: Vec<RecordedEvent>, limit: usize, cursor: impl Fn(&RecordedEvent) -> String) -> AuditPage {
    let next = (events.len() > limit).then(|| cursor(&events[limit]));
    events.truncate(limit);
    AuditPage { events: events.iter().map(AuditEvent::from_recorded).collect(), next }
}

/// Events of one stream from revision `from` (inclusive; the start or the end, by
/// direction, when `None`).
pub async fn stream_page(
    store: &dyn EventStore,
    stream: &str,
    from: Option<u64>,
    direction: Direction,
    limit: usize,
) -> Result<AuditPage, ProjectionError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let start = match (from, direction) {
        (Some(r), _) => StreamPosition::Revision(r),
        (None, Direction::Forwards) => StreamPosition::Start,
        (None, Direction::Backwards) => StreamPosition::End,
    };
    let events = store.read_stream(stream, start, direction, limit + 1).await?;
    Ok(page(events, limit, |e| e.revision.to_string()))
}

/// Events of `$all` from `from` (inclusive either way; the start or the end, by direction,
/// when `None`). The store's own system events ([`RecordedEvent::is_system`]) are left out
/// unless `system`; positions are shown as the store gives them (sparse on EventStoreDB).
pub async fn all_page(
    store: &dyn EventStore,
    from: Option<Position>,
    direction: Direction,
    limit: usize,
    system: bool,
) -> Result<AuditPage, ProjectionError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let shown = |e: &RecordedEvent| system || !e.is_system();
    let mut events = Vec::with_capacity(limit + 1);
    let mut start = match (from, direction) {
        (Some(p), _) => AllPosition::Position(p),
        (None, Direction::Forwards) => AllPosition::Start,
        (None, Direction::Backwards) => AllPosition::End,
    };
    if let (Some(p), Direction::Backwards) = (from, direction) {
        // A backwards read from a position leaves it out (EventStoreDB's rule); the page
        // starts with it, so it is read on its own.
        let at = store.read_all(start, Direction::Forwards, 1).await?;
        events.extend(at.into_iter().filter(|e| e.position == p && shown(e)));
    }
    // Pages of the raw log until the page is full, skipping what is not shown; forwards
    // reads include their start again, so only what lies after the last read is taken.
    let mut last: Option<Position> = None;
    while events.len() <= limit {
        let read = store.read_all(start, direction, limit + 1).await?;
        let full = read.len() == limit + 1;
        let Some(end) = read.last().map(|e| e.position) else { break };
        let fresh =
            read.into_iter().filter(|e| direction == Direction::Backwards || last.is_none_or(|l| e.position > l));
        events.extend(fresh.filter(|e| shown(e)));
        if !full || last == Some(end) {
            break;
        }
        last = Some(end);
        start = AllPosition::Position(end);
    }
    Ok(page(events, limit, |e| e.position.to_string()))
}

/// A webhook as it was at a time.
#[derive(Clone, Debug, Serialize)]
pub struct WebhookAt {
    pub webhook_id: String,
    pub at: DateTime<Utc>,
    /// Lifecycle events folded (those recorded up to `at`).
    pub events: u64,
    /// `state`: `none` (not created yet), `active` or `deleted`, with url, event types,
    /// format, status and secret version; never a secret.
    pub state: WebhookState,
    /// Whether its deliveries were failing then (from its `deliveries-` stream).
    pub health: HealthAt,
}

/// A webhook's delivery health at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct HealthAt {
    /// Its deliveries' health alone, `healthy` or `failing` (whether the webhook was disabled
    /// is in `state`).
    pub status: HealthStatus,
    /// Since when it was failing, while it was.
    pub failing_since: Option<DateTime<Utc>>,
}

impl HealthAt {
    fn from_failing_since(failing_since: Option<DateTime<Utc>>) -> Self {
        HealthAt { status: Health { failing_since }.status(), failing_since }
    }
}

/// The webhook's health at `at`: the newest event recorded by then that says it, read back
/// from the last event of its `deliveries-` stream recorded by `at`: a flag, a recovery, or a
/// checkpoint (which carries the failing state as of its writing, so the read stops within
/// a checkpoint interval of `at`). The stream has one writer, which records its events in
/// time order, so that last event is found by bisecting the revisions: what was recorded
/// after `at` (all of a long stream, for an early time) is not read through.
async fn health_at(store: &dyn EventStore, webhook: WebhookId, at: DateTime<Utc>) -> Result<HealthAt, ProjectionError> {
    const PAGE: usize = 256;
    let stream = webhook.deliveries_stream();
    let mut from = match last_recorded_by(store, &stream, at).await? {
        Some(revision) => StreamPosition::Revision(revision),
        None => return Ok(HealthAt::from_failing_since(None)),
    };
    loop {
        let batch = match store.read_stream(&stream, from, Direction::Backwards, PAGE).await {
            Ok(batch) => batch,
            Err(StoreError::StreamNotFound(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        for recorded in &batch {
            let failing_since = match DomainEvent::decode(&recorded.event_type, &recorded.data) {
                Ok(DomainEvent::WebhookFlaggedFailing(e)) if e.recorded_at <= at => Some(e.failing_since),
                Ok(DomainEvent::WebhookRecovered(e)) if e.recorded_at <= at => None,
                Ok(DomainEvent::DeliveryCheckpoint(e)) if e.recorded_at <= at => e.failing_since,
                _ => continue,
            };
            return Ok(HealthAt::from_failing_since(failing_since));
        }
        match batch.last() {
            Some(oldest) if batch.len() == PAGE && oldest.revision > 0 => {
                from = StreamPosition::Revision(oldest.revision - 1)
            }
            _ => return Ok(HealthAt::from_failing_since(None)),
        }
    }
}

/// The revision of `stream` to read back from for the state at `at`: the last one recorded by
/// then, found by bisection (`None`: nothing was). An event whose time cannot be read (a type
/// this version does not know) ends the bisection at the last event, and the read goes back
/// from there, checking every event's time.
async fn last_recorded_by(
    store: &dyn EventStore,
    stream: &str,
    at: DateTime<Utc>,
) -> Result<Option<u64>, ProjectionError> {
    let one = |from: StreamPosition, direction: Direction| async move {
        match store.read_stream(stream, from, direction, 1).await {
            Ok(mut batch) => Ok(batch.pop().map(|e| {
                let recorded = DomainEvent::decode(&e.event_type, &e.data).ok().map(|d| d.recorded_at());
                (e.revision, recorded)
            })),
            Err(StoreError::StreamNotFound(_)) => Ok(None),
            Err(e) => Err(ProjectionError::from(e)),
        }
    };
    let Some((last, last_at)) = one(StreamPosition::End, Direction::Backwards).await? else { return Ok(None) };
    if last_at.is_none_or(|t| t <= at) {
        return Ok(Some(last));
    }
    let Some((first, first_at)) = one(StreamPosition::Start, Direction::Forwards).await? else { return Ok(None) };
    match first_at {
        Some(t) if t > at => return Ok(None),
        Some(_) => {}
        None => return Ok(Some(last)),
    }
    // Recorded by `at`: `low`; after it: `high` and everything from there on.
    let (mut low, mut high) = (first, last);
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        match one(StreamPosition::Revision(middle), Direction::Forwards).await? {
            Some((revision, Some(t))) if t <= at && revision < high => low = revision,
            Some((_, Some(_))) => high = middle,
            Some((_, None)) | None => return Ok(Some(last)),
        }
    }
    Ok(Some(low))
}

/// Whether any webhook was ever created with this id (its `webhook-` stream has an event;
/// a deleted one still has): one event read.
pub async fn webhook_ever_created(store: &dyn EventStore, webhook: WebhookId) -> Result<bool, ProjectionError> {
    match store.read_stream(&webhook.stream(), StreamPosition::Start, Direction::Forwards, 1).await {
        Ok(events) => Ok(!events.is_empty()),
        Err(StoreError::StreamNotFound(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Folds the `webhook-{id}` stream up to `at` with the domain's own fold.
pub async fn webhook_at(
    store: &dyn EventStore,
    webhook: WebhookId,
    at: DateTime<Utc>,
) -> Result<WebhookAt, ProjectionError> {
    let stream = webhook.stream();
    let mut events = Vec::new();
    let mut from = StreamPosition::Start;
    loop {
        let batch = match store.read_stream(&stream, from, Direction::Forwards, 512).await {
            Ok(batch) => batch,
            Err(StoreError::StreamNotFound(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let full = batch.len() == 512;
        let next = batch.last().map(|e| e.revision + 1);
        events.extend(batch.iter().filter_map(|e| DomainEvent::decode(&e.event_type, &e.data).ok()));
        match next {
            Some(n) if full => from = StreamPosition::Revision(n),
            _ => break,
        }
    }
    let folded = events.iter().take_while(|e| e.recorded_at() <= at).count() as u64;
    let health = health_at(store, webhook, at).await?;
    Ok(WebhookAt { webhook_id: webhook.to_string(), at, events: folded, state: fold_until(&events, at), health })
}

/// Writes every event of `$all` from `from` (inclusive; all when `None`) to `out`, one redacted JSON
/// object per line, calling `progress` with the count so far after every page. The store's
/// own system events are written only when `system`.
pub async fn export(
    store: &dyn EventStore,
    from: Option<Position>,
    system: bool,
    out: &mut (dyn std::io::Write + Send),
    progress: &(dyn Fn(u64, Position) + Send + Sync),
) -> Result<u64, ProjectionError> {
    const PAGE: usize = 4096;
    let mut start = from.map(AllPosition::Position).unwrap_or(AllPosition::Start);
    let mut last: Option<Position> = None;
    let mut written = 0u64;
    loop {
        let events = store.read_all(start, Direction::Forwards, PAGE).await?;
        let full = events.len() == PAGE;
        for e in events.iter().filter(|e| Some(e.position) > last && (system || !e.is_system())) {
            serde_json::to_writer(&mut *out, &AuditEvent::from_recorded(e)).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
            written += 1;
        }
        match events.last() {
            Some(e) => {
                last = Some(e.position);
                start = AllPosition::Position(e.position);
                progress(written, e.position);
            }
            None => break,
        }
        if !full {
            break;
        }
    }
    out.flush()?;
    Ok(written)
}
