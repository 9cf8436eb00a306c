//! The `eventstore` client behind the store, rebuilt whenever it dies.
//!
//! The client keeps one connection task per `Client`. When that task's first connection
//! attempt fails, or a later reconnection does, the task ends and the client answers
//! `ConnectionClosed` to every call for good. [`Connection`] hands out the current client
//! with a generation number; an operation that finds the client dead reports it, and the
//! first report for a generation builds a new client, after an exponential backoff that
//! the next callers wait out (so a server that is down is not hammered).
//!
//! The client's other trap, a panic in its connection task when a rustls crypto provider
//! was installed before its own, is patched out of the client itself
//! (`vendor/eventstore/PATCHED.md`): any number of stores connect in one process, whatever
//! else installed a provider first.

use std::time::Duration;

use eventstore::{Client, ClientSettings};
use packhooks_store::Backoff;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::error::EsdbError;

/// The first wait before a rebuilt client is used; doubled per consecutive failure.
const BACKOFF_START: Duration = Duration::from_millis(100);
/// The longest wait between two rebuilds.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// The wait before using the client built after consecutive dead ones: doubling from
/// [`BACKOFF_START`], capped at [`BACKOFF_MAX`], with up to a quarter of jitter so several
/// instances do not reconnect in step.
const REBUILD: Backoff = Backoff::new(BACKOFF_START, BACKOFF_MAX).with_jitter(0.25);

/// One leased client and the generation it belongs to.
pub(crate) struct Lease {
    pub(crate) client: Client,
    pub(crate) generation: u64,
}

/// The current client, rebuilt with backoff when it dies.
pub(crate) struct Connection {
    settings: ClientSettings,
    state: Mutex<State>,
}

struct State {
    client: Client,
    generation: u64,
    /// Waits out consecutive dead clients without a successful call in between.
    backoff: Backoff,
    /// A freshly rebuilt client is not used before this instant.
    not_before: Option<Instant>,
}

impl Connection {
    /// Builds the first client (no network traffic yet: the client connects on first use).
    /// Needs a tokio runtime: the client spawns its connection task on the current one.
    pub(crate) fn new(settings: ClientSettings) -> Result<Connection, EsdbError> {
        let client = build_client(&settings)?;
        Ok(Connection {
            settings,
            state: Mutex::new(State { client, generation: 0, backoff: REBUILD, not_before: None }),
        })
    }

    /// The current client, after waiting out the backoff of a recent rebuild.
    pub(crate) async fn lease(&self) -> Lease {
        let (lease, not_before) = {
            let state = self.state.lock();
            (Lease { client: state.client.clone(), generation: state.generation }, state.not_before)
        };
        if let Some(at) = not_before {
            tokio::time::sleep_until(at).await;
        }
        lease
    }

    /// A call on `generation`'s client worked: the next rebuild starts from a short backoff.
    pub(crate) fn succeeded(&self, generation: u64) {
        let mut state = self.state.lock();
        if state.generation == generation {
            state.backoff.reset();
            state.not_before = None;
        }
    }

    /// `generation`'s client is dead: build the next one (once per generation).
    pub(crate) fn client_died(&self, generation: u64) {
        let mut state = self.state.lock();
        if state.generation != generation {
            return; // someone already replaced it
        }
        match build_client(&self.settings) {
            Ok(client) => {
                let backoff = state.backoff.next_wait_jittered(rand::random());
                tracing::warn!(
                    generation,
                    ?backoff,
                    "the EventStoreDB client lost its connection for good; rebuilding it"
                );
                state.client = client;
                state.generation += 1;
                state.not_before = Some(Instant::now() + backoff);
            }
            Err(error) => tracing::error!(%error, "cannot rebuild the EventStoreDB client; keeping the old one"),
        }
    }
}

fn build_client(settings: &ClientSettings) -> Result<Client, EsdbError> {
    Client::new(settings.clone()).map_err(EsdbError::Client)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wait after `failures` consecutive dead clients.
    fn backoff(failures: u32) -> Duration {
        let mut backoff = REBUILD;
        (1..failures).for_each(|_| {
            backoff.next_wait();
        });
        backoff.next_wait_jittered(rand::random())
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let first = backoff(1);
        assert!(first >= BACKOFF_START && first <= BACKOFF_START * 5 / 4, "{first:?}");
        let third = backoff(3);
        assert!(third >= BACKOFF_START * 4 && third <= BACKOFF_START * 5, "{third:?}");
        let late = backoff(40);
        assert!(late >= BACKOFF_MAX && late <= BACKOFF_MAX * 5 / 4, "{late:?}");
    }
}
