//! Projection status: each projection's active and building table sets, checkpoints, and
//! lag behind the head of `$all` (events still to apply, and how old the oldest is).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use packhooks_store::{AllPosition, Direction, EventStore, Position};
use serde::Serialize;

use crate::db::{self, SetState, TableSet};
use crate::projection::Projection;
use crate::runner::{Board, LiveState};
use crate::ProjectionError;

/// Lag counts matching events after the checkpoint up to this many; beyond, it says "at least".
const LAG_SCAN: usize = 10_000;

/// A table set, as status views show it.
#[derive(Clone, Debug, Serialize)]
pub struct SetStatus {
    pub generation: u64,
    pub version: u32,
    pub checkpoint: Option<String>,
    pub events_applied: u64,
    /// For a set being built: the head when its rebuild started.
    pub target: Option<u64>,
    /// When the set last recorded progress (RFC 3339 UTC with `Z`); `null` if the stored time
    /// cannot be read.
    pub heartbeat_at: Option<DateTime<Utc>>,
}

impl From<&TableSet> for SetStatus {
    fn from(s: &TableSet) -> Self {
        SetStatus {
            generation: s.generation,
            version: s.version,
            checkpoint: s.checkpoint.map(|c| c.to_string()),
            events_applied: s.events_applied,
            target: s.target,
            // Sets written before times were stored with `Z` hold `+00:00`: the same instant.
            heartbeat_at: DateTime::parse_from_rfc3339(&s.heartbeat_at).ok().map(|t| t.with_timezone(&Utc)),
        }
    }
}

/// How far behind the head a projection's active set is.
#[derive(Clone, Debug, Serialize)]
pub struct Lag {
    /// Events of this projection's streams after its checkpoint (counted up to 10,000).
    pub events: u64,
    /// True when there are more than `events`.
    pub at_least: bool,
    /// Age of the oldest of those events (0 when there is none).
    pub seconds: f64,
}

/// One projection's status.
#[derive(Clone, Debug, Serialize)]
pub struct ProjectionStatus {
    pub name: String,
    /// The version of this build's code.
    pub code_version: u32,
    pub active: Option<SetStatus>,
    pub building: Option<SetStatus>,
    pub head: Option<String>,
    pub lag: Option<Lag>,
    /// The live runner in this process, when there is one.
    pub live: Option<LiveState>,
}

/// The status of `projections`, reading the read-model database at `db_path`.
pub async fn status(
    store: &Arc<dyn EventStore>,
    db_path: &std::path::Path,
    projections: &[Arc<dyn Projection>],
    board: Option<&Board>,
) -> Result<Vec<ProjectionStatus>, ProjectionError> {
    let path = db_path.to_owned();
    let sets = tokio::task::spawn_blocking(move || db::all_sets(&db::open(&path)?)).await??;
    let head = store.head().await?;
    let mut out = Vec::new();
    for p in projections {
        let mine = |state| sets.iter().rfind(|s| s.name == p.name() && s.state == state);
        let active = mine(SetState::Active);
        let lag = match active {
            Some(set) => Some(lag(store.as_ref(), p.as_ref(), set.checkpoint).await?),
            None => None,
        };
        out.push(ProjectionStatus {
            name: p.name().to_owned(),
            code_version: p.version(),
            active: active.map(SetStatus::from),
            building: mine(SetState::Building).map(SetStatus::from),
            head: head.map(|h| h.to_string()),
            lag,
            live: board.and_then(|b| b.lock().get(p.name()).cloned()),
        });
    }
    Ok(out)
}

async fn lag(store: &dyn EventStore, p: &dyn Projection, checkpoint: Option<Position>) -> Result<Lag, ProjectionError> {
    let filter = p.filter();
    let mut from = checkpoint.map(AllPosition::Position).unwrap_or(AllPosition::Start);
    let mut last = checkpoint;
    let mut events = 0u64;
    let mut oldest = None;
    let mut scanned = 0usize;
    const PAGE: usize = 1000;
    loop {
        let page = store.read_all(from, Direction::Forwards, PAGE).await?;
        let full = page.len() == PAGE;
        for e in page.iter().filter(|e| Some(e.position) > last) {
            scanned += 1;
            if filter.matches(e) {
                events += 1;
                oldest = oldest.or(Some(e.created));
            }
        }
        match page.last() {
            Some(e) if full && scanned < LAG_SCAN => {
                last = Some(e.position);
                from = AllPosition::Position(e.position);
            }
            _ => {
                return Ok(Lag {
                    events,
                    at_least: full,
                    seconds: oldest.map(|t| (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0).unwrap_or(0.0),
                })
            }
        }
    }
}
