//! The store's part of `/metrics`: [`MeteredStore`] wraps whichever backend `serve` opened
//! and times every append by how it ended, so the API's commands and the webhook actors'
//! outcome appends are measured in one place, on either backend. The rest of the metrics
//! are registered by their owners (`packhooks_api::routes::metrics::Exposition`,
//! `packhooks_delivery::DeliveryMetrics`).

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use packhooks_store::{
    AllPosition, AppendResult, Direction, EventData, EventStore, ExpectedRevision, Position, RecordedEvent,
    StoreError, StreamPosition, SubscribeFrom, Subscription, SubscriptionFilter,
};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

type Outcome = [(&'static str, &'static str); 1];

/// Appends from 0.1 ms to about 3 s (a synced SQLite commit is around a millisecond; a
/// quorum write to EventStoreDB a few).
fn append_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// An [`EventStore`] that times its appends; everything else passes straight through.
pub struct MeteredStore {
    inner: Arc<dyn EventStore>,
    /// By `outcome`: `ok`, `conflict` (a wrong expected revision: a command retried or an
    /// actor stopped), or `error` (the store refused or could not be reached).
    appends: Family<Outcome, Histogram, fn() -> Histogram>,
}

impl MeteredStore {
    /// Wraps `inner` and registers the append histogram in `registry`.
    pub fn wrap(inner: Arc<dyn EventStore>, registry: &mut Registry) -> Arc<dyn EventStore> {
        let appends = Family::<Outcome, Histogram, fn() -> Histogram>::new_with_constructor(append_buckets);
        registry.register_with_unit(
            "packhooks_store_append_duration",
            "How long appends to the event store took until durable, by outcome (ok, conflict, error).",
            Unit::Seconds,
            appends.clone(),
        );
        Arc::new(MeteredStore { inner, appends })
    }
}

#[async_trait]
impl EventStore for MeteredStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        let started = Instant::now();
        let result = self.inner.append(stream, expected, events).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(StoreError::WrongExpectedVersion { .. }) => "conflict",
            Err(_) => "error",
        };
        self.appends.get_or_create(&[("outcome", outcome)]).observe(started.elapsed().as_secs_f64());
        result
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: StreamPosition,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream, from, direction, max_count).await
    }

    async fn read_all(
        &self,
        from: AllPosition,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(from, direction, max_count).await
    }

    async fn subscribe_to_all(
        &self,
        from: SubscribeFrom,
        filter: Option<SubscriptionFilter>,
    ) -> Result<Subscription, StoreError> {
        self.inner.subscribe_to_all(from, filter).await
    }

    async fn delete_stream(&self, stream: &str, expected: ExpectedRevision) -> Result<Position, StoreError> {
        self.inner.delete_stream(stream, expected).await
    }

    async fn tombstone_stream(&self, stream: &str, expected: ExpectedRevision) -> Result<Position, StoreError> {
        self.inner.tombstone_stream(stream, expected).await
    }

    async fn head(&self) -> Result<Option<Position>, StoreError> {
        self.inner.head().await
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.inner.close().await
    }
}
