//! The `Streams` service: Append, Read (reads and `$all` subscriptions), Delete, Tombstone.
//!
//! Answers take the forms the client decodes:
//! - append conflicts are an `AppendResp` with the newer wrong-expected-version fields;
//! - delete and tombstone conflicts are FAILED_PRECONDITION with the server's message
//!   (`Delete failed due to WrongExpectedVersion. Stream: s, Expected version: e, Actual
//!   version: a`) and `exception: wrong-expected-version`;
//! - a tombstoned stream is any status with the trailer `exception: stream-deleted`;
//! - a missing stream on a read is a `stream_not_found` answer;
//! - a store that is closed or unreachable is UNAVAILABLE (the client calls it a server
//!   error and reconnects).

// tonic's `Status` is the service's error type; boxing it would only add conversions.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use packhooks_store::{
    AllPosition, Direction, EventData, EventStore, ExpectedRevision, Position, RecordedEvent, StoreError,
    StreamPosition, StreamState, SubscribeFrom, SubscriptionEvent, SubscriptionFilter,
};
use tokio::sync::{mpsc, watch};
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use super::proto::streams::streams_server::Streams;
use super::proto::streams::{
    append_req, append_resp, delete_req, delete_resp, read_req, read_resp, tombstone_resp, AppendReq, AppendResp,
    DeleteReq, DeleteResp, ReadReq, ReadResp, TombstoneReq, TombstoneResp,
};
use super::log::{deleted_metadata, first_at_or_after, last_at_or_before, ServerLog};
use super::proto::{uuid, Empty, StreamIdentifier, Uuid};

/// Answers buffered per subscription before the feeder waits for the client.
const SUBSCRIPTION_BUFFER: usize = 256;

type ReadAnswer = Pin<Box<dyn Stream<Item = Result<ReadResp, Status>> + Send>>;

pub(super) struct StreamsService {
    store: Arc<dyn EventStore>,
    /// Turns true when the server stops: subscriptions end with UNAVAILABLE.
    stopping: watch::Receiver<bool>,
    /// Positions, system events and the idempotency cache of a real server.
    log: Arc<ServerLog>,
    /// The first event ids of the appends answered with a timeout (see
    /// [`Quirks::appends_time_out`]): their retries are answered normally.
    timed_out: parking_lot::Mutex<std::collections::HashSet<::uuid::Uuid>>,
}

impl StreamsService {
    pub(super) fn new(store: Arc<dyn EventStore>, stopping: watch::Receiver<bool>, log: ServerLog) -> Self {
        StreamsService { store, stopping, log: Arc::new(log), timed_out: Default::default() }
    }

    /// A recorded event as this server sends it (at its served position).
    fn answer(&self, event: &RecordedEvent, uuids: UuidForm) -> ReadResp {
        event_answer(event, self.log.served(event.position), uuids)
    }

    /// Counts a client's write, and writes the periodic statistics event when it is due.
    async fn wrote(&self) {
        if self.log.stats_due() {
            let (stream, event) = self.log.stats_event();
            if let Err(error) = self.store.append(&stream, ExpectedRevision::Any, vec![event]).await {
                tracing::warn!(%error, "the wire test server could not write its statistics event");
            }
        }
    }

    /// Writes the `$metadata` event of a delete or tombstone; its position is the answer's.
    async fn deleted(&self, stream: &str) -> Result<delete_resp::Position, Status> {
        let (metastream, event) = deleted_metadata(stream);
        let written =
            self.store.append(&metastream, ExpectedRevision::Any, vec![event]).await.map_err(|e| store_status(&metastream, e))?;
        self.wrote().await;
        let position = {
            let _settled = self.log.settled().await;
            self.log.served(written.position)
        };
        Ok(delete_resp::Position { commit_position: position.commit, prepare_position: position.prepare })
    }
}

#[tonic::async_trait]
impl Streams for StreamsService {
    type ReadStream = ReadAnswer;

    async fn read(&self, request: Request<ReadReq>) -> Result<Response<ReadAnswer>, Status> {
        use read_req::options::{CountOption, StreamOption};
        let options = request.into_inner().options.ok_or_else(|| Status::invalid_argument("read without options"))?;
        let uuids = UuidForm::of(&options);
        let direction = if options.read_direction == read_req::options::ReadDirection::Backwards as i32 {
            Direction::Backwards
        } else {
            Direction::Forwards
        };
        let filter = filter_of(options.filter_option)?;
        match (options.stream_option, options.count_option) {
            (Some(StreamOption::All(all)), Some(CountOption::Subscription(_))) => {
                // A subscription from a position starts after it (a read includes it).
                let from = match all_position(all) {
                    AllPosition::Start => SubscribeFrom::Start,
                    AllPosition::End => SubscribeFrom::End,
                    AllPosition::Position(position) => SubscribeFrom::After(last_at_or_before(position)),
                };
                self.subscribe(from, filter, uuids).await
            }
            (_, Some(CountOption::Subscription(_))) => {
                Err(Status::unimplemented("the wire test server has no stream subscriptions"))
            }
            (_, _) if filter.is_some() => Err(Status::unimplemented("the wire test server has no filtered reads")),
            (Some(StreamOption::Stream(options_of_stream)), Some(CountOption::Count(count))) => {
                let stream = stream_name(options_of_stream.stream_identifier)?;
                let from = match options_of_stream.revision_option {
                    Some(read_req::options::stream_options::RevisionOption::Revision(r)) => StreamPosition::Revision(r),
                    Some(read_req::options::stream_options::RevisionOption::End(_)) => StreamPosition::End,
                    Some(read_req::options::stream_options::RevisionOption::Start(_)) | None => StreamPosition::Start,
                };
                let answers = match self.store.read_stream(&stream, from, direction, to_count(count)).await {
                    Ok(events) => {
                        let _settled = self.log.settled().await;
                        events.iter().map(|e| self.answer(e, uuids)).collect()
                    }
                    Err(StoreError::StreamNotFound(_)) => vec![ReadResp {
                        content: Some(read_resp::Content::StreamNotFound(read_resp::StreamNotFound {
                            stream_identifier: Some(identifier(&stream)),
                        })),
                    }],
                    Err(error) => return Err(store_status(&stream, error)),
                };
                Ok(Response::new(futures::stream::iter(answers.into_iter().map(Ok)).boxed()))
            }
            (Some(StreamOption::All(all)), Some(CountOption::Count(count))) => {
                // The store's backwards reads exclude their start too: both directions start
                // at the first event at or after the client's position.
                let from = match all_position(all) {
                    AllPosition::Position(position) => AllPosition::Position(first_at_or_after(position)),
                    other => other,
                };
                let events =
                    self.store.read_all(from, direction, to_count(count)).await.map_err(|e| store_status("$all", e))?;
                let _settled = self.log.settled().await;
                let answers: Vec<_> = events.iter().map(|e| Ok(self.answer(e, uuids))).collect();
                Ok(Response::new(futures::stream::iter(answers).boxed()))
            }
            _ => Err(Status::invalid_argument("a read names a stream or $all, and a count or a subscription")),
        }
    }

    async fn append(&self, request: Request<Streaming<AppendReq>>) -> Result<Response<AppendResp>, Status> {
        let mut messages = request.into_inner();
        let options = match messages.message().await?.and_then(|m| m.content) {
            Some(append_req::Content::Options(options)) => options,
            _ => return Err(Status::invalid_argument("an append starts with its options")),
        };
        let stream = stream_name(options.stream_identifier)?;
        let expected = match options.expected_stream_revision {
            Some(append_req::options::ExpectedStreamRevision::Revision(r)) => ExpectedRevision::Exact(r),
            Some(append_req::options::ExpectedStreamRevision::NoStream(_)) => ExpectedRevision::NoStream,
            Some(append_req::options::ExpectedStreamRevision::StreamExists(_)) => ExpectedRevision::StreamExists,
            Some(append_req::options::ExpectedStreamRevision::Any(_)) | None => ExpectedRevision::Any,
        };
        let mut events = Vec::new();
        while let Some(message) = messages.message().await? {
            match message.content {
                Some(append_req::Content::ProposedMessage(proposed)) => events.push(proposed_event(proposed)?),
                _ => return Err(Status::invalid_argument("after the options, an append sends only events")),
            }
        }
        self.log.forget_if_evicted(expected, &mut events);
        let ids: Vec<_> = events.iter().map(|e| e.id).collect();
        let quirks = self.log.quirks();
        let appending = self.log.appending(ids.len()).await;
        let appended = self.store.append(&stream, expected, events).await;
        if let Ok(written) = &appended {
            self.log.appended(written.position, ids.len());
            drop(appending);
            self.log.remember(&ids);
            self.wrote().await;
        }
        let result = match appended {
            Ok(_) if quirks.appends_time_out && ids.first().is_some_and(|id| self.timed_out.lock().insert(*id)) => {
                return Err(Status::aborted("Operation timed out"));
            }
            Ok(written) => append_resp::Result::Success(append_resp::Success {
                current_revision_option: Some(append_resp::success::CurrentRevisionOption::CurrentRevision(
                    written.next_expected_revision,
                )),
                position_option: Some(if quirks.appends_without_position {
                    append_resp::success::PositionOption::NoPosition(Empty {})
                } else {
                    // Its own extent is recorded already: no wait needed.
                    let position = self.log.served(written.position);
                    append_resp::success::PositionOption::Position(append_resp::Position {
                        commit_position: position.commit,
                        prepare_position: position.prepare,
                    })
                }),
            }),
            Err(StoreError::WrongExpectedVersion { expected, actual, .. }) => {
                use append_resp::wrong_expected_version::{CurrentRevisionOption, ExpectedRevisionOption};
                append_resp::Result::WrongExpectedVersion(append_resp::WrongExpectedVersion {
                    current_revision_option: Some(match actual {
                        StreamState::NoStream => CurrentRevisionOption::CurrentNoStream(Empty {}),
                        StreamState::Revision(r) => CurrentRevisionOption::CurrentRevision(r),
                    }),
                    expected_revision_option: Some(match expected {
                        ExpectedRevision::Any => ExpectedRevisionOption::ExpectedAny(Empty {}),
                        ExpectedRevision::NoStream => ExpectedRevisionOption::ExpectedNoStream(Empty {}),
                        ExpectedRevision::StreamExists => ExpectedRevisionOption::ExpectedStreamExists(Empty {}),
                        ExpectedRevision::Exact(r) => ExpectedRevisionOption::ExpectedRevision(r),
                    }),
                })
            }
            Err(error) => return Err(store_status(&stream, error)),
        };
        Ok(Response::new(AppendResp { result: Some(result) }))
    }

    async fn delete(&self, request: Request<DeleteReq>) -> Result<Response<DeleteResp>, Status> {
        let (stream, expected) = delete_options(request.into_inner().options)?;
        self.store.delete_stream(&stream, expected).await.map_err(|e| delete_status(&stream, e))?;
        let position = self.deleted(&stream).await?;
        Ok(Response::new(DeleteResp { position_option: Some(delete_resp::PositionOption::Position(position)) }))
    }

    async fn tombstone(&self, request: Request<TombstoneReq>) -> Result<Response<TombstoneResp>, Status> {
        let (stream, expected) = delete_options(request.into_inner().options)?;
        self.store.tombstone_stream(&stream, expected).await.map_err(|e| delete_status(&stream, e))?;
        let position = self.deleted(&stream).await?;
        Ok(Response::new(TombstoneResp { position_option: Some(tombstone_resp::PositionOption::Position(position)) }))
    }
}

impl StreamsService {
    /// A catch-up subscription to `$all`: a confirmation, then the store's subscription
    /// forwarded by a feeder task. When the store drops a slow subscriber, the client is
    /// told it fell behind and the feeder resubscribes after the last position sent, as
    /// the real server catches up again.
    async fn subscribe(
        &self,
        from: SubscribeFrom,
        filter: Option<SubscriptionFilter>,
        uuids: UuidForm,
    ) -> Result<Response<ReadAnswer>, Status> {
        let mut subscription =
            self.store.subscribe_to_all(from, filter.clone()).await.map_err(|e| store_status("$all", e))?;
        let (sender, receiver) = mpsc::channel(SUBSCRIPTION_BUFFER);
        let confirmation = read_resp::Content::Confirmation(read_resp::SubscriptionConfirmation {
            subscription_id: ::uuid::Uuid::new_v4().to_string(),
        });
        sender.send(Ok(ReadResp { content: Some(confirmation) })).await.ok();
        let store = Arc::clone(&self.store);
        let log = Arc::clone(&self.log);
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            let mut last: Option<Position> = None;
            loop {
                let item = tokio::select! {
                    _ = sender.closed() => return,
                    _ = async { stopping.wait_for(|stop| *stop).await.is_ok() } => {
                        sender.send(Err(Status::unavailable("the server is stopping"))).await.ok();
                        return;
                    }
                    item = subscription.next() => item,
                };
                let settled = log.settled().await;
                let content = match item {
                    None => return,
                    Some(Ok(SubscriptionEvent::Event(event))) => {
                        last = Some(event.position);
                        event_answer(&event, log.served(event.position), uuids).content
                    }
                    Some(Ok(SubscriptionEvent::Checkpoint(position))) => {
                        last = Some(position);
                        let served = log.served(position);
                        Some(read_resp::Content::Checkpoint(read_resp::Checkpoint {
                            commit_position: served.commit,
                            prepare_position: served.prepare,
                        }))
                    }
                    Some(Ok(SubscriptionEvent::CaughtUp)) => Some(read_resp::Content::CaughtUp(read_resp::CaughtUp {})),
                    Some(Err(StoreError::FellBehind)) => {
                        let resume = last.map_or(from, SubscribeFrom::After);
                        match store.subscribe_to_all(resume, filter.clone()).await {
                            Ok(again) => subscription = again,
                            Err(error) => {
                                sender.send(Err(store_status("$all", error))).await.ok();
                                return;
                            }
                        }
                        Some(read_resp::Content::FellBehind(read_resp::FellBehind {}))
                    }
                    Some(Err(error)) => {
                        sender.send(Err(store_status("$all", error))).await.ok();
                        return;
                    }
                };
                // Not held while the client is slow to read: appends would wait for it.
                drop(settled);
                if sender.send(Ok(ReadResp { content })).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(receiver).boxed()))
    }
}

/// How the client asked for event ids (it asks for strings; both forms are served).
#[derive(Clone, Copy)]
enum UuidForm {
    Structured,
    String,
}

impl UuidForm {
    fn of(options: &read_req::Options) -> UuidForm {
        match options.uuid_option.as_ref().and_then(|o| o.content.as_ref()) {
            Some(read_req::options::uuid_option::Content::Structured(_)) => UuidForm::Structured,
            _ => UuidForm::String,
        }
    }

    fn encode(self, id: ::uuid::Uuid) -> Uuid {
        let value = match self {
            UuidForm::String => uuid::Value::String(id.to_string()),
            UuidForm::Structured => {
                let bits = id.as_u128();
                uuid::Value::Structured(uuid::Structured {
                    most_significant_bits: (bits >> 64) as u64 as i64,
                    least_significant_bits: bits as u64 as i64,
                })
            }
        };
        Uuid { value: Some(value) }
    }
}

fn decode_uuid(id: Option<Uuid>) -> Result<::uuid::Uuid, Status> {
    match id.and_then(|id| id.value) {
        Some(uuid::Value::String(s)) => s.parse().map_err(|_| Status::invalid_argument("an event id is not a UUID")),
        Some(uuid::Value::Structured(s)) => Ok(::uuid::Uuid::from_u128(
            (u128::from(s.most_significant_bits as u64) << 64) | u128::from(s.least_significant_bits as u64),
        )),
        None => Err(Status::invalid_argument("an event needs an id")),
    }
}

/// Only prefix filters: the client's regex filters are not served.
fn filter_of(option: Option<read_req::options::FilterOption>) -> Result<Option<SubscriptionFilter>, Status> {
    use read_req::options::filter_options::Filter;
    let Some(read_req::options::FilterOption::Filter(filter)) = option else { return Ok(None) };
    let (expression, by_stream) = match filter.filter {
        Some(Filter::StreamIdentifier(e)) => (e, true),
        Some(Filter::EventType(e)) => (e, false),
        None => return Ok(None),
    };
    if !expression.regex.is_empty() {
        return Err(Status::unimplemented("the wire test server serves prefix filters only"));
    }
    Ok(Some(if by_stream {
        SubscriptionFilter::StreamPrefix(expression.prefix)
    } else {
        SubscriptionFilter::EventTypePrefix(expression.prefix)
    }))
}

/// Where an `$all` read or subscription points.
fn all_position(options: read_req::options::AllOptions) -> AllPosition {
    use read_req::options::all_options::AllOption;
    match options.all_option {
        Some(AllOption::Position(p)) => {
            AllPosition::Position(Position { commit: p.commit_position, prepare: p.prepare_position })
        }
        Some(AllOption::End(_)) => AllPosition::End,
        Some(AllOption::Start(_)) | None => AllPosition::Start,
    }
}

fn to_count(count: u64) -> usize {
    usize::try_from(count).unwrap_or(usize::MAX)
}

fn identifier(stream: &str) -> StreamIdentifier {
    StreamIdentifier { stream_name: Bytes::copy_from_slice(stream.as_bytes()).into() }
}

fn stream_name(identifier: Option<StreamIdentifier>) -> Result<String, Status> {
    let identifier = identifier.ok_or_else(|| Status::invalid_argument("no stream named"))?;
    String::from_utf8(identifier.stream_name.to_vec()).map_err(|_| Status::invalid_argument("a stream name is UTF-8"))
}

fn proposed_event(proposed: append_req::ProposedMessage) -> Result<EventData, Status> {
    let id = decode_uuid(proposed.id)?;
    let event_type =
        proposed.metadata.get("type").cloned().ok_or_else(|| Status::invalid_argument("an event needs a type"))?;
    Ok(EventData { id, event_type, data: proposed.data.into(), metadata: proposed.custom_metadata.into() })
}

fn delete_options(options: Option<delete_req::Options>) -> Result<(String, ExpectedRevision), Status> {
    use delete_req::options::ExpectedStreamRevision;
    let options = options.ok_or_else(|| Status::invalid_argument("a delete needs options"))?;
    let expected = match options.expected_stream_revision {
        Some(ExpectedStreamRevision::Revision(r)) => ExpectedRevision::Exact(r),
        Some(ExpectedStreamRevision::NoStream(_)) => ExpectedRevision::NoStream,
        Some(ExpectedStreamRevision::StreamExists(_)) => ExpectedRevision::StreamExists,
        Some(ExpectedStreamRevision::Any(_)) | None => ExpectedRevision::Any,
    };
    Ok((stream_name(options.stream_identifier)?, expected))
}

/// A recorded event as the server sends it: the type, content type and creation time
/// (100-ns ticks since the Unix epoch) in the metadata map; the event's own metadata as
/// custom metadata.
fn event_answer(event: &RecordedEvent, position: Position, uuids: UuidForm) -> ReadResp {
    let ticks = SystemTime::from(event.created)
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() / 100);
    let metadata = HashMap::from([
        ("type".to_owned(), event.event_type.clone()),
        ("content-type".to_owned(), "application/json".to_owned()),
        ("created".to_owned(), ticks.to_string()),
    ]);
    let recorded = read_resp::read_event::RecordedEvent {
        id: Some(uuids.encode(event.id)),
        stream_identifier: Some(identifier(&event.stream)),
        stream_revision: event.revision,
        prepare_position: position.prepare,
        commit_position: position.commit,
        metadata,
        custom_metadata: event.metadata.clone().into(),
        data: event.data.clone().into(),
    };
    ReadResp {
        content: Some(read_resp::Content::Event(read_resp::ReadEvent {
            event: Some(recorded),
            position: Some(read_resp::read_event::Position::CommitPosition(position.commit)),
        })),
    }
}

/// The status a store error becomes on the wire, in the form the client decodes.
fn store_status(stream: &str, error: StoreError) -> Status {
    status_of("Append", stream, error)
}

/// The status a delete's or tombstone's error becomes (a conflict says "Delete failed").
fn delete_status(stream: &str, error: StoreError) -> Status {
    status_of("Delete", stream, error)
}

fn status_of(operation: &str, stream: &str, error: StoreError) -> Status {
    match error {
        StoreError::StreamDeleted(_) => {
            let mut status = Status::failed_precondition(format!("Event stream '{stream}' is deleted."));
            insert(&mut status, "exception", "stream-deleted");
            insert(&mut status, "stream-name", stream);
            status
        }
        StoreError::WrongExpectedVersion { expected, actual, .. } => {
            let expected = match expected {
                ExpectedRevision::Any => -2,
                ExpectedRevision::NoStream => -1,
                ExpectedRevision::StreamExists => -4,
                ExpectedRevision::Exact(r) => r as i64,
            };
            let actual = match actual {
                StreamState::NoStream => -1,
                StreamState::Revision(r) => r as i64,
            };
            let mut status = Status::failed_precondition(format!(
                "{operation} failed due to WrongExpectedVersion. Stream: {stream}, Expected version: {expected}, Actual version: {actual}"
            ));
            insert(&mut status, "exception", "wrong-expected-version");
            insert(&mut status, "stream-name", stream);
            insert(&mut status, "expected-version", &expected.to_string());
            insert(&mut status, "actual-version", &actual.to_string());
            status
        }
        StoreError::StreamNotFound(_) => Status::not_found(format!("Event stream '{stream}' is not found.")),
        StoreError::InvalidArgument(message) => Status::invalid_argument(message),
        StoreError::Closed | StoreError::Unavailable(_) => Status::unavailable(error.to_string()),
        other => Status::internal(other.to_string()),
    }
}

/// Adds a trailer, skipping values that are not valid header text.
fn insert(status: &mut Status, key: &'static str, value: &str) {
    if let Ok(value) = MetadataValue::try_from(value) {
        status.metadata_mut().insert(key, value);
    }
}
