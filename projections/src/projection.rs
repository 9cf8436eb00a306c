//! The `Projection` trait: what a read model declares (name, version, tables, filter) and the
//! one `apply` through which every event reaches it, live or in a rebuild.
//!
//! A projection works in batches: [`Projection::batch`] opens a unit of work over one
//! transaction, [`ProjectionBatch::apply`] folds events into it (aggregating in memory where
//! it can, so a batch of ten thousand events touches each row once), and
//! [`ProjectionBatch::flush`] writes what is left before the runner stores the checkpoint
//! and commits. The live runner and a rebuild both go through [`apply_batch`].

use chrono::{DateTime, Utc};
use packhooks_store::{Position, RecordedEvent, SubscriptionFilter};
use rusqlite::Transaction;

use crate::event::Event;
use crate::ProjectionError;

/// The generation suffix of a projection's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tables {
    generation: u64,
}

impl Tables {
    pub fn new(generation: u64) -> Self {
        Tables { generation }
    }
    pub fn generation(&self) -> u64 {
        self.generation
    }
    /// The real name of table `base` in this generation, e.g. `health_g3`.
    pub fn name(&self, base: &str) -> String {
        format!("{base}_g{}", self.generation)
    }
    /// Replaces every `{base}` in `sql` by the base's real name, for each of `bases`.
    pub fn sql(&self, sql: &str, bases: &[&str]) -> String {
        let mut out = sql.to_owned();
        for base in bases {
            out = out.replace(&format!("{{{base}}}"), &self.name(base));
        }
        out
    }
}

/// A decoded event with where it sits in the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub position: Position,
    pub stream: String,
    pub revision: u64,
    /// When the store wrote it.
    pub created: DateTime<Utc>,
    pub event: Event,
}

impl Envelope {
    /// Decodes a stored event; `None` for an event no projection reads (skipped by its type,
    /// before any parsing), or one this version of packhooks cannot read (a malformed body,
    /// which is logged). Such events are skipped the same
    /// way live and in a rebuild, so read models stay deterministic and one bad event cannot
    /// stop a projection for good.
    pub fn decode(recorded: &RecordedEvent) -> Option<Envelope> {
        let event = Self::decode_event(recorded)?;
        Some(Envelope {
            position: recorded.position,
            stream: recorded.stream.clone(),
            revision: recorded.revision,
            created: recorded.created,
            event,
        })
    }

    /// [`Envelope::decode`] taking the recorded event by value (no copy of its stream name).
    pub fn decode_owned(recorded: RecordedEvent) -> Option<Envelope> {
        let event = Self::decode_event(&recorded)?;
        Some(Envelope {
            position: recorded.position,
            stream: recorded.stream,
            revision: recorded.revision,
            created: recorded.created,
            event,
        })
    }

    fn decode_event(recorded: &RecordedEvent) -> Option<Event> {
        match Event::decode(&recorded.event_type, &recorded.data) {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(
                    position = %recorded.position,
                    event_type = %recorded.event_type,
                    error = &error as &dyn std::error::Error,
                    "skipping an undecodable event"
                );
                None
            }
        }
    }
}

/// A read model fed from `$all`.
pub trait Projection: Send + Sync + 'static {
    /// Stable name, used in `projection_versions`, the CLI and the ops API.
    fn name(&self) -> &'static str;
    /// Bump when `apply` or the schema changes: a stored set of another version is rebuilt
    /// blue/green on start.
    fn version(&self) -> u32;
    /// The base names of the tables `schema` creates (dropped with the set).
    fn tables(&self) -> &'static [&'static str];
    /// `CREATE TABLE` (and index) statements for one generation.
    fn schema(&self, tables: &Tables) -> String;
    /// The streams this projection reads; the subscription filters by it.
    fn filter(&self) -> SubscriptionFilter;
    /// Opens a unit of work writing to `tables`.
    fn batch(&self, tables: &Tables) -> Box<dyn ProjectionBatch>;
}

/// One transaction's worth of work of one projection.
pub trait ProjectionBatch {
    /// Folds one event in. Events arrive in `$all` order, each exactly once per set.
    fn apply(&mut self, tx: &Transaction<'_>, event: &Envelope) -> Result<(), ProjectionError>;
    /// Folds a run of events in, in order; the same as `apply` on each (a batch may override
    /// it to prepare its statements once per run).
    fn apply_all(&mut self, tx: &Transaction<'_>, events: &[&Envelope]) -> Result<(), ProjectionError> {
        for event in events {
            self.apply(tx, event)?;
        }
        Ok(())
    }
    /// Writes whatever `apply` kept in memory, and forgets it: after a flush the batch is as
    /// new, and the live runner reuses it for its next transaction.
    fn flush(&mut self, tx: &Transaction<'_>) -> Result<(), ProjectionError>;
}

/// Applies `events` (all after the set's checkpoint, in order, and all matching the
/// projection's filter: callers select them) to one table set of a projection and stores
/// the new checkpoint, inside `tx`. `last_scanned` is the furthest
/// position the feed vouched for (it may lie beyond the last event when the filter skipped
/// some); the checkpoint becomes the later of the two.
pub fn apply_batch(
    tx: &Transaction<'_>,
    projection: &dyn Projection,
    generation: u64,
    events: &[&Envelope],
    last_scanned: Option<Position>,
    heartbeat: bool,
) -> Result<Option<Position>, ProjectionError> {
    let mut batch = projection.batch(&Tables::new(generation));
    apply_batch_with(tx, batch.as_mut(), projection.name(), generation, events, last_scanned, heartbeat)
}

/// [`apply_batch`] through a unit of work the caller keeps: the live runner opens one per
/// table set and reuses it for every transaction (a flushed batch holds nothing), so its
/// statements' SQL text is built once per set, not once per transaction.
pub fn apply_batch_with(
    tx: &Transaction<'_>,
    batch: &mut dyn ProjectionBatch,
    name: &str,
    generation: u64,
    events: &[&Envelope],
    last_scanned: Option<Position>,
    heartbeat: bool,
) -> Result<Option<Position>, ProjectionError> {
    batch.apply_all(tx, events)?;
    let applied = events.len() as u64;
    batch.flush(tx)?;
    let last_event = events.last().map(|e| e.position);
    let checkpoint = last_event.max(last_scanned);
    if let Some(checkpoint) = checkpoint {
        crate::db::save_checkpoint(tx, name, generation, checkpoint, applied, heartbeat)?;
    }
    Ok(checkpoint)
}

/// Microseconds since the epoch: how read models store instants (exact, sortable, deterministic).
pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The instant back from [`micros`].
pub fn from_micros(m: i64) -> Result<DateTime<Utc>, ProjectionError> {
    DateTime::from_timestamp_micros(m).ok_or(ProjectionError::Corrupt { what: "timestamp", value: m.to_string() })
}
