//! The conformance suite: every [`EventStore`] backend must pass these cases.
//!
//! A backend implements [`Backend`] (open a store whose data lives in a directory, again
//! after a close to check what survives) and expands [`conformance_tests!`] in a test file,
//! which writes one `#[tokio::test]` per case, so test output names every case:
//!
//! ```ignore
//! // crates/store/tests/sqlite_conformance.rs
//! struct Sqlite;
//! #[async_trait::async_trait]
//! impl packhooks_store::conformance::Backend for Sqlite {
//!     async fn open(&self, dir: &std::path::Path) -> std::sync::Arc<dyn packhooks_store::EventStore> {
//!         std::sync::Arc::new(packhooks_store::sqlite::SqliteStore::open(dir.join("events.sqlite")).unwrap())
//!     }
//! }
//! packhooks_store::conformance_tests!(Sqlite);
//! ```
//!
//! The crate using the macro needs `tokio` (with `macros` and `rt-multi-thread`) as a
//! dev-dependency. The cases assume nothing a backend may choose differently: positions
//! are compared by order only (EventStoreDB's are sparse, and commit ≠ prepare inside a
//! multi-event append), stream names are unique per case, and `$all` may hold the store's
//! own system events ([`RecordedEvent::is_system`]) anywhere: the cases look past them, as
//! every reader of the log must.
//!
//! The `server_*` cases hold only for a store in front of an EventStoreDB server (real, or
//! the wire test server that imitates one): system events on deletes and periodic
//! statistics, sparse positions. A backend runs them with `conformance_tests!(@cases …)`.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::EventStore;

mod appends;
mod concurrency;
mod deletes;
mod helpers;
mod idempotency;
mod lifecycle;
mod reads;
mod server;
mod subscriptions;

pub use self::appends::*;
pub use self::concurrency::*;
pub use self::deletes::*;
pub use self::idempotency::*;
pub use self::lifecycle::*;
pub use self::reads::*;
pub use self::server::*;
pub use self::subscriptions::*;

/// A store implementation under test.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Opens the store whose data lives in `dir` (empty on the first call). After `close`,
    /// the suite calls this again with the same `dir` and expects to find everything.
    async fn open(&self, dir: &Path) -> Arc<dyn EventStore>;
}

/// Expands to one `#[tokio::test]` per conformance case, each running against `$backend`.
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@cases $backend;
            append_no_stream_creates_the_stream_at_revision_zero,
            append_no_stream_to_an_existing_stream_conflicts,
            append_any_writes_to_missing_and_existing_streams,
            append_stream_exists_needs_the_stream,
            append_exact_revision_appends_after_that_revision,
            append_exact_revision_conflict_says_expected_and_actual,
            append_exact_revision_ahead_or_on_missing_stream_conflicts,
            append_positions_increase_across_streams,
            append_to_an_invalid_stream_name_is_rejected,
            idempotent_retry_with_any_writes_nothing,
            idempotent_retry_with_any_after_later_appends_answers_the_original,
            idempotent_retry_with_exact_revision_writes_nothing,
            idempotent_retry_with_no_stream_writes_nothing,
            idempotent_partial_overlap_is_a_conflict,
            read_stream_forwards_from_a_revision_with_max_count,
            read_stream_backwards_from_end_and_from_a_revision,
            read_missing_stream_is_not_found_but_an_empty_range_is_empty,
            read_all_forwards_and_backwards_from_a_position,
            read_all_backwards_pages_from_the_last_position_read,
            recorded_event_keeps_what_was_appended,
            soft_delete_hides_the_stream_and_appends_continue_numbering,
            soft_delete_checks_the_expected_revision,
            delete_of_a_stream_that_never_existed_is_a_conflict,
            soft_deleted_stream_deletes_again_at_its_last_revision,
            system_events_are_in_all_and_filters_leave_them_out,
            tombstone_refuses_reads_and_appends_for_good,
            head_is_none_when_empty_then_the_last_position,
            concurrent_appenders_race_and_exactly_one_wins_each_revision,
            concurrent_appenders_on_their_own_streams_all_succeed,
            subscribe_from_start_yields_history_caught_up_then_live,
            subscribe_after_a_position_excludes_it,
            subscribe_from_end_yields_only_new_events,
            subscription_under_concurrent_writers_has_no_gaps_or_duplicates,
            subscription_stream_prefix_filter_keeps_matching_streams,
            subscription_event_type_filter_keeps_matching_types,
            filtered_subscription_checkpoints_advance_a_sparse_filter,
            reopen_after_close_keeps_everything,
            append_after_close_is_refused,
        );
    };
    (@cases $backend:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::conformance::$case(&$backend).await;
            }
        )*
    };
}
