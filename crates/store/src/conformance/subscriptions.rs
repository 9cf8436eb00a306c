//! Catch-up subscriptions to `$all`: history, caught up, live; filters and checkpoints.

use super::helpers::*;

pub async fn subscribe_from_start_yields_history_caught_up_then_live(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    let history = events(5);
    store.append(&s, ExpectedRevision::NoStream, history.clone()).await.expect("append");
    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, None).await.expect("subscribe");
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.caught_up > 0).await;
    assert_eq!(ids(&seen.events), data_ids(&history), "history comes before caught-up");
    let live = events(3);
    store.append(&s, ExpectedRevision::Exact(4), live.clone()).await.expect("append live");
    seen.until(&mut sub, |seen| seen.events.len() == 8).await;
    assert_eq!(ids(&seen.events[5..]), data_ids(&live), "then live events");
    assert_eq!(seen.caught_up, 1);
    assert_eq!(seen.events_before_caught_up, Some(5));
    assert_increasing(&seen.yielded);
}

pub async fn subscribe_after_a_position_excludes_it(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    let batch = events(6);
    store.append(&s, ExpectedRevision::NoStream, batch.clone()).await.expect("append");
    let all = read_everything(&*store).await;
    let mut sub = store.subscribe_to_all(SubscribeFrom::After(all[2].position), None).await.expect("subscribe");
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.caught_up > 0).await;
    assert_eq!(ids(&seen.events), data_ids(&batch[3..]), "the position itself is excluded");

    let last = all.last().expect("events").position;
    let mut at_head = store.subscribe_to_all(SubscribeFrom::After(last), None).await.expect("subscribe");
    let mut seen = Seen::default();
    seen.until(&mut at_head, |seen| seen.caught_up > 0).await;
    assert!(seen.events.is_empty(), "nothing after the head");
    let next = event(7);
    store.append(&s, ExpectedRevision::Any, vec![next.clone()]).await.expect("append");
    seen.until(&mut at_head, |seen| !seen.events.is_empty()).await;
    assert_eq!(ids(&seen.events), vec![next.id]);
}

pub async fn subscribe_from_end_yields_only_new_events(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    store.append(&s, ExpectedRevision::NoStream, events(4)).await.expect("append");
    let mut sub = store.subscribe_to_all(SubscribeFrom::End, None).await.expect("subscribe");
    let first = next_item(&mut sub).await;
    assert_eq!(first, SubscriptionEvent::CaughtUp, "from the end, caught-up comes first");
    let live = events(2);
    store.append(&s, ExpectedRevision::Any, live.clone()).await.expect("append");
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.events.len() == 2).await;
    assert_eq!(ids(&seen.events), data_ids(&live));
    assert_eq!(seen.caught_up, 0, "caught-up came once, before");
}

pub async fn subscription_under_concurrent_writers_has_no_gaps_or_duplicates(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    const WRITERS: usize = 8;
    const APPENDS: usize = 60;
    store.append(&stream("before"), ExpectedRevision::Any, events(50)).await.expect("history");
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let s = stream("pack");
                for n in 0..APPENDS {
                    // Alternate single events and small batches.
                    let batch = events(1 + (w + n) % 3);
                    store.append(&s, ExpectedRevision::Any, batch).await.expect("append");
                }
            })
        })
        .collect();
    // Subscribe while the writers run, so history and live meet under load.
    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, None).await.expect("subscribe");
    let mut early = store.subscribe_to_all(SubscribeFrom::End, None).await.expect("subscribe");
    for writer in writers {
        tokio::time::timeout(WAIT, writer).await.expect("writer finishes").expect("writer task");
    }
    let all = read_everything(&*store).await;
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.events.len() >= all.len() && seen.caught_up > 0).await;
    assert_eq!(seen.caught_up, 1, "caught-up arrives exactly once");
    assert_increasing(&seen.yielded);
    assert_eq!(ids(&seen.events), ids(&all), "every event exactly once, in $all order");

    // A subscriber from the end sees a gapless suffix of $all.
    let mut tail = Seen::default();
    tail.take(next_item(&mut early).await);
    assert_eq!(tail.caught_up, 1);
    let last = all.last().expect("events").position;
    tail.until(&mut early, |t| t.events.last().map(|e| e.position) == Some(last)).await;
    let start = all.len() - tail.events.len();
    assert_eq!(ids(&tail.events), ids(&all[start..]), "live events are a gapless suffix of $all");
}

pub async fn subscription_stream_prefix_filter_keeps_matching_streams(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let (pack, other) = (stream("pack"), stream("account"));
    let mut wanted = Vec::new();
    for i in 0..6 {
        let batch = events(2);
        if i % 2 == 0 {
            wanted.extend(data_ids(&batch));
            store.append(&pack, ExpectedRevision::Any, batch).await.expect("append");
        } else {
            store.append(&other, ExpectedRevision::Any, batch).await.expect("append");
        }
    }
    let filter = SubscriptionFilter::StreamPrefix(vec!["pack-".into(), "nothing-".into()]);
    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, Some(filter)).await.expect("subscribe");
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.caught_up > 0).await;
    assert_eq!(ids(&seen.events), wanted);
    let live_other = event(1);
    let live_pack = event(2);
    store.append(&other, ExpectedRevision::Any, vec![live_other.clone()]).await.expect("append");
    store.append(&pack, ExpectedRevision::Any, vec![live_pack.clone()]).await.expect("append");
    seen.until(&mut sub, |seen| seen.has_event(live_pack.id)).await;
    assert!(!seen.has_event(live_other.id), "live events are filtered too");
    assert!(seen.events.iter().all(|e| e.stream.starts_with("pack-")));
    assert_increasing(&seen.yielded);
}

pub async fn subscription_event_type_filter_keeps_matching_types(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    let typed = |t: &str| EventData::json(Uuid::new_v4(), t, "{}", "{}");
    let batch = vec![typed("CandidateInterested"), typed("WebhookCreated"), typed("CandidateDeclined"), typed("Other")];
    store.append(&s, ExpectedRevision::Any, batch.clone()).await.expect("append");
    let filter = SubscriptionFilter::EventTypePrefix(vec!["Candidate".into()]);
    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, Some(filter)).await.expect("subscribe");
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.caught_up > 0).await;
    assert_eq!(ids(&seen.events), vec![batch[0].id, batch[2].id]);
    let live = vec![typed("WebhookDeleted"), typed("CandidateInterested")];
    store.append(&s, ExpectedRevision::Any, live.clone()).await.expect("append");
    seen.until(&mut sub, |seen| seen.has_event(live[1].id)).await;
    assert!(!seen.has_event(live[0].id));
    assert!(seen.events.iter().all(|e| e.event_type.starts_with("Candidate")));
}

/// Asserts that no more than [`CHECKPOINT_INTERVAL`] events of `$all` lie strictly after one
/// yielded position and up to the next.
fn assert_checkpoint_spacing(all: &[RecordedEvent], yielded: &[Position], upto: Position) {
    let mut previous: Option<Position> = None;
    for &next in yielded.iter().chain(std::iter::once(&upto)) {
        let scanned = all.iter().filter(|e| previous.is_none_or(|p| e.position > p) && e.position <= next).count();
        // The last stretch (up to `upto`) may be unreported, but never a whole interval.
        let bound =
            if next == upto && !yielded.contains(&upto) { CHECKPOINT_INTERVAL - 1 } else { CHECKPOINT_INTERVAL };
        assert!(
            scanned as u64 <= bound,
            "{scanned} events scanned between {previous:?} and {next} without a checkpoint (at most {bound})"
        );
        previous = Some(next);
    }
}

pub async fn filtered_subscription_checkpoints_advance_a_sparse_filter(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let (noise, target) = (stream("noise"), stream("target"));
    let rare = event(0);
    for n in 0..150 {
        store.append(&noise, ExpectedRevision::Any, events(1)).await.expect("noise");
        if n == 70 {
            store.append(&target, ExpectedRevision::Any, vec![rare.clone()]).await.expect("target");
        }
    }
    let filter = SubscriptionFilter::StreamPrefix(vec!["target-".into()]);
    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, Some(filter)).await.expect("subscribe");
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.caught_up > 0).await;
    assert_eq!(ids(&seen.events), vec![rare.id], "only the matching event");
    assert!(seen.checkpoints.len() >= 3, "a sparse filter gets checkpoints in history: {:?}", seen.checkpoints);
    assert_increasing(&seen.yielded);
    let all = read_everything(&*store).await;
    let head = store.head().await.expect("head").expect("not empty");
    assert_checkpoint_spacing(&all, &seen.yielded, head);

    // Live: only noise, and checkpoints still come and pass the old head.
    let history_yields = seen.yielded.len();
    for _ in 0..100 {
        store.append(&noise, ExpectedRevision::Any, events(1)).await.expect("noise");
    }
    let new_head = store.head().await.expect("head").expect("not empty");
    let all = read_everything(&*store).await;
    let last_reportable = all[all.len() - CHECKPOINT_INTERVAL as usize].position;
    seen.until(&mut sub, |seen| seen.yielded.last().is_some_and(|p| *p >= last_reportable)).await;
    assert!(seen.yielded.len() > history_yields + 2, "live checkpoints came");
    assert_eq!(seen.events.len(), 1, "no live event matched");
    assert_increasing(&seen.yielded);
    assert!(seen.checkpoints.iter().all(|p| *p <= new_head));
    assert_checkpoint_spacing(&all, &seen.yielded, new_head);
}
