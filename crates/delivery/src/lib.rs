//! Delivery: routes every submission (and test event) of the log to the webhooks it goes to,
//! and delivers it, signed, with retries, health tracking and an SSRF guard.
//!
//! - [`dispatcher`]: the `Dispatcher` actor, which follows `$all` in log order with the
//!   domain's routing registry and resumes from the webhook actors' own checkpoints;
//! - [`webhook_actor`]: one `WebhookActor` per webhook (queue, in-flight limit, retries,
//!   health, its `deliveries-` stream);
//! - [`sender`]: one signed POST over awc and its closed outcome; [`signing`]: Standard
//!   Webhooks signatures; [`guard`]: the SSRF check at connect time;
//! - [`resume`]: loading an actor's state from its stream (folded by the domain's
//!   `DeliveryState`); [`timer`]: timers on the injected clock (the waits of infrastructure
//!   retries are the store's `Backoff`); [`refill`]: reading a lagging
//!   webhook's routed events back from the log; [`message`]: the body;
//!   `outcome`: outcome events serialised on the actor's hot path; [`DeliveryMetrics`]:
//!   its Prometheus metrics; `spans`: the tracing spans of routing and attempts.
//!
//! Start it with [`Delivery::start`] inside an actix system; stop it with
//! [`DeliveryHandle::stop`].

mod config;
pub mod dispatcher;
mod error;
pub mod guard;
pub mod message;
mod metrics;
mod outcome;
pub mod refill;
pub mod resume;
pub mod sender;
pub mod signing;
mod spans;
pub mod timer;
pub mod webhook_actor;

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use packhooks_domain::clock::Clock;
use packhooks_store::EventStore;

pub use config::{DeliveryConfig, Shard};
pub use dispatcher::Dispatcher;
pub use error::DeliveryError;
pub use metrics::DeliveryMetrics;

/// The entry point for the binary.
pub struct Delivery;

impl Delivery {
    /// Starts the dispatcher (and, through it, the webhook actors) on the current actix
    /// arbiter. It reads the lifecycle history and resumes in the background.
    pub fn start(store: Arc<dyn EventStore>, config: DeliveryConfig, clock: Arc<dyn Clock>) -> DeliveryHandle {
        let grace = config.attempt_timeout + Duration::from_secs(2);
        let dispatcher = Dispatcher::new(store, Arc::new(config), clock).start();
        DeliveryHandle { dispatcher, grace }
    }
}

/// Keeps delivery running; [`DeliveryHandle::stop`] ends it gracefully.
#[derive(Clone)]
pub struct DeliveryHandle {
    dispatcher: Addr<Dispatcher>,
    /// How long `stop` waits for attempts in flight: one attempt timeout and a margin.
    grace: Duration,
}

impl DeliveryHandle {
    /// Stops following the log, lets attempts in flight finish and their outcomes be
    /// appended (up to the attempt timeout), then stops every actor.
    pub async fn stop(&self) -> Result<(), DeliveryError> {
        match tokio::time::timeout(self.grace, self.dispatcher.send(dispatcher::StopDispatcher)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(actix::MailboxError::Closed)) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(DeliveryError::Timeout("attempts in flight to finish")),
        }
    }
}
