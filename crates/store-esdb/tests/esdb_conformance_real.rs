//! The store conformance suite against a real EventStoreDB, when `PACKHOOKS_TEST_ESDB`
//! holds a connection string (e.g. `esdb://127.0.0.1:2113?tls=false&discoveryInterval=10`).
//!
//! Without it every case is `#[ignore]`d (build.rs sets the `packhooks_test_esdb` cfg only
//! when the variable is set at build time, and cargo rebuilds when it changes), so nextest
//! and `cargo test` report them as skipped, never as passes; `scripts/test` says how many
//! ran against a real server.
//!
//! Only the cases that hold on a shared, long-lived server run here: those about streams.
//! The cases that assert on the whole of `$all` (its exact content, an empty head, the
//! first event, every event of a prefix) cannot hold on a real server: its `$all` also
//! carries the server's own system events and every earlier run's events, and cases run
//! in parallel. They run over the wire test server instead (esdb_conformance_wire.rs).

/// One `#[tokio::test]` per conformance case against the real server, ignored unless the
/// server was named at build time (the conformance macro's own expansion cannot take the
/// attribute).
macro_rules! real_server_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(packhooks_test_esdb), ignore = "needs a real EventStoreDB: set PACKHOOKS_TEST_ESDB=esdb://…")]
            async fn $case() {
                packhooks_store::conformance::$case(&real_esdb()).await;
            }
        )*
    };
}

mod real_esdb {
    use std::path::Path;
    use std::sync::Arc;

    use packhooks_store::conformance::Backend;
    use packhooks_store::EventStore;
    use packhooks_store_esdb::EsdbStore;

    /// The server named by `PACKHOOKS_TEST_ESDB`.
    struct RealEsdb(String);

    /// The server to test against; a case runs only when the variable was set at build
    /// time, so its absence now is a mistake worth failing on.
    fn real_esdb() -> RealEsdb {
        match std::env::var("PACKHOOKS_TEST_ESDB") {
            Ok(target) if !target.trim().is_empty() => RealEsdb(target),
            _ => panic!("built with PACKHOOKS_TEST_ESDB but run without it: set it to the server's connection string"),
        }
    }

    #[async_trait::async_trait]
    impl Backend for RealEsdb {
        async fn open(&self, _dir: &Path) -> Arc<dyn EventStore> {
            Arc::new(EsdbStore::connect(&self.0).expect("connect to PACKHOOKS_TEST_ESDB"))
        }
    }

    real_server_cases!(
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
        delete_of_a_stream_that_never_existed_is_a_conflict,
        soft_deleted_stream_deletes_again_at_its_last_revision,
        server_positions_are_sparse_and_an_append_shares_its_commit,
        tombstone_refuses_reads_and_appends_for_good,
        concurrent_appenders_race_and_exactly_one_wins_each_revision,
        subscribe_from_end_yields_only_new_events,
        append_after_close_is_refused,
    );
}
