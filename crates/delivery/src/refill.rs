//! Refilling a lagging webhook's backlog from the store.
//!
//! A webhook actor keeps routed events it has not taken on yet in a backlog. When the backlog
//! is full (a slow endpoint while submissions keep coming), the actor drops what the
//! dispatcher routes to it from then on, and once its backlog has drained it reads those
//! events back from the log with a [`Refill`]: the same routing decision the dispatcher made
//! (the domain's `Registry`), folded from this webhook's own lifecycle and its account's
//! plan changes only, so its memory stays bounded however far it lags.

use std::sync::Arc;

use packhooks_domain::registry::Registry;
use packhooks_domain::{DomainEvent, WebhookId};
use packhooks_store::{
    read_stream_to_end, AllPosition, Direction, EventStore, Position, RecordedEvent, StreamPosition,
};

use crate::message::Outgoing;
use crate::DeliveryError;

/// Events read from `$all` per store read.
const READ_BATCH: usize = 512;

/// Events scanned per page at most, so one page never holds the actor's reads up for long.
const SCAN_PER_PAGE: usize = 20_000;

/// Where a refill goes on scanning `$all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// From this position on (it included).
    From(Position),
    /// After this position.
    After(Position),
}

impl Cursor {
    /// Whether the scan still to come includes `position`.
    fn includes(self, position: Position) -> bool {
        match self {
            Cursor::From(p) => position >= p,
            Cursor::After(p) => position > p,
        }
    }

    fn position(self) -> Position {
        match self {
            Cursor::From(p) | Cursor::After(p) => p,
        }
    }
}

/// One page of a refill.
pub struct Page {
    /// The events routed to the webhook, in log order.
    pub events: Vec<Arc<Outgoing>>,
    /// Where the next page starts.
    pub next: Cursor,
    /// The scan passed `until` (or the end of the log).
    pub reached: bool,
}

/// The routing state of one webhook at a cursor, and the cursor.
pub struct Refill {
    webhook: WebhookId,
    webhook_stream: String,
    account_stream: Option<String>,
    registry: Registry,
    cursor: Cursor,
}

impl Refill {
    /// The webhook's routing state just before `cursor`: its lifecycle and its account's plan
    /// changes up to there.
    pub async fn start(store: &dyn EventStore, webhook: WebhookId, cursor: Cursor) -> Result<Refill, DeliveryError> {
        let webhook_stream = webhook.stream();
        let mut lifecycle = read_whole(store, &webhook_stream).await?;
        let account = lifecycle.iter().find_map(|(_, event)| match event {
            DomainEvent::WebhookCreated(e) => Some(e.account_id.clone()),
            _ => None,
        });
        let account_stream = account.map(|a| a.stream());
        if let Some(stream) = &account_stream {
            lifecycle.extend(read_whole(store, stream).await?);
        }
        lifecycle.sort_by_key(|(position, _)| *position);
        let mut registry = Registry::new();
        for (_, event) in lifecycle.iter().filter(|(position, _)| !cursor.includes(*position)) {
            registry.apply(event);
        }
        Ok(Refill { webhook, webhook_stream, account_stream, registry, cursor })
    }

    /// The next events routed to the webhook, at most `max`, from the cursor on and up to
    /// `until` (the last event the dispatcher has routed to it: the scan never runs ahead of
    /// the dispatcher, so the actor already knows the webhook's target as of there).
    pub async fn page(&mut self, store: &dyn EventStore, max: usize, until: Position) -> Result<Page, DeliveryError> {
        let mut events = Vec::new();
        let mut scanned = 0;
        loop {
            let read =
                store.read_all(AllPosition::Position(self.cursor.position()), Direction::Forwards, READ_BATCH).await?;
            let end_of_log = read.len() < READ_BATCH;
            let start = self.cursor;
            for recorded in read.into_iter().filter(|r| start.includes(r.position)) {
                if recorded.position > until {
                    return Ok(Page { events, next: self.cursor, reached: true });
                }
                self.cursor = Cursor::After(recorded.position);
                scanned += 1;
                if let Some(outgoing) = self.route(&recorded) {
                    events.push(Arc::new(outgoing));
                    if events.len() >= max {
                        return Ok(Page { events, next: self.cursor, reached: !self.cursor.includes(until) });
                    }
                }
            }
            if end_of_log || scanned >= SCAN_PER_PAGE {
                return Ok(Page { events, next: self.cursor, reached: end_of_log || !self.cursor.includes(until) });
            }
        }
    }

    /// Folds a lifecycle event of this webhook or its account; the message, if the event
    /// routes to this webhook. An event that does not decode is skipped, as the dispatcher
    /// skips it (a newer version's event type, say).
    fn route(&mut self, recorded: &RecordedEvent) -> Option<Outgoing> {
        let own = recorded.stream == self.webhook_stream || Some(&recorded.stream) == self.account_stream.as_ref();
        if !own && !recorded.stream.starts_with(packhooks_domain::streams::PACK) {
            return None;
        }
        let event = match DomainEvent::decode(&recorded.event_type, &recorded.data) {
            Ok(event) => event,
            Err(error) => {
                tracing::error!(stream = %recorded.stream, revision = recorded.revision, error = &error as &dyn std::error::Error, "undecodable event skipped");
                return None;
            }
        };
        if own {
            self.registry.apply(&event);
        }
        if self.registry.route_event(&event).any(|id| id == self.webhook) {
            return Outgoing::of(recorded, &event);
        }
        None
    }
}

/// A whole stream with each event's position (none if the stream does not exist); events
/// that do not decode are skipped, as the dispatcher skips them.
async fn read_whole(store: &dyn EventStore, stream: &str) -> Result<Vec<(Position, DomainEvent)>, DeliveryError> {
    let recorded = read_stream_to_end(store, stream, StreamPosition::Start).await?;
    let decoded = recorded.iter().filter_map(|r| match DomainEvent::decode(&r.event_type, &r.data) {
        Ok(event) => Some((r.position, event)),
        Err(error) => {
            tracing::error!(stream = %r.stream, revision = r.revision, error = &error as &dyn std::error::Error, "undecodable event skipped");
            None
        }
    });
    Ok(decoded.collect())
}
