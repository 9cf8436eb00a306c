//! Running a command against one stream: read and fold the stream, decide, append the
//! decided events with the exact expected revision the state was read at. A concurrent writer
//! makes the append fail with a conflict (409), never silently interleave.

use packhooks_domain::{DomainEvent, EventMetadata};
use packhooks_store::{AppendResult, Direction, EventData, EventStore, ExpectedRevision, StoreError, StreamPosition};
use uuid::Uuid;

use crate::ApiError;

/// How many events one stream read fetches.
const READ_BATCH: usize = 1024;

/// A stream's events, decoded, and the expectation that appends after them must carry.
pub struct Loaded {
    pub events: Vec<DomainEvent>,
    pub expected: ExpectedRevision,
}

/// Reads a whole stream; a stream that does not exist is empty with `NoStream` expected.
pub async fn load(store: &dyn EventStore, stream: &str) -> Result<Loaded, ApiError> {
    let mut events = Vec::new();
    let mut last = None;
    loop {
        let from = last.map_or(StreamPosition::Start, |r: u64| StreamPosition::Revision(r + 1));
        let batch = match store.read_stream(stream, from, Direction::Forwards, READ_BATCH).await {
            Ok(batch) => batch,
            Err(StoreError::StreamNotFound(_)) if last.is_none() => break,
            Err(e) => return Err(e.into()),
        };
        for recorded in &batch {
            let event = DomainEvent::decode(&recorded.event_type, &recorded.data).map_err(ApiError::internal)?;
            events.push(event);
            last = Some(recorded.revision);
        }
        if batch.len() < READ_BATCH {
            break;
        }
    }
    let expected = last.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
    Ok(Loaded { events, expected })
}

/// The stored form of a domain event.
pub fn event_data(id: Uuid, event: &DomainEvent, metadata: &EventMetadata) -> EventData {
    EventData::json(
        id,
        event.event_type(),
        event.to_json(),
        serde_json::to_vec(metadata).expect("metadata always serialises"),
    )
}

/// Appends the events one command decided (fresh v7 ids, all correlated with one fresh
/// command id) to `stream`; nothing to append is `Ok(None)`.
pub async fn append(
    store: &dyn EventStore,
    stream: &str,
    expected: ExpectedRevision,
    events: &[DomainEvent],
) -> Result<Option<AppendResult>, ApiError> {
    if events.is_empty() {
        return Ok(None);
    }
    let metadata = EventMetadata::correlated(format!("cmd_{}", Uuid::now_v7().simple()));
    let data = events.iter().map(|e| event_data(Uuid::now_v7(), e, &metadata)).collect();
    Ok(Some(store.append(stream, expected, data).await?))
}
