//! Account totals count each submission for the account it was made for, also when another
//! account's submissions name the same pack id (a submission carries its own `account_id`,
//! and the dispatcher routes it to that account's webhooks).

mod common;

use chrono::Duration;
use common::*;
use packhooks_domain::submission::{DeclineReason, StandardReason};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_totals_keep_its_submissions_when_another_account_submits_to_the_same_pack() {
    let env = Env::new();
    let store = env.store.as_ref();
    let (p, a1, a2) = (pack(1), account(1), account(2));
    let at = t0();
    append(store, &p.stream(), &[interested(&p, &a1, 1, at)]).await;
    append(store, &p.stream(), &[interested(&p, &a1, 2, at + Duration::minutes(1))]).await;
    let compensation = DeclineReason::Standard(StandardReason::Compensation);
    append(store, &p.stream(), &[declined(&p, &a2, 3, compensation, at + Duration::days(1))]).await;

    let projections = env.projections();
    let runner = projections.start();
    wait_caught_up(&projections).await;
    runner.shutdown().await;
    let read = projections.read_models();

    let one = read.account_stats(a1.to_string()).await.unwrap();
    assert_eq!((one.packs, one.stats.interested, one.stats.declined), (1, 2, 0), "acc_1 keeps its two: {one:?}");
    assert!(one.stats.decline_reasons.is_empty(), "acc_2's decline is not acc_1's: {one:?}");
    assert_eq!(one.stats.per_day.len(), 1, "{one:?}");
    let two = read.account_stats(a2.to_string()).await.unwrap();
    assert_eq!((two.packs, two.stats.interested, two.stats.declined), (1, 0, 1), "acc_2 has its one: {two:?}");
    assert_eq!(two.stats.decline_reasons.len(), 1, "{two:?}");
    assert_eq!(two.stats.per_day.len(), 1, "{two:?}");

    // The pack's own statistics count every submission to it, and name its latest account.
    let pk = read.pack_stats(p.to_string()).await.unwrap();
    assert_eq!((pk.stats.interested, pk.stats.declined), (2, 1), "{pk:?}");
    assert_eq!(pk.account_id.as_deref(), Some("acc_2"));
    assert_eq!(pk.stats.per_day.len(), 2, "{pk:?}");
    assert_eq!(pk.stats.decline_reasons[0].count, 1);

    // A rebuild agrees row for row.
    let fresh = env.dir.path().join("fresh.sqlite");
    env.projections_at(&fresh).rebuild(None, None).await.unwrap();
    assert_eq!(dump_all(&fresh), dump_all(&env.db()));
}

/// What version 1 of pack statistics (one row per pack) wrote for the submissions below, as a
/// read-model file of the release before keeps them.
const VERSION_1: &str = "
    CREATE TABLE pack_stats_g1 (pack_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, pack_name TEXT NOT NULL,
        interested INTEGER NOT NULL, declined INTEGER NOT NULL, last_submission_at INTEGER,
        last_submission_id TEXT) WITHOUT ROWID;
    CREATE INDEX pack_stats_g1_account ON pack_stats_g1 (account_id);
    CREATE TABLE pack_reasons_g1 (pack_id TEXT NOT NULL, custom INTEGER NOT NULL, reason TEXT NOT NULL,
        count INTEGER NOT NULL, PRIMARY KEY (pack_id, custom, reason)) WITHOUT ROWID;
    CREATE TABLE pack_daily_g1 (pack_id TEXT NOT NULL, day TEXT NOT NULL, interested INTEGER NOT NULL,
        declined INTEGER NOT NULL, PRIMARY KEY (pack_id, day)) WITHOUT ROWID;
    INSERT INTO pack_reasons_g1 VALUES ('pk_1', 0, 'compensation', 1);
    INSERT INTO pack_daily_g1 VALUES ('pk_1', '2026-11-27', 2, 1);
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_set_keeps_serving_until_its_rebuild_as_version_2_is_swapped_in() {
    let env = Env::new();
    let store = env.store.as_ref();
    let (p, a1) = (pack(1), account(1));
    let at = t0();
    append(store, &p.stream(), &[interested(&p, &a1, 1, at)]).await;
    append(store, &p.stream(), &[interested(&p, &a1, 2, at)]).await;
    let compensation = DeclineReason::Standard(StandardReason::Compensation);
    let head = append(store, &p.stream(), &[declined(&p, &a1, 3, compensation, at)]).await;

    let conn = packhooks_projections::db::open(&env.db()).unwrap();
    conn.execute_batch(VERSION_1).unwrap();
    conn.execute(
        "INSERT INTO pack_stats_g1 VALUES ('pk_1', 'acc_1', 'Pack pk_1', 2, 1, ?1, ?2)",
        rusqlite::params![
            at.timestamp_micros(),
            packhooks_domain::SubmissionId::from_uuid(uuid::Uuid::from_u128(3)).to_string()
        ],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO projection_versions (name, generation, version, state, checkpoint_commit, checkpoint_prepare, \
         events_applied, heartbeat_at) VALUES ('pack_stats', 1, 1, 'active', ?1, ?2, 3, '2026-11-27T08:00:00Z')",
        [head.commit as i64, head.prepare as i64],
    )
    .unwrap();
    drop(conn);

    // The release before's tables serve until the new version's are swapped in.
    let check = |what: &'static str| {
        let read = packhooks_projections::ReadModels::open(&env.db()).unwrap();
        async move {
            let account = read.account_stats("acc_1".into()).await.unwrap_or_else(|e| panic!("{what}: {e:?}"));
            assert_eq!((account.packs, account.stats.interested, account.stats.declined), (1, 2, 1), "{what}");
            assert_eq!(account.stats.decline_reasons.len(), 1, "{what}");
            assert_eq!(account.stats.per_day.len(), 1, "{what}");
            let pk = read.pack_stats("pk_1".into()).await.unwrap_or_else(|e| panic!("{what}: {e:?}"));
            assert_eq!((pk.stats.interested, pk.stats.declined, pk.stats.per_day.len()), (2, 1, 1), "{what}");
            assert_eq!(pk.account_id.as_deref(), Some("acc_1"), "{what}");
        }
    };
    check("version 1").await;

    let projections = env.projections();
    let runner = projections.start();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let conn = packhooks_projections::db::open(&env.db()).unwrap();
        let active =
            packhooks_projections::db::set_in_state(&conn, "pack_stats", packhooks_projections::db::SetState::Active)
                .unwrap()
                .unwrap();
        // Version 2 or any later one: the code's version is what a start rebuilds to.
        if active.version
            == packhooks_projections::Projection::version(&packhooks_projections::pack_stats::PackStatsProjection)
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the code's version never became active");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    wait_caught_up(&projections).await;
    runner.shutdown().await;
    check("version 2").await;
}
