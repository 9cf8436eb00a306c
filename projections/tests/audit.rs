//! Audit views: paging both ways with cursors, a webhook's state at a time, the export, and
//! secrets redacted everywhere.

mod common;

use chrono::Duration;
use common::*;
use packhooks_domain::delivery::DeliveryCheckpoint;
use packhooks_domain::webhook::{EventType, Secret, WebhookSecretRotated, WebhookUpdated};
use packhooks_projections::audit;
use packhooks_store::{Direction, Position};

const FIRST_SECRET: &str = "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0";
const SECOND_SECRET: &str = "whsec_bmV3c2VjcmV0bmV3c2VjcmV0bmV3c2VjcmV0";

async fn history(env: &Env) -> packhooks_domain::WebhookId {
    let (wh, acc) = (webhook(1), account(1));
    let at = t0();
    append(env.store.as_ref(), &wh.stream(), &[created(wh, &acc, at)]).await;
    for i in 0..5 {
        let p = pack(1);
        append(env.store.as_ref(), &p.stream(), &[interested(&p, &acc, i, at + Duration::minutes(i as i64))]).await;
    }
    let rotated = WebhookSecretRotated {
        webhook_id: wh,
        secret: Secret::new(SECOND_SECRET.into()),
        secret_version: 2,
        previous_valid_until: at + Duration::hours(25),
        recorded_at: at + Duration::hours(1),
    };
    let updated = WebhookUpdated {
        webhook_id: wh,
        url: "https://example.com/v2".into(),
        events: vec![EventType::Declined],
        description: Some("second".into()),
        format: Default::default(),
        recorded_at: at + Duration::hours(2),
    };
    append(env.store.as_ref(), &wh.stream(), &[rotated.into(), updated.into(), disabled(wh, at + Duration::hours(3))])
        .await;
    wh
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_state_at_a_time_is_folded_from_its_events_without_secrets() {
    let env = Env::new();
    let wh = history(&env).await;
    let store = env.store.as_ref();
    let before = audit::webhook_at(store, wh, t0() - Duration::seconds(1)).await.unwrap();
    assert_eq!(serde_json::to_value(&before.state).unwrap()["state"], "none");

    let first =
        serde_json::to_value(audit::webhook_at(store, wh, t0() + Duration::minutes(30)).await.unwrap()).unwrap();
    assert_eq!(first["state"]["state"], "active");
    assert_eq!(first["state"]["url"], "https://example.com/hook");
    assert_eq!(first["state"]["secrets"]["version"], 1);
    assert_eq!(first["state"]["status"]["status"], "enabled");
    assert_eq!(first["events"], 1);

    let later = serde_json::to_value(audit::webhook_at(store, wh, t0() + Duration::hours(4)).await.unwrap()).unwrap();
    assert_eq!(later["state"]["url"], "https://example.com/v2");
    assert_eq!(later["state"]["events"], serde_json::json!(["declined"]));
    assert_eq!(later["state"]["secrets"]["version"], 2);
    assert_eq!(later["state"]["status"]["status"], "disabled");
    let text = later.to_string();
    assert!(!text.contains(FIRST_SECRET) && !text.contains(SECOND_SECRET), "no secret in {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_state_at_a_time_says_whether_its_deliveries_were_failing_then() {
    let env = Env::new();
    let (wh, acc) = (webhook(1), account(1));
    let store = env.store.as_ref();
    let at = |minutes: i64| t0() + Duration::minutes(minutes);
    append(store, &wh.stream(), &[created(wh, &acc, t0())]).await;
    let deliveries = wh.deliveries_stream();
    append(store, &deliveries, &[attempted(wh, 1, 3, 500, false, at(10)), flagged(wh, 1, at(20))]).await;
    // More attempts after the flag than one page of the backwards read holds.
    let failures: Vec<_> =
        (0..300).map(|n| attempted(wh, 100 + n, 1, 500, false, at(21) + Duration::seconds(n as i64))).collect();
    append(store, &deliveries, &failures).await;
    let checkpoint = DeliveryCheckpoint {
        webhook_id: wh,
        resume_position: None,
        pending: Vec::new(),
        failing_since: Some(at(20)),
        recorded_at: at(41),
    };
    append(store, &deliveries, &[checkpoint.into(), recovered(wh, 2, at(50)), attempted(wh, 3, 1, 200, false, at(51))])
        .await;

    let health = |minutes| async move {
        serde_json::to_value(audit::webhook_at(store, wh, at(minutes)).await.unwrap().health).unwrap()
    };
    assert_eq!(health(5).await, serde_json::json!({"status": "healthy", "failing_since": null}));
    let failing = serde_json::json!({"status": "failing", "failing_since": at(20)});
    assert_eq!(health(20).await, failing, "flagged at that very time");
    assert_eq!(health(26).await, failing, "the flag is older than a page of later events");
    assert_eq!(health(45).await, failing, "from the checkpoint");
    assert_eq!(health(50).await, serde_json::json!({"status": "healthy", "failing_since": null}));
}

/// The positions of every event the `$all` audit pages show, following their cursors.
async fn every_page(store: &dyn packhooks_store::EventStore, direction: Direction, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut from: Option<Position> = None;
    loop {
        let page = audit::all_page(store, from, direction, limit, false).await.unwrap();
        seen.extend(page.events.iter().map(|e| e.position.clone()));
        match page.next {
            Some(next) => from = Some(next.parse().unwrap()),
            None => return seen,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_both_ways_with_cursors_and_redacts_secrets() {
    let env = Env::new();
    let wh = history(&env).await;
    let store = env.store.as_ref();

    // $all forwards in pages of 3 visits all 9 events once, in order.
    let seen = every_page(store, Direction::Forwards, 3).await;
    assert_eq!(seen, (1..=9).map(|n| n.to_string()).collect::<Vec<_>>());
    // Backwards from the end.
    let back = audit::all_page(store, None, Direction::Backwards, 4, false).await.unwrap();
    let positions: Vec<_> = back.events.iter().map(|e| e.position.as_str()).collect();
    assert_eq!(positions, ["9", "8", "7", "6"]);
    assert_eq!(back.next.as_deref(), Some("5"));

    // One stream, backwards, then forwards from a revision.
    let stream = audit::stream_page(store, &wh.stream(), None, Direction::Backwards, 2).await.unwrap();
    let types: Vec<_> = stream.events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["WebhookDisabled", "WebhookUpdated"]);
    assert_eq!(stream.next.as_deref(), Some("1"));
    let rest = audit::stream_page(store, &wh.stream(), Some(1), Direction::Backwards, 2).await.unwrap();
    assert_eq!(rest.events[0].data["secret"], "whsec_[redacted]");
    assert_eq!(rest.events[1].data["secret"], "whsec_[redacted]");
    assert_eq!(rest.next, None);

    // The export holds every event, one JSON object a line, without secrets.
    let mut out = Vec::new();
    let written = audit::export(store, None, false, &mut out, &|_, _| {}).await.unwrap();
    assert_eq!(written, 9);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 9);
    assert!(!text.contains(FIRST_SECRET) && !text.contains(SECOND_SECRET));
    let mut tail = Vec::new();
    assert_eq!(audit::export(store, Some(Position::at(8)), false, &mut tail, &|_, _| {}).await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_events_are_hidden_unless_asked_for_and_backwards_pages_meet_every_event() {
    let env = Env::new();
    history(&env).await;
    let store = env.store.as_ref();
    // What an EventStoreDB server writes of its own between ours: a delete's metadata and
    // statistics, twice in a row at one place, and once more at the end.
    let system = |kind: &str| vec![packhooks_store::EventData::json(uuid::Uuid::new_v4(), kind, r#"{"$tb":1}"#, "{}")];
    let any = packhooks_store::ExpectedRevision::Any;
    store.append("$$pack-x", any, system("$metadata")).await.unwrap();
    store.append("$stats-127.0.0.1:2113", any, system("$statsCollected")).await.unwrap();
    append(store, &pack(2).stream(), &[interested(&pack(2), &account(1), 9, t0())]).await;
    store.append("$stats-127.0.0.1:2113", any, system("$statsCollected")).await.unwrap();

    let forwards = every_page(store, Direction::Forwards, 2).await;
    let ours: Vec<String> = (1..=9).chain([12]).map(|n: u64| n.to_string()).collect();
    assert_eq!(forwards, ours, "system events left out, the rest once each");

    let backwards = every_page(store, Direction::Backwards, 3).await;
    let mut newest_first = ours.clone();
    newest_first.reverse();
    assert_eq!(backwards, newest_first, "backwards pages from their cursor meet every event once");

    let everything = audit::all_page(store, None, Direction::Forwards, 100, true).await.unwrap();
    assert_eq!(everything.events.len(), 13, "asked for, system events are shown");
    assert_eq!(everything.events[9].stream, "$$pack-x");
    let mut out = Vec::new();
    assert_eq!(audit::export(store, None, false, &mut out, &|_, _| {}).await.unwrap(), 10);
    let mut out = Vec::new();
    assert_eq!(audit::export(store, None, true, &mut out, &|_, _| {}).await.unwrap(), 13);
}

/// The real store, counting the events that reads of `deliveries-` streams return.
struct CountingReads {
    inner: std::sync::Arc<dyn packhooks_store::EventStore>,
    deliveries_read: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl packhooks_store::EventStore for CountingReads {
    async fn append(
        &self,
        stream: &str,
        expected: packhooks_store::ExpectedRevision,
        events: Vec<packhooks_store::EventData>,
    ) -> Result<packhooks_store::AppendResult, packhooks_store::StoreError> {
        self.inner.append(stream, expected, events).await
    }
    async fn read_stream(
        &self,
        stream: &str,
        from: packhooks_store::StreamPosition,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<packhooks_store::RecordedEvent>, packhooks_store::StoreError> {
        let events = self.inner.read_stream(stream, from, direction, max_count).await?;
        if stream.starts_with("deliveries-") {
            self.deliveries_read.fetch_add(events.len(), std::sync::atomic::Ordering::SeqCst);
        }
        Ok(events)
    }
    async fn read_all(
        &self,
        from: packhooks_store::AllPosition,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<packhooks_store::RecordedEvent>, packhooks_store::StoreError> {
        self.inner.read_all(from, direction, max_count).await
    }
    async fn subscribe_to_all(
        &self,
        from: packhooks_store::SubscribeFrom,
        filter: Option<packhooks_store::SubscriptionFilter>,
    ) -> Result<packhooks_store::Subscription, packhooks_store::StoreError> {
        self.inner.subscribe_to_all(from, filter).await
    }
    async fn delete_stream(
        &self,
        stream: &str,
        expected: packhooks_store::ExpectedRevision,
    ) -> Result<Position, packhooks_store::StoreError> {
        self.inner.delete_stream(stream, expected).await
    }
    async fn tombstone_stream(
        &self,
        stream: &str,
        expected: packhooks_store::ExpectedRevision,
    ) -> Result<Position, packhooks_store::StoreError> {
        self.inner.tombstone_stream(stream, expected).await
    }
    async fn head(&self) -> Result<Option<Position>, packhooks_store::StoreError> {
        self.inner.head().await
    }
    async fn close(&self) -> Result<(), packhooks_store::StoreError> {
        self.inner.close().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_at_an_early_time_does_not_read_a_long_deliveries_stream_to_its_start() {
    let env = Env::new();
    let (wh, acc) = (webhook(1), account(1));
    let at = |minutes: i64| t0() + Duration::minutes(minutes);
    append(env.store.as_ref(), &wh.stream(), &[created(wh, &acc, at(0))]).await;
    let deliveries = wh.deliveries_stream();
    append(env.store.as_ref(), &deliveries, &[attempted(wh, 1, 3, 500, false, at(10)), flagged(wh, 1, at(20))]).await;
    append(env.store.as_ref(), &deliveries, &[recovered(wh, 2, at(30))]).await;
    // A long history after that: 20 000 attempts, a checkpoint after every 500 of them.
    let mut later = Vec::new();
    for n in 0..20_000i64 {
        later.push(attempted(wh, 10 + n as u128, 1, 200, false, at(40) + Duration::seconds(n)));
        if n % 500 == 499 {
            let checkpoint = DeliveryCheckpoint {
                webhook_id: wh,
                resume_position: None,
                pending: Vec::new(),
                failing_since: None,
                recorded_at: at(40) + Duration::seconds(n),
            };
            later.push(checkpoint.into());
        }
    }
    for chunk in later.chunks(2_000) {
        append(env.store.as_ref(), &deliveries, chunk).await;
    }
    let store = CountingReads { inner: env.store.clone(), deliveries_read: Default::default() };
    let read = |minutes| {
        let store = &store;
        async move {
            store.deliveries_read.store(0, std::sync::atomic::Ordering::SeqCst);
            let health = audit::webhook_at(store, wh, at(minutes)).await.unwrap().health;
            (serde_json::to_value(health).unwrap(), store.deliveries_read.load(std::sync::atomic::Ordering::SeqCst))
        }
    };
    let healthy = serde_json::json!({"status": "healthy", "failing_since": null});
    let failing = serde_json::json!({"status": "failing", "failing_since": at(20)});
    for (minutes, expected) in [(-5, &healthy), (5, &healthy), (25, &failing), (35, &healthy), (600, &healthy)] {
        let (health, read) = read(minutes).await;
        assert_eq!(&health, expected, "at minute {minutes}");
        // What is recorded after the time asked is not read through: a few single events to
        // find where that time is, then back to the nearest health event.
        assert!(read <= 1_000, "at minute {minutes}: {read} events of the deliveries stream read");
    }
}
