//! What delivery is told by the settings: retry policy, limits, timeouts and switches.
//!
//! Built by the binary from its `DeliverySettings`; tests build it by hand with short delays.

use std::sync::Arc;
use std::time::Duration;

use packhooks_domain::delivery::RetryPolicy;
use packhooks_domain::webhook::UrlPolicy;
use packhooks_domain::WebhookId;

use crate::DeliveryMetrics;

/// Which share of the webhooks this instance drives (for several instances on one store).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This instance's index, `0..count`.
    pub index: u32,
    /// How many instances share the webhooks; 1 drives them all.
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// Whether this instance drives `webhook`: the id's UUID read as a big-endian `u128`,
    /// modulo the count. Stable across processes, builds and restarts (unlike std's
    /// randomised hasher), so every instance agrees on each webhook's owner.
    pub fn owns(&self, webhook: WebhookId) -> bool {
        self.count <= 1 || (webhook.uuid().as_u128() % u128::from(self.count)) as u32 == self.index
    }
}

/// Everything delivery needs to know from the settings.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    pub retry: RetryPolicy,
    /// One attempt, connect to last byte of the (truncated) answer, must finish within this.
    pub attempt_timeout: Duration,
    /// Attempts in flight at once per webhook; more wait in that webhook's queue, so a slow
    /// endpoint only ever holds back its own deliveries.
    pub in_flight_per_webhook: usize,
    /// A `DeliveryCheckpoint` is appended after this many events of a `deliveries-` stream,
    /// which bounds how much a restarting actor reads.
    pub checkpoint_every: u32,
    /// A webhook failing with no success for this long is disabled.
    pub auto_disable_after: Duration,
    /// Disable a webhook as soon as its endpoint answers `410 Gone`.
    pub disable_on_gone: bool,
    /// Allow private, loopback, link-local, … targets (tests and local demos only).
    pub allow_private_targets: bool,
    /// At most this many outcome events go in one append. An idle actor appends each
    /// outcome at once; while an append is running, the next outcomes collect and go
    /// together in the following one, so appends batch themselves under load.
    pub batch_max: usize,
    pub shard: Shard,
    /// Threads the webhook actors run on (each an actix arbiter; actors are spread over
    /// them), beside the dispatcher's own.
    pub actor_threads: usize,
    /// The `user-agent` header.
    pub user_agent: String,
    /// Counters the actors bump; the binary shows them on `/metrics`.
    pub metrics: Arc<DeliveryMetrics>,
    /// Routed events an actor keeps in memory beyond its window; past that it drops them and
    /// reads them back from the log once it has caught up (see `refill`).
    pub backlog_cap: usize,
    /// Messages queued in a webhook actor's mailbox at most; past that the dispatcher waits
    /// for room before it routes on, so what is queued for a slow actor stays bounded.
    pub mailbox_capacity: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            retry: RetryPolicy::default(),
            attempt_timeout: Duration::from_secs(10),
            in_flight_per_webhook: 16,
            checkpoint_every: 100,
            auto_disable_after: Duration::from_secs(7 * 24 * 3600),
            disable_on_gone: true,
            allow_private_targets: false,
            batch_max: 256,
            shard: Shard::default(),
            actor_threads: 1,
            user_agent: concat!("packhooks/", env!("CARGO_PKG_VERSION")).to_owned(),
            metrics: Arc::default(),
            backlog_cap: 65_536,
            mailbox_capacity: 1024,
        }
    }
}

impl DeliveryConfig {
    pub fn url_policy(&self) -> UrlPolicy {
        UrlPolicy { allow_private_targets: self.allow_private_targets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(n: u128) -> WebhookId {
        WebhookId::from_uuid(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn each_webhook_has_exactly_one_owner_among_the_shards() {
        for count in 1..=5u32 {
            for n in 0..200u128 {
                let id = webhook(n * 7_919 + 13);
                let owners = (0..count).filter(|&index| Shard { index, count }.owns(id)).count();
                assert_eq!(owners, 1, "{id} in {count} shards");
            }
        }
    }

    #[test]
    fn ownership_is_the_uuid_modulo_the_count() {
        // Fixed values: a change of the hash would move webhooks between running instances.
        let id = WebhookId::from_uuid(uuid::Uuid::parse_str("0190f2a4-6b1c-7d3e-8f00-00000000000b").unwrap());
        assert!(Shard { index: 1, count: 2 }.owns(id));
        assert!(Shard { index: 1, count: 3 }.owns(id));
        assert!(Shard { index: 0, count: 1 }.owns(id));
        assert!(!Shard { index: 0, count: 2 }.owns(id));
    }
}
