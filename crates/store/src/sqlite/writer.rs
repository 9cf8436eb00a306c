//! The single writer thread and its group commit.
//!
//! The writer takes every command queued (up to `max_batch`), applies each inside one
//! transaction, commits once, then publishes the committed events to live subscribers and
//! answers the callers. Each command checks its expectation (against the file and what the
//! batch wrote before it) before it writes anything, so a refused command leaves its
//! neighbours' writes intact without the cost of a savepoint. Only a failing write (I/O,
//! disk full) fails the whole batch: it is rolled back and every caller told.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use tokio::sync::{broadcast, mpsc, oneshot};
use uuid::Uuid;

use super::checkpointer::Checkpointer;
use super::reader::{stream_row, StreamRow};
use super::seen_ids::SeenIds;
use super::{schema, LiveBatch, Shared};
use crate::{AppendResult, EventData, ExpectedRevision, Position, RecordedEvent, StoreError, StreamState};

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// What callers ask the writer to do.
pub(crate) enum Command {
    Append { stream: String, expected: ExpectedRevision, events: Vec<EventData>, reply: Reply<AppendResult> },
    Delete { stream: String, expected: ExpectedRevision, tombstone: bool, reply: Reply<Position> },
    Close { reply: Reply<()> },
}

/// An answer held back until the batch's commit is known.
enum Answer {
    Append(Reply<AppendResult>, Result<AppendResult, StoreError>),
    Delete(Reply<Position>, Result<Position, StoreError>),
}

impl Answer {
    /// Sends the command's own result, or the batch's failure in its place. A refusal is
    /// replaced too: it may have been decided against the batch's own writes (a conflict
    /// with a revision, or a tombstone, that was rolled back), and a retry finds out anew.
    fn send(self, batch_failure: Option<&Arc<rusqlite::Error>>) {
        fn deliver<T>(reply: Reply<T>, result: Result<T, StoreError>, failure: Option<&Arc<rusqlite::Error>>) {
            let result = match failure {
                Some(error) => Err(commit_failed(error)),
                None => result,
            };
            // The caller may have stopped waiting; the outcome stands either way.
            let _ = reply.send(result);
        }
        match self {
            Answer::Append(reply, result) => deliver(reply, result, batch_failure),
            Answer::Delete(reply, result) => deliver(reply, result, batch_failure),
        }
    }
}

impl Command {
    /// Answers the command with an error, without running it.
    fn fail(self, error: StoreError) {
        match self {
            Command::Append { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Command::Delete { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Command::Close { reply } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

fn commit_failed(error: &Arc<rusqlite::Error>) -> StoreError {
    StoreError::Backend(Box::new(CommitFailed(error.clone())))
}

/// The transaction as a whole failed; every command in it is answered with this.
#[derive(Debug, thiserror::Error)]
#[error("the group commit failed; nothing of this batch was written")]
pub(crate) struct CommitFailed(#[source] Arc<rusqlite::Error>);

pub(crate) struct Writer {
    conn: Connection,
    /// Told how much WAL each commit wrote; checkpoints beside this thread.
    checkpointer: Checkpointer,
    /// Counts transactions, to tell which streams the open one has written to.
    transaction: u64,
    /// Position of the last event written in the current transaction (or committed).
    head: u64,
    max_batch: usize,
    live: broadcast::Sender<LiveBatch>,
    shared: Arc<Shared>,
    /// Stream states as of the open transaction, so an append need not ask the file. Only
    /// this thread writes, so it stays true; it is dropped whole when a commit fails, and
    /// when it grows past [`STREAM_CACHE_LIMIT`].
    streams: HashMap<String, Known>,
    /// Streams the open transaction wrote to (each dirties at least one index page).
    streams_written: u64,
    /// Every event id written (maybe more): lets `Any` appends of new ids skip the search.
    seen: SeenIds,
    /// Set when a write failed inside the open transaction: it must not commit.
    poisoned: Option<Arc<rusqlite::Error>>,
}

/// Streams whose state the writer remembers before it starts over.
const STREAM_CACHE_LIMIT: usize = 100_000;

/// A stream's state as the writer knows it.
#[derive(Clone, Copy)]
struct Known {
    row: StreamRow,
    /// The last transaction that wrote to the stream.
    written_in: u64,
}

/// SQLite's page size (the default, which the schema keeps).
const PAGE_BYTES: u64 = 4096;

/// What an expectation check decided.
enum Decision {
    /// Write the events from this revision on.
    Write(u64),
    /// The same events are already there: answer with the original result.
    AlreadyWritten(AppendResult),
}

impl Writer {
    pub(crate) fn new(
        conn: Connection,
        head: u64,
        seen: SeenIds,
        max_batch: usize,
        checkpointer: Checkpointer,
        live: broadcast::Sender<LiveBatch>,
        shared: Arc<Shared>,
    ) -> Self {
        Writer {
            conn,
            checkpointer,
            transaction: 0,
            head,
            max_batch,
            live,
            shared,
            streams: HashMap::new(),
            streams_written: 0,
            seen,
            poisoned: None,
        }
    }

    pub(crate) fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut close_reply = None;
        while close_reply.is_none() {
            let Some(first) = commands.blocking_recv() else { break };
            close_reply = self.transaction(first, &mut commands);
        }
        // Refuse whatever is still queued, then flush the WAL into the database file.
        commands.close();
        while let Ok(command) = commands.try_recv() {
            command.fail(StoreError::Closed);
        }
        self.checkpointer.stop();
        let flushed = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(StoreError::from);
        if let Err(error) = &flushed {
            tracing::warn!(%error, "checkpointing the WAL on close failed");
        }
        drop(self);
        tracing::debug!("store writer stopped");
        if let Some(reply) = close_reply {
            let _ = reply.send(flushed);
        }
    }

    /// Runs one transaction: `first`, then every command queued meanwhile (commands that
    /// arrive while earlier ones execute join the same commit), up to `max_batch`. Returns
    /// the close request if one came; commands queued after it stay queued (and are refused).
    fn transaction(&mut self, first: Command, commands: &mut mpsc::Receiver<Command>) -> Option<Reply<()>> {
        // A close writes nothing: it must not depend on a transaction beginning (refused, it
        // would leave the writer running and `close` waiting for it for ever).
        let first = match first {
            Command::Close { reply } => return Some(reply),
            other => other,
        };
        let now = Utc::now();
        let start_head = self.head;
        let mut answers = Vec::new();
        let mut live = Vec::new();
        let mut close = None;
        self.transaction += 1;
        self.streams_written = 0;
        let mut bytes = 0;
        // Waits while the checkpoint thread restarts the WAL (rare; see `Shared::wal_gate`).
        drop(self.shared.wal_gate.lock());
        if let Err(error) = self.run_cached("BEGIN IMMEDIATE") {
            tracing::error!(%error, "could not begin a store transaction");
            first.fail(commit_failed(&Arc::new(error)));
            return None;
        }
        let mut next = Some(first);
        let mut taken = 0;
        let mut yielded = false;
        loop {
            let command = match next.take().or_else(|| commands.try_recv().ok()) {
                Some(command) => command,
                // Under concurrency, let the runtime run the callers just answered: their
                // next appends then join this commit instead of waiting for the next one.
                None if !yielded && taken > 1 => {
                    yielded = true;
                    std::thread::yield_now();
                    continue;
                }
                None => break,
            };
            taken += 1;
            match command {
                Command::Close { reply } => {
                    close = Some(reply);
                    break;
                }
                Command::Append { stream, expected, events, reply } => {
                    bytes += events
                        .iter()
                        .map(|e| (e.data.len() + e.metadata.len() + e.event_type.len()) as u64)
                        .sum::<u64>();
                    let result = self.append(stream, expected, events, now, &mut live);
                    answers.push(Answer::Append(reply, result));
                }
                Command::Delete { stream, expected, tombstone, reply } => {
                    let result = self.delete(&stream, expected, tombstone);
                    answers.push(Answer::Delete(reply, result));
                }
            }
            // A failed write dooms the batch: take no more into it.
            if taken >= self.max_batch || self.poisoned.is_some() {
                break;
            }
        }
        let committed = match self.poisoned.take() {
            Some(error) => Err(error),
            None => {
                let started = std::time::Instant::now();
                let committed = self.run_cached("COMMIT").map_err(Arc::new);
                self.shared.commit_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::AcqRel);
                committed
            }
        };
        match committed {
            Ok(()) => {
                let written = live.len() as u64;
                let appends = answers.iter().filter(|a| matches!(a, Answer::Append(_, Ok(_)))).count();
                self.shared.commits.fetch_add(1, Ordering::AcqRel);
                self.shared.appends.fetch_add(appends as u64, Ordering::AcqRel);
                self.shared.events.fetch_add(written, Ordering::AcqRel);
                self.shared.head.store(self.head, Ordering::Release);
                // An estimate: the table's last page(s), and each written stream's index page.
                if !self.checkpointer.written(1 + bytes / PAGE_BYTES + self.streams_written) {
                    tracing::error!(
                        "the WAL checkpoint thread has stopped; the writer checkpoints by itself from now on"
                    );
                    if let Err(error) = self.conn.execute_batch("PRAGMA wal_autocheckpoint = 4000;") {
                        tracing::error!(
                            error = &error as &dyn std::error::Error,
                            "cannot turn automatic WAL checkpoints on"
                        );
                    }
                }
                if !live.is_empty() {
                    // No receiver is fine: nobody is subscribed right now.
                    let _ = self.live.send(LiveBatch::from(live));
                }
                for answer in answers {
                    answer.send(None);
                }
            }
            Err(error) => {
                tracing::error!(%error, "store commit failed; the batch is rolled back");
                if let Err(e) = self.run_cached("ROLLBACK") {
                    tracing::error!(error = %e, "rollback after a failed commit failed");
                }
                // Nothing of the batch is in the file; recount from what is.
                self.streams.clear();
                self.head = schema::head(&self.conn).unwrap_or(start_head);
                for answer in answers {
                    answer.send(Some(&error));
                }
            }
        }
        close
    }

    /// Runs a statement without parameters or rows (BEGIN, COMMIT), prepared once.
    fn run_cached(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    }

    fn append(
        &mut self,
        stream: String,
        expected: ExpectedRevision,
        events: Vec<EventData>,
        now: DateTime<Utc>,
        live: &mut Vec<RecordedEvent>,
    ) -> Result<AppendResult, StoreError> {
        let row = self.stream(&stream)?;
        if row.tombstoned {
            return Err(StoreError::StreamDeleted(stream));
        }
        let first_revision = match self.decide(&stream, &row, expected, &events)? {
            Decision::AlreadyWritten(result) => return Ok(result),
            Decision::Write(revision) => revision,
        };
        let start_head = self.head;
        if let Err(error) = self.write_events(&stream, first_revision, &events, now) {
            let error = Arc::new(error);
            self.poisoned = Some(error.clone());
            return Err(commit_failed(&error));
        }
        let last_revision = first_revision + events.len() as u64 - 1;
        self.wrote(&stream, StreamRow { last: Some(last_revision), ..row });
        live.reserve(events.len());
        for (i, event) in events.into_iter().enumerate() {
            live.push(RecordedEvent {
                id: event.id,
                stream: stream.clone(),
                revision: first_revision + i as u64,
                position: Position::at(start_head + 1 + i as u64),
                event_type: event.event_type,
                data: event.data,
                metadata: event.metadata,
                created: now,
            });
        }
        Ok(AppendResult { next_expected_revision: last_revision, position: Position::at(self.head) })
    }

    fn write_events(
        &mut self,
        stream: &str,
        first_revision: u64,
        events: &[EventData],
        now: DateTime<Utc>,
    ) -> rusqlite::Result<()> {
        let created = now.timestamp_micros();
        let mut insert = self.conn.prepare_cached(
            "INSERT INTO events (position, stream, revision, event_id, event_type, data, metadata, created) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut position = self.head;
        for (i, event) in events.iter().enumerate() {
            position += 1;
            insert.execute(rusqlite::params![
                position as i64,
                stream,
                (first_revision + i as u64) as i64,
                event.id.as_bytes().as_slice(),
                event.event_type,
                event.data.as_ref(),
                event.metadata.as_ref(),
                created,
            ])?;
        }
        self.head = position;
        for event in events {
            self.seen.insert(event.id);
        }
        Ok(())
    }

    /// The stream's state in the open transaction.
    fn stream(&mut self, stream: &str) -> Result<StreamRow, StoreError> {
        if let Some(known) = self.streams.get(stream) {
            return Ok(known.row);
        }
        let row = stream_row(&self.conn, stream)?;
        self.remember(stream, Known { row, written_in: 0 });
        Ok(row)
    }

    /// Records what the open transaction wrote to the stream.
    fn wrote(&mut self, stream: &str, row: StreamRow) {
        let first_write = self.streams.get(stream).is_none_or(|known| known.written_in != self.transaction);
        if first_write {
            self.streams_written += 1;
        }
        self.remember(stream, Known { row, written_in: self.transaction });
    }

    fn remember(&mut self, stream: &str, known: Known) {
        if let Some(entry) = self.streams.get_mut(stream) {
            *entry = known;
            return;
        }
        if self.streams.len() >= STREAM_CACHE_LIMIT {
            self.streams.clear();
        }
        self.streams.insert(stream.to_owned(), known);
    }

    /// Checks `expected` against the stream, with EventStoreDB's idempotency by event id.
    fn decide(
        &self,
        stream: &str,
        row: &StreamRow,
        expected: ExpectedRevision,
        events: &[EventData],
    ) -> Result<Decision, StoreError> {
        let visible = row.visible_last();
        let conflict = || StoreError::WrongExpectedVersion {
            stream: stream.to_owned(),
            expected,
            actual: visible.map_or(StreamState::NoStream, StreamState::Revision),
        };
        let written_at = |revision: u64| -> Result<Decision, StoreError> {
            match self.already_written(stream, revision, events)? {
                Some(result) => Ok(Decision::AlreadyWritten(result)),
                None => Err(conflict()),
            }
        };
        match expected {
            ExpectedRevision::Any | ExpectedRevision::StreamExists => {
                let first = events[0].id;
                let found = if self.seen.may_contain(first) { self.revision_of(stream, first)? } else { None };
                if let Some(revision) = found {
                    return written_at(revision);
                }
                if expected == ExpectedRevision::StreamExists && visible.is_none() {
                    return Err(conflict());
                }
                Ok(Decision::Write(row.next_revision()))
            }
            ExpectedRevision::NoStream => match visible {
                None => Ok(Decision::Write(row.next_revision())),
                Some(_) => written_at(row.deleted_before),
            },
            ExpectedRevision::Exact(e) => match row.last {
                Some(last) if last == e => Ok(Decision::Write(last + 1)),
                Some(last) if e < last => written_at(e + 1),
                _ => Err(conflict()),
            },
        }
    }

    /// The revision of the event with this id in this stream, if it is there (a search of
    /// the stream's events: only for ids the filter says may be known). From the newest: a
    /// retry is nearly always of a recent append, so it is found after a few rows rather
    /// than after reading a long stream from its start.
    fn revision_of(&self, stream: &str, id: Uuid) -> Result<Option<u64>, StoreError> {
        use rusqlite::OptionalExtension;
        let mut stmt = self.conn.prepare_cached(
            "SELECT revision FROM events WHERE stream = ?2 AND event_id = ?1 ORDER BY revision DESC LIMIT 1",
        )?;
        let revision =
            stmt.query_row(rusqlite::params![id.as_bytes().as_slice(), stream], |r| r.get::<_, i64>(0)).optional()?;
        Ok(revision.map(|r| r as u64))
    }

    /// If the stream holds exactly `events`' ids from `revision` on, the original result.
    fn already_written(
        &self,
        stream: &str,
        revision: u64,
        events: &[EventData],
    ) -> Result<Option<AppendResult>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT event_id, position FROM events WHERE stream = ?1 AND revision >= ?2 ORDER BY revision ASC LIMIT ?3",
        )?;
        let mut rows = stmt.query(rusqlite::params![stream, revision as i64, events.len() as i64])?;
        let mut last_position = 0;
        for event in events {
            let Some(row) = rows.next()? else { return Ok(None) };
            if row.get_ref(0)?.as_blob().ok() != Some(event.id.as_bytes().as_slice()) {
                return Ok(None);
            }
            last_position = row.get::<_, i64>(1)? as u64;
        }
        Ok(Some(AppendResult {
            next_expected_revision: revision + events.len() as u64 - 1,
            position: Position::at(last_position),
        }))
    }

    fn delete(&mut self, stream: &str, expected: ExpectedRevision, tombstone: bool) -> Result<Position, StoreError> {
        let row = self.stream(stream)?;
        if row.tombstoned {
            return Err(StoreError::StreamDeleted(stream.to_owned()));
        }
        // EventStoreDB's rules: a delete checks the last revision ever written, soft-deleted
        // or not (so a second delete at that revision succeeds); a stream that never had an
        // event cannot be deleted, whatever the expectation; "exists" on a soft-deleted
        // stream is answered as deleted.
        let ok = match (expected, row.last) {
            (_, None) => false,
            (ExpectedRevision::StreamExists, Some(_)) if row.visible_last().is_none() => {
                return Err(StoreError::StreamDeleted(stream.to_owned()));
            }
            (ExpectedRevision::Any | ExpectedRevision::StreamExists, Some(_)) => true,
            (ExpectedRevision::NoStream, Some(_)) => false,
            (ExpectedRevision::Exact(e), Some(last)) => e == last,
        };
        if !ok {
            return Err(StoreError::WrongExpectedVersion {
                stream: stream.to_owned(),
                expected,
                actual: row.last.map_or(StreamState::NoStream, StreamState::Revision),
            });
        }
        let deleted = StreamRow { deleted_before: row.next_revision(), tombstoned: tombstone, ..row };
        let written = self
            .conn
            .prepare_cached(
                "INSERT INTO deleted_streams (name, deleted_before, tombstoned) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (name) DO UPDATE SET deleted_before = excluded.deleted_before, \
                 tombstoned = excluded.tombstoned",
            )
            .and_then(|mut insert| insert.execute(rusqlite::params![stream, deleted.deleted_before as i64, tombstone]));
        if let Err(error) = written {
            // As for a failed append: the transaction may be half-undone, so it must not commit.
            let error = Arc::new(error);
            self.poisoned = Some(error.clone());
            return Err(commit_failed(&error));
        }
        self.wrote(stream, deleted);
        Ok(Position::at(self.head))
    }
}

#[cfg(test)]
mod tests {
    //! The writer's memory of stream states stays exact when a batch is rolled back: these
    //! drive one transaction at a time with commands queued beforehand, so a failing command
    //! and its neighbours are certainly in one batch.

    use super::*;
    use crate::sqlite::checkpointer::{Checkpointer, NUDGE_FRAMES};
    use crate::EventData;

    struct Harness {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        writer: Writer,
        queue: mpsc::Sender<Command>,
        commands: mpsc::Receiver<Command>,
    }

    fn event(event_type: &str) -> EventData {
        EventData::json(Uuid::new_v4(), event_type, r#"{"n":1}"#, "{}")
    }

    impl Harness {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("events.sqlite");
            let conn = schema::open_writer(&path).unwrap();
            let shared = Arc::new(Shared::default());
            let checkpointer = Checkpointer::start(&path, NUDGE_FRAMES, 1 << 20, shared.clone()).unwrap();
            let (live, _) = broadcast::channel(16);
            let writer = Writer::new(conn, 0, SeenIds::with_capacity(0), 64, checkpointer, live, shared);
            let (queue, commands) = mpsc::channel(64);
            Harness { _dir: dir, path, writer, queue, commands }
        }

        /// Queues an append; its answer arrives once a transaction ran it.
        fn append(
            &self,
            stream: &str,
            expected: ExpectedRevision,
            events: Vec<EventData>,
        ) -> oneshot::Receiver<Result<AppendResult, StoreError>> {
            let (reply, answer) = oneshot::channel();
            let command = Command::Append { stream: stream.into(), expected, events, reply };
            self.queue.try_send(command).map_err(|_| "queue full").unwrap();
            answer
        }

        fn delete(&self, stream: &str, tombstone: bool) -> oneshot::Receiver<Result<Position, StoreError>> {
            let (reply, answer) = oneshot::channel();
            let command = Command::Delete { stream: stream.into(), expected: ExpectedRevision::Any, tombstone, reply };
            self.queue.try_send(command).map_err(|_| "queue full").unwrap();
            answer
        }

        /// Runs one transaction over everything queued.
        fn commit(&mut self) {
            let first = self.commands.try_recv().expect("a queued command");
            assert!(self.writer.transaction(first, &mut self.commands).is_none());
            assert!(self.commands.try_recv().is_err(), "everything queued went into the one batch");
        }

        /// Makes every insert of an event of type `Boom` fail, as a failing write would.
        fn fail_boom_events(&self) {
            let conn = rusqlite::Connection::open(&self.path).unwrap();
            conn.execute_batch(
                "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.event_type = 'Boom'
                 BEGIN SELECT RAISE(ABORT, 'boom'); END;",
            )
            .unwrap();
        }

        /// The stream's last revision and its head, as the file says.
        fn in_file(&self, stream: &str) -> (Option<u64>, u64) {
            let conn = schema::open_reader(&self.path).unwrap();
            (stream_row(&conn, stream).unwrap().visible_last(), schema::head(&conn).unwrap())
        }
    }

    fn answer<T>(mut answer: oneshot::Receiver<Result<T, StoreError>>) -> Result<T, StoreError> {
        answer.try_recv().expect("answered when the transaction ended")
    }

    fn is_commit_failure(error: &StoreError) -> bool {
        matches!(error, StoreError::Backend(source) if source.is::<CommitFailed>())
    }

    #[test]
    fn a_close_stops_the_writer_even_when_no_transaction_can_begin() {
        let Harness { _dir, path, writer, queue, commands } = Harness::new();
        // Another connection holds the file's write lock, and the writer gives up at once
        // instead of after its 5 s busy wait: its next BEGIN fails.
        writer.conn.busy_handler(None).unwrap();
        let holder = rusqlite::Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (reply, answer) = oneshot::channel();
        queue.try_send(Command::Close { reply }).map_err(|_| "queue full").unwrap();
        // `queue` stays open, as a store's does: only the close request can stop the writer.
        let thread = std::thread::spawn(move || writer.run(commands));
        let closed = answer.blocking_recv().expect("the writer answers the close request");
        assert!(closed.is_ok(), "a close needs no transaction, so it is not refused: {closed:?}");
        thread.join().expect("the writer stops");
        drop(queue);
    }

    #[test]
    fn a_rolled_back_batch_leaves_the_remembered_revisions_exact() {
        let mut h = Harness::new();
        let first = h.append("webhook-a", ExpectedRevision::NoStream, vec![event("Made"), event("Made")]);
        h.commit();
        assert_eq!(answer(first).unwrap().next_expected_revision, 1);
        h.fail_boom_events();

        // One batch: an append that would take webhook-a to revision 2, then a failing one.
        let retried = event("Attempted");
        let doomed = h.append("webhook-a", ExpectedRevision::Exact(1), vec![retried.clone()]);
        let failing = h.append("webhook-b", ExpectedRevision::NoStream, vec![event("Boom")]);
        h.commit();
        let doomed = answer(doomed).unwrap_err();
        assert!(is_commit_failure(&doomed), "the neighbour is told the batch failed: {doomed:?}");
        assert!(answer(failing).is_err());
        assert_eq!(h.in_file("webhook-a"), (Some(1), 2), "nothing of the batch is in the file");

        // The writer must not believe webhook-a reached revision 2.
        let stale = h.append("webhook-a", ExpectedRevision::Exact(2), vec![event("Attempted")]);
        h.commit();
        assert!(
            matches!(answer(stale), Err(StoreError::WrongExpectedVersion { actual: StreamState::Revision(1), .. })),
            "revision 2 was rolled back"
        );
        // The caller's retry of the rolled-back append is written (not taken for a duplicate),
        // at the position after the real head.
        let retry = h.append("webhook-a", ExpectedRevision::Exact(1), vec![retried.clone()]);
        h.commit();
        let written = answer(retry).unwrap();
        assert_eq!((written.next_expected_revision, written.position.commit), (2, 3));
        let again = h.append("webhook-a", ExpectedRevision::Any, vec![retried]);
        h.commit();
        assert_eq!(answer(again).unwrap(), written, "and a second retry is idempotent");
        assert_eq!(h.in_file("webhook-a"), (Some(2), 3));
    }

    #[test]
    fn a_rolled_back_batch_answers_no_conflict_or_tombstone_of_its_own_writes() {
        let mut h = Harness::new();
        let a = h.append("webhook-a", ExpectedRevision::NoStream, vec![event("Made")]);
        let c = h.append("webhook-c", ExpectedRevision::NoStream, vec![event("Made")]);
        h.commit();
        answer(a).unwrap();
        answer(c).unwrap();
        h.fail_boom_events();

        // One batch: two appenders racing for webhook-a's revision 1, a tombstone of
        // webhook-c and an append to it, then a failing write that rolls it all back.
        let winner = h.append("webhook-a", ExpectedRevision::Exact(0), vec![event("Attempted")]);
        let racer = h.append("webhook-a", ExpectedRevision::Exact(0), vec![event("Attempted")]);
        let tombstoned = h.delete("webhook-c", true);
        let after_tombstone = h.append("webhook-c", ExpectedRevision::Any, vec![event("Made")]);
        let failing = h.append("webhook-b", ExpectedRevision::NoStream, vec![event("Boom")]);
        h.commit();
        assert!(is_commit_failure(&answer(winner).unwrap_err()));
        assert!(is_commit_failure(&answer(tombstoned).unwrap_err()));
        assert!(answer(failing).is_err());
        // Revision 1 and the tombstone never reached the file: the racer and the later
        // appender are told to try again, not that the stream moved on or is gone for good.
        let racer = answer(racer).unwrap_err();
        assert!(is_commit_failure(&racer), "a conflict with a rolled-back write: {racer:?}");
        let after_tombstone = answer(after_tombstone).unwrap_err();
        assert!(is_commit_failure(&after_tombstone), "a rolled-back tombstone: {after_tombstone:?}");
        assert_eq!(h.in_file("webhook-a"), (Some(0), 2));
        assert_eq!(h.in_file("webhook-c").0, Some(0));
    }

    #[test]
    fn a_rolled_back_delete_or_tombstone_is_forgotten() {
        let mut h = Harness::new();
        let made = h.append("webhook-a", ExpectedRevision::NoStream, vec![event("Made")]);
        let also = h.append("webhook-c", ExpectedRevision::NoStream, vec![event("Made")]);
        h.commit();
        answer(made).unwrap();
        answer(also).unwrap();
        h.fail_boom_events();

        let deleted = h.delete("webhook-a", false);
        let tombstoned = h.delete("webhook-c", true);
        let failing = h.append("webhook-b", ExpectedRevision::NoStream, vec![event("Boom")]);
        h.commit();
        assert!(is_commit_failure(&answer(deleted).unwrap_err()));
        assert!(is_commit_failure(&answer(tombstoned).unwrap_err()));
        assert!(answer(failing).is_err());

        // Both streams are still there, at revision 0, for the writer as for the file.
        let a = h.append("webhook-a", ExpectedRevision::Exact(0), vec![event("Made")]);
        let c = h.append("webhook-c", ExpectedRevision::Exact(0), vec![event("Made")]);
        h.commit();
        assert_eq!(answer(a).unwrap().next_expected_revision, 1);
        assert_eq!(answer(c).unwrap().next_expected_revision, 1);
        assert_eq!(h.in_file("webhook-a"), (Some(1), 4));
        assert_eq!(h.in_file("webhook-c").0, Some(1));
    }

    #[test]
    fn deletes_and_tombstones_in_a_committed_batch_are_remembered() {
        let mut h = Harness::new();
        let a = h.append("webhook-a", ExpectedRevision::NoStream, vec![event("Made"), event("Made")]);
        let deleted = h.delete("webhook-a", false);
        let after = h.append("webhook-a", ExpectedRevision::NoStream, vec![event("Made")]);
        let c = h.append("webhook-c", ExpectedRevision::NoStream, vec![event("Made")]);
        let tombstoned = h.delete("webhook-c", true);
        let refused = h.append("webhook-c", ExpectedRevision::Any, vec![event("Made")]);
        h.commit();
        answer(a).unwrap();
        answer(deleted).unwrap();
        assert_eq!(answer(after).unwrap().next_expected_revision, 2, "numbering continues after the delete");
        answer(c).unwrap();
        answer(tombstoned).unwrap();
        assert!(matches!(answer(refused), Err(StoreError::StreamDeleted(_))));
        assert_eq!(h.in_file("webhook-a"), (Some(2), 4));
    }
}
