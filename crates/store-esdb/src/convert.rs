//! Conversions between the store trait's values and the `eventstore` client's.
//!
//! Positions map one to one: EventStoreDB's (commit, prepare) pair is the trait's
//! [`Position`]. Event bodies and metadata travel as bytes, untouched: a body that is one
//! JSON value with nothing around it is sent as JSON (content type `application/json`, so
//! the server's UI and projections can read it); anything else goes as binary.

use packhooks_store::{EventData, ExpectedRevision, Position, RecordedEvent};

pub(crate) fn to_client_position(position: Position) -> eventstore::Position {
    eventstore::Position { commit: position.commit, prepare: position.prepare }
}

pub(crate) fn from_client_position(position: eventstore::Position) -> Position {
    Position { commit: position.commit, prepare: position.prepare }
}

pub(crate) fn to_client_expected(expected: ExpectedRevision) -> eventstore::ExpectedRevision {
    match expected {
        ExpectedRevision::Any => eventstore::ExpectedRevision::Any,
        ExpectedRevision::NoStream => eventstore::ExpectedRevision::NoStream,
        ExpectedRevision::StreamExists => eventstore::ExpectedRevision::StreamExists,
        ExpectedRevision::Exact(revision) => eventstore::ExpectedRevision::Exact(revision),
    }
}

/// The event as the client sends it, with its id (the server's idempotency key).
pub(crate) fn to_client_event(event: EventData) -> eventstore::EventData {
    let is_plain_json = serde_json::from_slice::<&serde_json::value::RawValue>(&event.data)
        .is_ok_and(|raw| raw.get().len() == event.data.len());
    let sent = if is_plain_json {
        let raw = serde_json::from_slice::<&serde_json::value::RawValue>(&event.data).expect("checked above");
        eventstore::EventData::json(&event.event_type, &raw).expect("a raw JSON value serialises as itself")
    } else {
        eventstore::EventData::binary(&event.event_type, event.data.clone())
    };
    sent.id(event.id).metadata(event.metadata)
}

/// The recorded event of a read or subscription answer (the link's target if it is a link).
pub(crate) fn from_client_event(resolved: &eventstore::ResolvedEvent) -> RecordedEvent {
    let event = resolved.get_original_event();
    RecordedEvent {
        id: event.id,
        stream: event.stream_id.clone(),
        revision: event.revision,
        position: from_client_position(event.position),
        event_type: event.event_type.clone(),
        data: event.data.clone(),
        metadata: event.custom_metadata.clone(),
        created: event.created,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn positions_round_trip() {
        let position = Position { commit: 1_234_567, prepare: 1_234_500 };
        assert_eq!(from_client_position(to_client_position(position)), position);
    }

    #[test]
    fn json_bodies_go_as_json_and_keep_their_bytes() {
        // The client keeps its wire form private; its Debug output shows the content type.
        let json = to_client_event(EventData::json(Uuid::new_v4(), "T", r#"{"a":1}"#, "{}"));
        assert!(format!("{json:?}").contains("application/json"), "{json:?}");
        let spaced = to_client_event(EventData::json(Uuid::new_v4(), "T", r#" {"a":1} "#, "{}"));
        assert!(format!("{spaced:?}").contains("application/octet-stream"), "{spaced:?}");
    }
}
