//! [`EsdbStore`]: the [`EventStore`] trait over an EventStoreDB server or cluster.
//!
//! Each trait call is one client call. Errors go through [`map_client_error`]; a call that
//! finds the client dead reports it to the [`Connection`], which builds a new one, and the
//! call answers [`StoreError::Unavailable`] so the caller retries. Subscriptions are in
//! `subscription.rs`.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use eventstore::{
    AppendToStreamOptions, ClientSettings, DeleteStreamOptions, ReadAllOptions, ReadStreamOptions,
    TombstoneStreamOptions,
};
use packhooks_store::{
    validate_stream_name, AllPosition, AppendResult, Direction, EventData, EventStore, ExpectedRevision, Position,
    RecordedEvent, StoreError, StreamPosition, SubscribeFrom, Subscription, SubscriptionFilter,
};

use crate::connection::Connection;
use crate::convert::{
    from_client_event, from_client_position, to_client_event, to_client_expected, to_client_position,
};
use crate::error::{client_is_dead, map_client_error, without_credentials, EsdbError};

/// The stream name errors on `$all` reads are reported under.
const ALL: &str = "$all";

/// The event store on EventStoreDB.
pub struct EsdbStore {
    connection: Arc<Connection>,
    /// Set by [`EventStore::close`]: every later call answers [`StoreError::Closed`].
    closed: AtomicBool,
}

impl EsdbStore {
    /// True when `setting` names this backend (`esdb://…` or `esdb+discover://…`).
    pub fn handles(setting: &str) -> bool {
        setting.starts_with("esdb://") || setting.starts_with("esdb+discover://")
    }

    /// Connects to the server or cluster of `connection_string`, e.g.
    /// `esdb://127.0.0.1:2113?tls=false` or
    /// `esdb://node1:2113,node2:2113,node3:2113?tls=false&nodePreference=leader`.
    ///
    /// Must run inside a tokio runtime. No request is sent here; a background task connects
    /// at once, so the client's discovery wait is paid now rather than by the first request.
    pub fn connect(connection_string: &str) -> Result<EsdbStore, EsdbError> {
        if !Self::handles(connection_string) {
            return Err(EsdbError::Scheme);
        }
        let settings = ClientSettings::from_str(connection_string)
            .map_err(|e| EsdbError::ConnectionString(without_credentials(&e.to_string(), connection_string)))?;
        tokio::runtime::Handle::try_current().map_err(|_| EsdbError::NoRuntime)?;
        let connection = Arc::new(Connection::new(settings)?);
        let warm = Arc::clone(&connection);
        tokio::spawn(async move {
            if let Err(error) = head(&warm).await {
                tracing::warn!(%error, "EventStoreDB is not reachable yet; calls will retry the connection");
            }
        });
        Ok(EsdbStore { connection, closed: AtomicBool::new(false) })
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        Ok(())
    }
}

/// Runs one client call on the current client, reporting a dead client and mapping errors.
async fn call<T, F, Fut>(
    connection: &Connection,
    stream: &str,
    expected: Option<ExpectedRevision>,
    op: F,
) -> Result<T, StoreError>
where
    F: FnOnce(eventstore::Client) -> Fut,
    Fut: std::future::Future<Output = eventstore::Result<T>>,
{
    let lease = connection.lease().await;
    match op(lease.client).await {
        Ok(value) => {
            connection.succeeded(lease.generation);
            Ok(value)
        }
        Err(error) => {
            if client_is_dead(&error) {
                connection.client_died(lease.generation);
            } else if !matches!(error, eventstore::Error::ServerError(_) | eventstore::Error::DeadlineExceeded) {
                // The server answered: the connection works.
                connection.succeeded(lease.generation);
            }
            Err(map_client_error(stream, expected, error))
        }
    }
}

/// Reads a whole answer of a stream or `$all` read into memory.
async fn collect(mut read: eventstore::ReadStream) -> eventstore::Result<Vec<RecordedEvent>> {
    let mut events = Vec::new();
    while let Some(resolved) = read.next().await? {
        events.push(from_client_event(&resolved));
    }
    Ok(events)
}

pub(crate) async fn head(connection: &Connection) -> Result<Option<Position>, StoreError> {
    let options = ReadAllOptions::default().position(eventstore::StreamPosition::End).backwards().max_count(1);
    let newest =
        call(connection, ALL, None, |client| async move { collect(client.read_all(&options).await?).await }).await?;
    Ok(newest.first().map(|e| e.position))
}

#[async_trait]
impl EventStore for EsdbStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        self.check_open()?;
        validate_stream_name(stream)?;
        if events.is_empty() {
            return Err(StoreError::InvalidArgument("an append needs at least one event".into()));
        }
        let options = AppendToStreamOptions::default().expected_revision(to_client_expected(expected));
        let events: Vec<_> = events.into_iter().map(to_client_event).collect();
        let written = call(&self.connection, stream, Some(expected), |client| async move {
            client.append_to_stream(stream, &options, events).await
        })
        .await?;
        let position = if written.position == eventstore::Position::start() {
            // The server may answer an idempotent retry without a position: the original
            // one is that of the event at the revision it reports.
            self.position_of(stream, written.next_expected_version).await?
        } else {
            from_client_position(written.position)
        };
        Ok(AppendResult { next_expected_revision: written.next_expected_version, position })
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: StreamPosition,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.check_open()?;
        validate_stream_name(stream)?;
        let position = match from {
            StreamPosition::Start => eventstore::StreamPosition::Start,
            StreamPosition::End => eventstore::StreamPosition::End,
            StreamPosition::Revision(revision) => eventstore::StreamPosition::Position(revision),
        };
        // The direction goes after the position: the client's `position` resets it.
        let options = ReadStreamOptions::default().position(position).max_count(max_count);
        let options = match direction {
            Direction::Forwards => options.forwards(),
            Direction::Backwards => options.backwards(),
        };
        call(&self.connection, stream, None, |client| async move {
            collect(client.read_stream(stream, &options).await?).await
        })
        .await
    }

    async fn read_all(
        &self,
        from: AllPosition,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.check_open()?;
        let position = match from {
            AllPosition::Start => eventstore::StreamPosition::Start,
            AllPosition::End => eventstore::StreamPosition::End,
            AllPosition::Position(position) => eventstore::StreamPosition::Position(to_client_position(position)),
        };
        let options = ReadAllOptions::default().position(position).max_count(max_count);
        let options = match direction {
            Direction::Forwards => options.forwards(),
            Direction::Backwards => options.backwards(),
        };
        call(&self.connection, ALL, None, |client| async move { collect(client.read_all(&options).await?).await }).await
    }

    async fn subscribe_to_all(
        &self,
        from: SubscribeFrom,
        filter: Option<SubscriptionFilter>,
    ) -> Result<Subscription, StoreError> {
        self.check_open()?;
        crate::subscription::subscribe(Arc::clone(&self.connection), from, filter).await
    }

    async fn delete_stream(&self, stream: &str, expected: ExpectedRevision) -> Result<Position, StoreError> {
        self.check_open()?;
        validate_stream_name(stream)?;
        let options = DeleteStreamOptions::default().expected_revision(to_client_expected(expected));
        let position = call(&self.connection, stream, Some(expected), |client| async move {
            client.delete_stream(stream, &options).await
        })
        .await?;
        self.position_or_head(position).await
    }

    async fn tombstone_stream(&self, stream: &str, expected: ExpectedRevision) -> Result<Position, StoreError> {
        self.check_open()?;
        validate_stream_name(stream)?;
        let options = TombstoneStreamOptions::default().expected_revision(to_client_expected(expected));
        let position = call(&self.connection, stream, Some(expected), |client| async move {
            client.tombstone_stream(stream, &options).await
        })
        .await?;
        self.position_or_head(position).await
    }

    async fn head(&self) -> Result<Option<Position>, StoreError> {
        self.check_open()?;
        head(&self.connection).await
    }

    /// Every acknowledged write is already durable on the server; closing only refuses
    /// further calls from this handle.
    async fn close(&self) -> Result<(), StoreError> {
        self.closed.store(true, Ordering::SeqCst);
        Ok(())
    }
}

impl EsdbStore {
    /// The `$all` position of the event at `revision` of `stream`.
    async fn position_of(&self, stream: &str, revision: u64) -> Result<Position, StoreError> {
        let read = self.read_stream(stream, StreamPosition::Revision(revision), Direction::Forwards, 1).await?;
        read.first().map(|e| e.position).ok_or_else(|| {
            StoreError::Backend(Box::new(EsdbError::Protocol(format!(
                "an append reported revision {revision} of {stream} without a position, and no such event exists"
            ))))
        })
    }

    /// A delete's position when the server sent one, else the head of `$all`.
    async fn position_or_head(&self, position: Option<eventstore::Position>) -> Result<Position, StoreError> {
        match position {
            Some(position) => Ok(from_client_position(position)),
            None => Ok(head(&self.connection).await?.unwrap_or(Position::at(0))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_esdb_connection_strings_are_taken() {
        assert!(matches!(EsdbStore::connect("sqlite"), Err(EsdbError::Scheme)));
        assert!(matches!(EsdbStore::connect("postgres://x"), Err(EsdbError::Scheme)));
        assert!(matches!(EsdbStore::connect("esdb://"), Err(EsdbError::ConnectionString(_))));
        assert!(EsdbStore::handles("esdb+discover://cluster.example:2113"));
    }

    #[test]
    fn a_bad_connection_string_is_reported_without_its_password() {
        let setting = "esdb://admin:s3cr3t-pw@127.0.0.1:21l3?tls=false";
        let Err(error) = EsdbStore::connect(setting) else { panic!("{setting} is not a valid connection string") };
        assert!(matches!(error, EsdbError::ConnectionString(_)), "{error:?}");
        // What `packhooks: {error:#}` and a `?error` log field would show: every cause, both ways.
        let mut shown = String::new();
        let mut cause: Option<&dyn std::error::Error> = Some(&error);
        while let Some(e) = cause {
            shown.push_str(&format!("{e} | {e:?} | "));
            cause = e.source();
        }
        assert!(!shown.contains("s3cr3t-pw"), "the password is shown: {shown}");
        assert!(shown.contains("127.0.0.1:21l3"), "what is wrong is still shown: {shown}");
    }

    #[test]
    fn a_bad_connection_string_keeps_its_host_names_whole_when_its_credentials_are_redacted() {
        // A user name without a password, and a user name that is part of the host name.
        for (setting, host, secret) in [
            ("esdb://admin@admin-esdb.example:21l3?tls=false", "admin-esdb.example:21l3", None),
            ("esdb://es:pw-9f3k@es-node.example:21l3", "es-node.example:21l3", Some("pw-9f3k")),
        ] {
            let Err(error) = EsdbStore::connect(setting) else { panic!("{setting} is not a valid connection string") };
            let shown = error.to_string();
            assert!(shown.contains(host), "the host the operator must fix is shown whole: {shown}");
            assert!(secret.is_none_or(|s| !shown.contains(s)), "the password is shown: {shown}");
        }
    }

    #[test]
    fn opening_outside_a_runtime_is_an_error_not_a_panic() {
        assert!(matches!(EsdbStore::connect("esdb://127.0.0.1:2113?tls=false"), Err(EsdbError::NoRuntime)));
    }
}
