//! The store conformance suite against a real EventStoreDB, when `PACKHOOKS_TEST_ESDB`
//! holds a connection string (e.g. `esdb://127.0.0.1:2113?tls=false&discoveryInterval=10`).
//! Without it every case returns at once and says so; the module name makes the skip
//! visible in the test list: `real_esdb_skipped_unless_PACKHOOKS_TEST_ESDB::<case>`.
//!
//! Only the cases that hold on a shared, long-lived server run here: those about streams.
//! The cases that assert on the whole of `$all` (its exact content, an empty head, the
//! first event, every event of a prefix) cannot hold on a real server: its `$all` also
//! carries the server's own system events and every earlier run's events, and cases run
//! in parallel. They run over the wire test server instead (esdb_conformance_wire.rs).

#![allow(non_snake_case)]

const VARIABLE: &str = "PACKHOOKS_TEST_ESDB";

/// Says plainly, once per run, whether the real-server suite ran.
#[test]
fn real_esdb_suite_skipped_unless_PACKHOOKS_TEST_ESDB() {
    match std::env::var(VARIABLE) {
        Ok(target) if !target.trim().is_empty() => println!("real EventStoreDB suite: running against {VARIABLE}"),
        _ => println!(
            "SKIPPED: the real EventStoreDB suite needs {VARIABLE}=esdb://…; nothing ran against a real server"
        ),
    }
}

mod real_esdb_skipped_unless_PACKHOOKS_TEST_ESDB {
    use std::path::Path;
    use std::sync::Arc;

    use packhooks_store::conformance::Backend;
    use packhooks_store::EventStore;
    use packhooks_store_esdb::EsdbStore;

    /// The server named by the variable; `None` (and a printed reason) without it.
    struct RealEsdb(String);

    fn real_esdb() -> Option<RealEsdb> {
        match std::env::var(super::VARIABLE) {
            Ok(target) if !target.trim().is_empty() => Some(RealEsdb(target)),
            _ => {
                println!("SKIPPED: {} is not set", super::VARIABLE);
                None
            }
        }
    }

    #[async_trait::async_trait]
    impl Backend for RealEsdb {
        async fn open(&self, _dir: &Path) -> Arc<dyn EventStore> {
            Arc::new(EsdbStore::connect(&self.0).expect("connect to PACKHOOKS_TEST_ESDB"))
        }
    }

    packhooks_store::conformance_tests!(@cases match real_esdb() { Some(backend) => backend, None => return };
        append_no_stream_creates_the_stream_at_revision_zero,
        append_no_stream_to_an_existing_stream_conflicts,
        append_any_writes_to_missing_and_existing_streams,
        append_stream_exists_needs_the_stream,
        append_exact_revision_appends_after_that_revision,
        append_exact_revision_conflict_says_expected_and_actual,
        append_exact_revision_ahead_or_on_missing_stream_conflicts,
        idempotent_retry_with_any_writes_nothing,
        idempotent_retry_with_exact_revision_writes_nothing,
        idempotent_retry_with_no_stream_writes_nothing,
        idempotent_partial_overlap_is_a_conflict,
        read_stream_forwards_from_a_revision_with_max_count,
        read_stream_backwards_from_end_and_from_a_revision,
        read_missing_stream_is_not_found_but_an_empty_range_is_empty,
        soft_delete_hides_the_stream_and_appends_continue_numbering,
        soft_delete_checks_the_expected_revision,
        tombstone_refuses_reads_and_appends_for_good,
        concurrent_appenders_race_and_exactly_one_wins_each_revision,
        subscribe_from_end_yields_only_new_events,
        append_after_close_is_refused,
    );
}
