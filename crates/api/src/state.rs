//! What every handler can reach: the store, the clock, the API's configuration, the live
//! registry, per-account command locks, and extensions other parts register (the delivery
//! dispatcher, the projections) without this crate knowing their types.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use packhooks_domain::clock::Clock;
use packhooks_domain::AccountId;
use packhooks_store::EventStore;

use crate::auth::TokenTable;
use crate::live_registry::LiveRegistry;
use crate::routes::metrics::HttpMetrics;

/// The API's part of the settings.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub tokens: TokenTable,
    /// At most this many live webhooks per account (`PACKHOOKS_MAX_WEBHOOKS`).
    pub max_webhooks: usize,
    /// Webhook URLs may name private, loopback or link-local literal addresses (tests, demos).
    pub allow_private_targets: bool,
    /// After a rotation the previous secret keeps signing this long, so receivers can switch.
    pub secret_rotation_overlap: Duration,
}

/// Shared by every handler as `web::Data<ApiState>`.
#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<dyn EventStore>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<ApiConfig>,
    pub registry: Arc<LiveRegistry>,
    /// Request counters for `/metrics`.
    pub metrics: Arc<HttpMetrics>,
    account_locks: Arc<AccountLocks>,
    extensions: Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl ApiState {
    /// Builds the state and starts the registry follower on the current tokio runtime; the
    /// returned handle ends the follower when aborted.
    pub fn new(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        config: ApiConfig,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (registry, follower) = LiveRegistry::start(Arc::clone(&store));
        let state = ApiState {
            store,
            clock,
            config: Arc::new(config),
            registry,
            metrics: Arc::default(),
            account_locks: Arc::default(),
            extensions: Arc::default(),
        };
        (state, follower)
    }

    /// Registers a shared service (a dispatcher handle, a read-model pool, …) that routes of
    /// other crates fetch with [`extension`](Self::extension). Call before the server starts.
    pub fn with_extension<T: Send + Sync + 'static>(mut self, value: Arc<T>) -> Self {
        Arc::make_mut(&mut self.extensions).insert(TypeId::of::<T>(), value);
        self
    }

    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.extensions.get(&TypeId::of::<T>()).cloned().and_then(|v| v.downcast::<T>().ok())
    }

    /// The lock that serialises commands deciding on one account's registry state (creating a
    /// webhook counts the account's webhooks: two creates at once must not both see 3).
    pub fn account_lock(&self, account: &AccountId) -> Arc<tokio::sync::Mutex<()>> {
        self.account_locks.get(account)
    }
}

/// A sweep of idle account locks happens once the map holds at least this many.
const ACCOUNT_LOCKS_SWEEP_FLOOR: usize = 64;

/// One lock per account, bounded: a lock no command holds or waits for (only the map refers
/// to it; a command keeps a clone while it waits and holds) is dropped at the next sweep, and
/// a sweep comes whenever the map has doubled since the last one. So the map holds about
/// twice the accounts busy at once, not every account ever seen, at an amortised constant
/// cost per command.
#[derive(Default)]
struct AccountLocks(Mutex<Locks>);

#[derive(Default)]
struct Locks {
    map: HashMap<AccountId, Arc<tokio::sync::Mutex<()>>>,
    /// The size at which the next sweep comes.
    sweep_at: usize,
}

impl AccountLocks {
    fn get(&self, account: &AccountId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.0.lock().expect("account locks poisoned");
        if locks.map.len() >= locks.sweep_at.max(ACCOUNT_LOCKS_SWEEP_FLOOR) {
            locks.map.retain(|_, lock| Arc::strong_count(lock) > 1);
            locks.sweep_at = 2 * locks.map.len();
        }
        Arc::clone(locks.map.entry(account.clone()).or_default())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().expect("account locks poisoned").map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str) -> AccountId {
        AccountId::parse(name).expect("account id")
    }

    #[test]
    fn idle_account_locks_are_dropped_so_the_map_stays_bounded_and_a_held_one_is_kept() {
        let locks = AccountLocks::default();
        let held = locks.get(&account("acc_held"));
        for n in 0..10_000 {
            drop(locks.get(&account(&format!("acc_{n}"))));
        }
        assert!(locks.len() <= 2 * ACCOUNT_LOCKS_SWEEP_FLOOR, "{} locks kept for 1 account busy", locks.len());
        assert!(Arc::ptr_eq(&held, &locks.get(&account("acc_held"))), "a held lock was replaced");
    }
}
