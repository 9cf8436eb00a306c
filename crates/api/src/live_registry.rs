//! The API's copy of the webhook registry, kept current from the log.
//!
//! A background task subscribes to `$all` filtered on `account-` and `webhook-` streams and
//! applies each event to a domain [`Registry`]. Commands that decide on registry state (how
//! many webhooks an account has, its plan) first call [`LiveRegistry::ensure_current`], which
//! reads forward from the last applied position to the store's head, so they never decide on a
//! stale view even when the subscription lags; the position kept alongside the registry makes
//! applying the same event twice impossible.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use packhooks_domain::ids::streams;
use packhooks_domain::registry::Registry;
use packhooks_domain::DomainEvent;
use packhooks_store::{
    AllPosition, Backoff, Direction, EventStore, Position, RecordedEvent, StoreError, SubscribeFrom, SubscriptionEvent,
    SubscriptionFilter,
};
use tokio::sync::{RwLock, RwLockReadGuard};

/// How many `$all` events one catch-up read fetches.
const READ_BATCH: usize = 512;
/// The wait before subscribing again after a subscription could not be made.
const SUBSCRIBE_FAILED: Backoff = Backoff::fixed(Duration::from_millis(500));

/// The registry and how far into `$all` it has seen.
#[derive(Default)]
pub struct Tracked {
    pub registry: Registry,
    /// Every event up to here has been applied (or was not for the registry).
    pub position: Option<Position>,
}

impl Tracked {
    /// Applies `event` unless it was already seen; returns whether it was new.
    fn apply(&mut self, event: &RecordedEvent) -> bool {
        if self.position.is_some_and(|p| event.position <= p) {
            return false;
        }
        if is_registry_stream(&event.stream) {
            match DomainEvent::decode(&event.event_type, &event.data) {
                Ok(decoded) => self.registry.apply(&decoded),
                Err(e) => {
                    tracing::warn!(stream = %event.stream, position = %event.position, error = %e, "skipping an undecodable event")
                }
            }
        }
        self.position = Some(event.position);
        true
    }

    fn advance(&mut self, to: Position) {
        if self.position.is_none_or(|p| p < to) {
            self.position = Some(to);
        }
    }
}

fn is_registry_stream(stream: &str) -> bool {
    stream.starts_with(streams::ACCOUNT) || stream.starts_with(streams::WEBHOOK)
}

/// The registry shared by every request handler.
pub struct LiveRegistry {
    store: Arc<dyn EventStore>,
    tracked: RwLock<Tracked>,
    /// Set once the subscription delivered its caught-up signal; `/readyz` waits for it.
    caught_up: AtomicBool,
}

impl LiveRegistry {
    /// Starts following the log on the current tokio runtime.
    pub fn start(store: Arc<dyn EventStore>) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let live = Arc::new(LiveRegistry { store, tracked: RwLock::default(), caught_up: AtomicBool::new(false) });
        let task = tokio::spawn(Arc::clone(&live).follow());
        (live, task)
    }

    pub fn is_caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire)
    }

    /// The registry as it is now; call [`ensure_current`](Self::ensure_current) first when the
    /// answer must include everything stored so far.
    pub async fn read(&self) -> RwLockReadGuard<'_, Tracked> {
        self.tracked.read().await
    }

    /// Brings the registry up to the store's head at the time of the call.
    ///
    /// No lock is held across a store read: each page is read outside the lock and applied
    /// under it, where [`Tracked::apply`] skips what the subscription applied meanwhile (its
    /// position check), so readers and the subscription never wait for the store.
    pub async fn ensure_current(&self) -> Result<(), StoreError> {
        let Some(head) = self.store.head().await? else {
            return Ok(());
        };
        loop {
            let seen = self.tracked.read().await.position;
            if seen.is_some_and(|p| p >= head) {
                return Ok(());
            }
            let from = seen.map_or(AllPosition::Start, AllPosition::Position);
            let batch = self.store.read_all(from, Direction::Forwards, READ_BATCH).await?;
            let mut tracked = self.tracked.write().await;
            let mut progressed = false;
            for event in &batch {
                progressed |= tracked.apply(event);
            }
            if !progressed && tracked.position == seen {
                // Nothing after our position although the head is further: the head moved
                // under us in a way reads do not show yet; what we have is as current as it gets.
                return Ok(());
            }
        }
    }

    /// Follows the log until the store closes, resubscribing after transient failures.
    async fn follow(self: Arc<Self>) {
        let filter = SubscriptionFilter::StreamPrefix(vec![streams::ACCOUNT.into(), streams::WEBHOOK.into()]);
        loop {
            let from = self.tracked.read().await.position.map_or(SubscribeFrom::Start, SubscribeFrom::After);
            let mut subscription = match self.store.subscribe_to_all(from, Some(filter.clone())).await {
                Ok(s) => s,
                Err(StoreError::Closed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "registry subscription failed; retrying");
                    tokio::time::sleep(SUBSCRIBE_FAILED.first_wait()).await;
                    continue;
                }
            };
            while let Some(item) = subscription.next().await {
                match item {
                    Ok(SubscriptionEvent::Event(event)) => {
                        self.tracked.write().await.apply(&event);
                    }
                    Ok(SubscriptionEvent::Checkpoint(position)) => self.tracked.write().await.advance(position),
                    Ok(SubscriptionEvent::CaughtUp) => {
                        self.caught_up.store(true, Ordering::Release);
                        tracing::debug!("registry caught up with the log");
                    }
                    Err(StoreError::Closed) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "registry subscription dropped; resubscribing");
                        break;
                    }
                }
            }
            tokio::time::sleep(Backoff::SUBSCRIBE.first_wait()).await;
        }
    }
}
