//! The one command path of packhooks: every command (the API's, and the automatic disable
//! of a webhook's actor) is read, decided and appended here, and nowhere else.
//!
//! [`run`] reads the command's stream to its end and folds nothing itself: the caller's
//! `decide` gets the stream's events and returns the events to append (a domain error
//! refuses the command). The decided events are appended with the exact revision that was
//! read, so a concurrent writer makes the append fail rather than interleave; the command is
//! then read, decided and appended again, a few times at most ([`CONFLICT_RETRIES`]), before
//! the conflict is given to the caller. Commands that decide on nothing stored
//! ([`Command::append_only`], submissions) append at any revision without reading.
//!
//! With a [`Key`] (an `Idempotency-Key`):
//!
//! - before deciding, the stream is searched for the key's first event; if it is there, the
//!   command was carried out already: its events and those before them are handed back
//!   ([`Ran::replayed`]) and nothing is decided or appended; if it is another request's
//!   (another hash), the command is refused ([`CommandError::KeyReused`]);
//! - otherwise the decided events get the key's ids and the request's hash, and are read back
//!   after the append: a twin request that won a race (the store appends an id once) answers
//!   with the stored events, a rotated secret is the stored one and not the one this request
//!   drew.
//!
//! A command that decides no events (an enable of an enabled webhook, the plan it already has)
//! stores nothing, so nothing records its key: a retry is decided again, which answers the same
//! unless the target changed in between.

mod key;

use packhooks_domain::events::DecodeError;
use packhooks_domain::{CommandMetadata, DomainError, DomainEvent, EventMetadata, Issuer};
use packhooks_store::{
    AppendResult, Direction, EventData, EventStore, ExpectedRevision, RecordedEvent, StoreError, StreamPosition,
};
use uuid::Uuid;

pub use key::{request_hash, Key};

/// How often a command is decided again after its append met a concurrent writer.
pub const CONFLICT_RETRIES: usize = 5;

/// How many events one stream read fetches.
const READ_BATCH: usize = 1024;

/// Why a command was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The domain refused the command.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The store failed, or the stream kept changing under the command (a
    /// [`StoreError::WrongExpectedVersion`] after every retry).
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("event {revision} of {stream} cannot be read")]
    Decode {
        stream: String,
        revision: u64,
        #[source]
        source: DecodeError,
    },
    /// The key's events are another request's.
    #[error("this idempotency key was already used for a different request")]
    KeyReused,
    #[error("the events appended to {stream} are not where the store said")]
    Misplaced { stream: String },
}

/// One command on one stream: where it goes, how it is keyed, and what its events' metadata
/// says.
#[derive(Clone, Debug)]
pub struct Command<'a> {
    stream: &'a str,
    /// The stream is read and the append expects its revision (else: no read, any revision).
    read: bool,
    key: Option<&'a Key>,
    correlation: Option<String>,
    issued_by: Option<Issuer>,
}

impl<'a> Command<'a> {
    /// A command decided on `stream`'s events.
    pub fn on(stream: &'a str) -> Self {
        Command { stream, read: true, key: None, correlation: None, issued_by: None }
    }

    /// A command decided on nothing stored (a submission): appended at any revision, and its
    /// key checked only by reading back what was appended.
    pub fn append_only(stream: &'a str) -> Self {
        Command { read: false, ..Command::on(stream) }
    }

    pub fn keyed(mut self, key: Option<&'a Key>) -> Self {
        self.key = key;
        self
    }

    /// The events' correlation and causation id; without one, a `cmd_…` id of the command.
    pub fn correlated(mut self, id: impl ToString) -> Self {
        self.correlation = Some(id.to_string());
        self
    }

    pub fn issued_by(mut self, issuer: Option<Issuer>) -> Self {
        self.issued_by = issuer;
        self
    }

    pub fn stream(&self) -> &str {
        self.stream
    }

    /// The stored form of the decided events.
    fn event_data(&self, decided: &[DomainEvent]) -> Vec<EventData> {
        let ids: Vec<Uuid> = match self.key {
            Some(key) => (0..decided.len()).map(|i| key.event_id(self.stream, i)).collect(),
            None => decided.iter().map(|_| Uuid::now_v7()).collect(),
        };
        let correlation = self.correlation.clone().unwrap_or_else(|| {
            let id = if self.key.is_some() { ids[0] } else { Uuid::now_v7() };
            format!("cmd_{}", id.simple())
        });
        let metadata = CommandMetadata {
            base: EventMetadata::correlated(correlation),
            request_hash: self.key.map(|k| k.hash().to_owned()),
            issued_by: self.issued_by.clone(),
        }
        .to_bytes();
        decided
            .iter()
            .zip(ids)
            .map(|(event, id)| EventData::json(id, event.event_type(), event.to_json(), metadata.clone()))
            .collect()
    }
}

/// What a command came to.
#[derive(Debug, Default)]
pub struct Ran {
    /// The stream's events before the command's own (none for an append-only command).
    pub before: Vec<DomainEvent>,
    /// The command's events as stored (none for a command that changed nothing).
    pub own: Vec<DomainEvent>,
    /// A keyed command found carried out already: `own` are its first request's events.
    pub replayed: bool,
    /// Where this request's append put the events (`None` when nothing was appended now).
    pub appended: Option<AppendResult>,
}

impl Ran {
    /// Every event up to the command's last one, in order.
    pub fn events(&self) -> impl Iterator<Item = &DomainEvent> {
        self.before.iter().chain(&self.own)
    }
}

/// Runs `command`: read, `decide`, append with the expected revision, idempotency when keyed,
/// retry on conflict (see the crate's header).
pub async fn run<E, F>(store: &dyn EventStore, command: &Command<'_>, mut decide: F) -> Result<Ran, E>
where
    E: From<CommandError>,
    F: FnMut(&[DomainEvent]) -> Result<Vec<DomainEvent>, E>,
{
    let mut conflicts = 0;
    loop {
        let (before, expected) = if command.read {
            let read = Read::stream(store, command.stream, command.key.is_some()).await?;
            if let Some(key) = command.key {
                if let Some(ran) = read.replay(command.stream, key)? {
                    return Ok(ran);
                }
            }
            (read.events, read.expected)
        } else {
            (Vec::new(), ExpectedRevision::Any)
        };
        let decided = decide(&before)?;
        if decided.is_empty() {
            return Ok(Ran { before, ..Ran::default() });
        }
        let appended = match store.append(command.stream, expected, command.event_data(&decided)).await {
            Ok(appended) => appended,
            Err(StoreError::WrongExpectedVersion { .. }) if conflicts < CONFLICT_RETRIES => {
                conflicts += 1;
                continue;
            }
            Err(e) => return Err(CommandError::Store(e).into()),
        };
        let own = match command.key {
            Some(key) => read_back(store, command.stream, key, &decided, &appended).await?,
            None => decided,
        };
        return Ok(Ran { before, own, replayed: false, appended: Some(appended) });
    }
}

/// Whether `stream` holds an event of `key` (whatever the request): a key is scoped to its
/// target, so routes that share one (an account's plan change and its webhook creates) refuse
/// a key the other used.
pub async fn holds_key(store: &dyn EventStore, stream: &str, key: &Key) -> Result<bool, CommandError> {
    let first = key.event_id(stream, 0);
    Ok(read_to_end(store, stream).await?.iter().any(|r| r.id == first))
}

/// Every event of `stream`, decoded, oldest first (a read, not a command: nothing is appended).
pub async fn read_events(store: &dyn EventStore, stream: &str) -> Result<Vec<DomainEvent>, CommandError> {
    read_to_end(store, stream).await?.iter().map(decode).collect()
}

/// Every event of `stream`, oldest first; a stream that does not exist has none.
pub async fn read_to_end(store: &dyn EventStore, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut recorded: Vec<RecordedEvent> = Vec::new();
    loop {
        let from = recorded.last().map_or(StreamPosition::Start, |r| StreamPosition::Revision(r.revision + 1));
        let batch = match store.read_stream(stream, from, Direction::Forwards, READ_BATCH).await {
            Ok(batch) => batch,
            Err(StoreError::StreamNotFound(_)) if recorded.is_empty() => break,
            Err(e) => return Err(e),
        };
        let full = batch.len() == READ_BATCH;
        recorded.extend(batch);
        if !full {
            break;
        }
    }
    Ok(recorded)
}

/// A stream as a command reads it.
struct Read {
    /// The stored events, kept only for a keyed command (their ids and metadata).
    recorded: Vec<RecordedEvent>,
    events: Vec<DomainEvent>,
    expected: ExpectedRevision,
}

impl Read {
    async fn stream(store: &dyn EventStore, stream: &str, keep: bool) -> Result<Read, CommandError> {
        let recorded = read_to_end(store, stream).await?;
        let events = recorded.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        let expected = recorded.last().map_or(ExpectedRevision::NoStream, |r| ExpectedRevision::Exact(r.revision));
        Ok(Read { recorded: if keep { recorded } else { Vec::new() }, events, expected })
    }

    /// The key's events and those before them, if the stream holds them.
    fn replay(&self, stream: &str, key: &Key) -> Result<Option<Ran>, CommandError> {
        let first = key.event_id(stream, 0);
        let Some(at) = self.recorded.iter().position(|r| r.id == first) else {
            return Ok(None);
        };
        if !key.same_request(&self.recorded[at], None) {
            return Err(CommandError::KeyReused);
        }
        let count =
            self.recorded[at..].iter().enumerate().take_while(|(i, r)| r.id == key.event_id(stream, *i)).count();
        Ok(Some(Ran {
            before: self.events[..at].to_vec(),
            own: self.events[at..at + count].to_vec(),
            replayed: true,
            appended: None,
        }))
    }
}

/// The keyed events as stored, read back from where the append said they are.
async fn read_back(
    store: &dyn EventStore,
    stream: &str,
    key: &Key,
    decided: &[DomainEvent],
    appended: &AppendResult,
) -> Result<Vec<DomainEvent>, CommandError> {
    let misplaced = || CommandError::Misplaced { stream: stream.to_owned() };
    let count = decided.len();
    let from = (appended.next_expected_revision + 1).checked_sub(count as u64).ok_or_else(misplaced)?;
    let stored = store.read_stream(stream, StreamPosition::Revision(from), Direction::Forwards, count).await?;
    let ours = stored.len() == count && stored.iter().enumerate().all(|(i, r)| r.id == key.event_id(stream, i));
    if !ours {
        return Err(misplaced());
    }
    if !key.same_request(&stored[0], Some(decided[0].event_type())) {
        return Err(CommandError::KeyReused);
    }
    stored.iter().map(decode).collect()
}

fn decode(recorded: &RecordedEvent) -> Result<DomainEvent, CommandError> {
    DomainEvent::decode(&recorded.event_type, &recorded.data).map_err(|source| CommandError::Decode {
        stream: recorded.stream.clone(),
        revision: recorded.revision,
        source,
    })
}
