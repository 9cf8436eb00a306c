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
