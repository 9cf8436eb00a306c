//! This crate's one error type, and the mapping of the client's errors into the store's.
//!
//! The store trait speaks [`StoreError`]; the `eventstore` client speaks
//! [`eventstore::Error`]. [`map_client_error`] is the one place where one becomes the
//! other, so every operation reports a conflict, a deleted stream or an unreachable server
//! the same way, with the client's error kept as the cause.

use packhooks_store::{ExpectedRevision, StoreError, StreamState};

/// What can go wrong in the EventStoreDB backend before or beside a store operation.
#[derive(Debug, thiserror::Error)]
pub enum EsdbError {
    /// The connection string is not an `esdb://` or `esdb+discover://` string the client reads.
    /// Holds the client's explanation as text, with the string's user name and password
    /// replaced: the client's own error quotes the whole string, so keeping it as the cause
    /// would print the password wherever the error chain is shown.
    #[error("invalid EventStoreDB connection string: {0}")]
    ConnectionString(String),
    /// The store setting names another scheme.
    #[error("an EventStoreDB connection string starts with esdb:// or esdb+discover://")]
    Scheme,
    /// The client spawns its connection task on the current tokio runtime; there was none.
    #[error("the EventStoreDB store must be opened inside a tokio runtime")]
    NoRuntime,
    /// The client answered with an error this backend has no better name for.
    #[error("EventStoreDB client")]
    Client(#[source] eventstore::Error),
    /// The server answered something the client accepted but the store cannot use.
    #[error("EventStoreDB answered unexpectedly: {0}")]
    Protocol(String),
}

/// `text` (the client's error about `connection_string`) with the user name and password of
/// the connection string (`esdb://user:password@host…`) replaced by `[redacted]` where the
/// string is quoted, and the password wherever else it appears. Only those: replacing every
/// occurrence of `user:password` would also cut a user name out of host names and words
/// that contain it (`admin` in `admin-esdb.example`), hiding what the operator must fix.
pub(crate) fn without_credentials(text: &str, connection_string: &str) -> String {
    let Some((_, rest)) = connection_string.split_once("://") else { return text.to_owned() };
    let before_query = &rest[..rest.find('?').unwrap_or(rest.len())];
    let Some(at) = before_query.rfind('@').filter(|at| *at > 0) else { return text.to_owned() };
    let mut out = text.replace(rest, &format!("[redacted]{}", &rest[at..]));
    if let Some((_, password)) = rest[..at].split_once(':').filter(|(_, password)| !password.is_empty()) {
        out = out.replace(password, "[redacted]");
    }
    out
}

/// True when the client itself is finished and must be built again: its connection task
/// ended (the first connection failed, or a reconnection did), so every later call on it
/// would answer `ConnectionClosed`.
pub(crate) fn client_is_dead(error: &eventstore::Error) -> bool {
    matches!(error, eventstore::Error::ConnectionClosed | eventstore::Error::GrpcConnectionError(_))
}

/// Turns a client error on `stream` (with the caller's expectation, for conflicts) into the
/// store's error.
pub(crate) fn map_client_error(
    stream: &str,
    expected: Option<ExpectedRevision>,
    error: eventstore::Error,
) -> StoreError {
    use eventstore::Error as E;
    match error {
        E::WrongExpectedVersion { expected: sent, current } => StoreError::WrongExpectedVersion {
            stream: stream.to_owned(),
            expected: expected.unwrap_or_else(|| from_client_expected(sent)),
            actual: match current {
                eventstore::CurrentRevision::Current(revision) => StreamState::Revision(revision),
                eventstore::CurrentRevision::NoStream => StreamState::NoStream,
            },
        },
        // Deletes and tombstones report a conflict as a failed precondition whose message
        // carries the actual version; the client keeps only the code and the message.
        E::Grpc { code, ref message }
            if code as i32 == GRPC_FAILED_PRECONDITION
                && actual_version_in(message).is_some()
                && expected.is_some() =>
        {
            StoreError::WrongExpectedVersion {
                stream: stream.to_owned(),
                expected: expected.expect("checked above"),
                actual: actual_version_in(message).expect("checked above"),
            }
        }
        // The server's answer to a write whose prepare, commit or forwarding timed out (slow
        // replication, an election): the write may have landed, and a retry with the same
        // event ids lands it once.
        E::Grpc { code, .. } if code as i32 == GRPC_ABORTED => {
            StoreError::Unavailable(Box::new(EsdbError::Client(error)))
        }
        E::ResourceDeleted => StoreError::StreamDeleted(stream.to_owned()),
        E::ResourceNotFound => StoreError::StreamNotFound(stream.to_owned()),
        E::ServerError(_)
        | E::ConnectionClosed
        | E::GrpcConnectionError(_)
        | E::DeadlineExceeded
        | E::NotLeaderException(_) => StoreError::Unavailable(Box::new(EsdbError::Client(error))),
        other => StoreError::Backend(Box::new(EsdbError::Client(other))),
    }
}

/// gRPC's FAILED_PRECONDITION code (named by number: the client does not re-export tonic).
const GRPC_FAILED_PRECONDITION: i32 = 9;
/// gRPC's ABORTED code: EventStoreDB's `Operation timed out` for a write.
const GRPC_ABORTED: i32 = 10;

fn from_client_expected(expected: eventstore::ExpectedRevision) -> ExpectedRevision {
    match expected {
        eventstore::ExpectedRevision::Any => ExpectedRevision::Any,
        eventstore::ExpectedRevision::NoStream => ExpectedRevision::NoStream,
        eventstore::ExpectedRevision::StreamExists => ExpectedRevision::StreamExists,
        eventstore::ExpectedRevision::Exact(revision) => ExpectedRevision::Exact(revision),
    }
}

/// Reads the actual stream version out of the server's wrong-expected-version message
/// (`… Expected version: 0, Actual version: 1`); `-1` means no stream.
fn actual_version_in(message: &str) -> Option<StreamState> {
    const MARK: &str = "Actual version: ";
    let rest = &message[message.find(MARK)? + MARK.len()..];
    let number: String = rest.chars().take_while(|c| *c == '-' || c.is_ascii_digit()).collect();
    match number.parse::<i64>().ok()? {
        -1 => Some(StreamState::NoStream),
        n if n >= 0 => Some(StreamState::Revision(n as u64)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_actual_version_is_read_from_the_servers_message() {
        let message =
            "Append failed due to WrongExpectedVersion. Stream: webhook-1, Expected version: 0, Actual version: 1";
        assert_eq!(actual_version_in(message), Some(StreamState::Revision(1)));
        assert_eq!(actual_version_in("… Actual version: -1"), Some(StreamState::NoStream));
        assert_eq!(actual_version_in("something else"), None);
    }

    #[test]
    fn a_closed_client_is_unavailable_and_retryable() {
        let error = map_client_error("s", None, eventstore::Error::ConnectionClosed);
        assert!(error.is_retryable(), "{error:?}");
    }
}
