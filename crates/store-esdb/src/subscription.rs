//! Catch-up subscriptions to `$all`, mapped from the client's events to the trait's.
//!
//! The client yields `Confirmed`, `EventAppeared`, `Checkpoint`, `CaughtUp` and
//! `FellBehind`. The trait wants events, checkpoints and one `CaughtUp`, with strictly
//! increasing positions, from a start point that is exclusive. This module:
//! - drops `Confirmed` and `FellBehind` (after falling behind the server catches up again
//!   on the same stream, without a gap), and every `CaughtUp` after the first;
//! - keeps its own checkpoint, the last position it yielded (event or checkpoint), and
//!   never yields a position at or before it, so duplicates after a resubscription and
//!   checkpoints that repeat an event's position are dropped;
//! - resubscribes by itself after the connection drops, from that checkpoint (the client's
//!   own retry restarts from the last event, which loses a sparse filter's checkpoints),
//!   with backoff, and gives up with [`StoreError::Unavailable`] after
//!   [`RESUBSCRIBE_ATTEMPTS`] failures in a row.

use std::sync::Arc;
use std::time::Duration;

use eventstore::SubscribeToAllOptions;
use futures::StreamExt;
use packhooks_store::{
    Backoff, Position, StoreError, SubscribeFrom, Subscription, SubscriptionEvent, SubscriptionFilter,
};

use crate::connection::Connection;
use crate::convert::{from_client_event, from_client_position, to_client_position};
use crate::error::{client_is_dead, map_client_error, EsdbError};

/// Consecutive failed (re)subscriptions before the subscription ends with an error.
const RESUBSCRIBE_ATTEMPTS: u32 = 8;
/// The wait before resubscribing: 100 ms, doubled per consecutive failure (up to the last
/// try's 6.4 s).
const RESUBSCRIBE_BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(6400));

/// Subscribes and waits for the server's confirmation, so the subscription's start is fixed
/// when this returns (a subscription from the end sees everything appended after).
pub(crate) async fn subscribe(
    connection: Arc<Connection>,
    from: SubscribeFrom,
    filter: Option<SubscriptionFilter>,
) -> Result<Subscription, StoreError> {
    let mut feed = Feed {
        connection,
        filter: filter.map(to_client_filter),
        resume: from,
        inner: None,
        generation: 0,
        last: None,
        caught_up: false,
        failures: 0,
        backoff: RESUBSCRIBE_BACKOFF,
        done: false,
    };
    // From the end, a drop before the first event must not resume from the (then later)
    // end: it resumes after the head as it was before subscribing.
    let resume_if_dropped = match from {
        SubscribeFrom::End => {
            crate::store::head(&feed.connection).await?.map_or(SubscribeFrom::Start, SubscribeFrom::After)
        }
        other => other,
    };
    feed.confirm().await?;
    feed.resume = resume_if_dropped;
    Ok(futures::stream::unfold(feed, |mut feed| async move {
        let item = feed.next().await?;
        Some((item, feed))
    })
    .boxed())
}

fn to_client_filter(filter: SubscriptionFilter) -> eventstore::SubscriptionFilter {
    let (base, prefixes) = match filter {
        SubscriptionFilter::StreamPrefix(p) => (eventstore::SubscriptionFilter::on_stream_name(), p),
        SubscriptionFilter::EventTypePrefix(p) => (eventstore::SubscriptionFilter::on_event_type(), p),
    };
    prefixes.iter().fold(base, |filter, prefix| filter.add_prefix(prefix))
}

/// One subscription's state between two items.
struct Feed {
    connection: Arc<Connection>,
    filter: Option<eventstore::SubscriptionFilter>,
    /// Where the next (re)subscription starts: the original start (for `End`, after the head
    /// read before subscribing), then after `last`.
    resume: SubscribeFrom,
    inner: Option<eventstore::Subscription>,
    /// The client generation `inner` runs on.
    generation: u64,
    /// The last position yielded (our own checkpoint).
    last: Option<Position>,
    /// Whether `CaughtUp` was yielded already (the trait sends it once).
    caught_up: bool,
    /// Consecutive failures to (re)subscribe.
    failures: u32,
    /// How long the next resubscription waits.
    backoff: Backoff,
    done: bool,
}

impl Feed {
    /// Opens the first subscription and waits for its confirmation (the first answer).
    async fn confirm(&mut self) -> Result<(), StoreError> {
        let lease = self.connection.lease().await;
        self.generation = lease.generation;
        let mut inner = lease.client.subscribe_to_all(&self.options()).await;
        match inner.next_subscription_event().await {
            Ok(eventstore::SubscriptionEvent::Confirmed(_)) => {
                self.connection.succeeded(self.generation);
                self.inner = Some(inner);
                Ok(())
            }
            Ok(other) => Err(StoreError::Backend(Box::new(EsdbError::Protocol(format!(
                "a subscription began with {other:?} instead of a confirmation"
            ))))),
            Err(error) => {
                if client_is_dead(&error) {
                    self.connection.client_died(self.generation);
                }
                Err(map_client_error("$all", None, error))
            }
        }
    }

    async fn next(&mut self) -> Option<Result<SubscriptionEvent, StoreError>> {
        loop {
            if self.done {
                return None;
            }
            let inner = match self.inner.as_mut() {
                Some(inner) => inner,
                None => {
                    let lease = self.connection.lease().await;
                    let options = self.options();
                    self.generation = lease.generation;
                    self.inner.insert(lease.client.subscribe_to_all(&options).await)
                }
            };
            match inner.next_subscription_event().await {
                Ok(event) => {
                    if let Some(item) = self.take(event) {
                        return Some(Ok(item));
                    }
                }
                Err(error) => {
                    self.inner = None;
                    if client_is_dead(&error) {
                        self.connection.client_died(self.generation);
                    }
                    let error = map_client_error("$all", None, error);
                    self.failures += 1;
                    if !error.is_retryable() || self.failures >= RESUBSCRIBE_ATTEMPTS {
                        self.done = true;
                        return Some(Err(error));
                    }
                    let wait = self.backoff.next_wait();
                    tracing::warn!(%error, ?wait, resume = ?self.resume, "subscription to $all dropped; resubscribing");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn options(&self) -> SubscribeToAllOptions {
        let position = match self.resume {
            SubscribeFrom::Start => eventstore::StreamPosition::Start,
            SubscribeFrom::End => eventstore::StreamPosition::End,
            SubscribeFrom::After(position) => eventstore::StreamPosition::Position(to_client_position(position)),
        };
        let options = SubscribeToAllOptions::default().position(position);
        match &self.filter {
            Some(filter) => options.filter(filter.clone()),
            None => options,
        }
    }

    /// Maps one client event; `None` for what the trait does not see.
    fn take(&mut self, event: eventstore::SubscriptionEvent) -> Option<SubscriptionEvent> {
        use eventstore::SubscriptionEvent as Client;
        match event {
            Client::Confirmed(_) => {
                self.failures = 0;
                self.backoff.reset();
                self.connection.succeeded(self.generation);
                None
            }
            Client::EventAppeared(resolved) => {
                let event = from_client_event(&resolved);
                self.advance(event.position).then_some(SubscriptionEvent::Event(event))
            }
            Client::Checkpoint(position) => {
                let position = from_client_position(position);
                self.advance(position).then_some(SubscriptionEvent::Checkpoint(position))
            }
            Client::CaughtUp if !self.caught_up => {
                self.caught_up = true;
                Some(SubscriptionEvent::CaughtUp)
            }
            Client::FellBehind => {
                tracing::debug!("subscription to $all fell behind; the server catches up again");
                None
            }
            _ => None,
        }
    }

    /// Moves our checkpoint to `position` if it lies after it.
    fn advance(&mut self, position: Position) -> bool {
        if self.last.is_some_and(|last| position <= last) {
            return false;
        }
        self.last = Some(position);
        self.resume = SubscribeFrom::After(position);
        true
    }
}
