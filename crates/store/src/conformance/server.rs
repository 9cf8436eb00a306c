//! The `server_*` cases: only in front of an EventStoreDB server (real, or the wire test
//! server): system events on deletes and statistics, sparse positions.

use super::helpers::*;

/// The system events a server wrote into `$all`.
fn system_events(all: &[RecordedEvent]) -> Vec<&RecordedEvent> {
    all.iter().filter(|e| e.is_system()).collect()
}

pub async fn server_deletes_write_metadata_and_statistics_come_unasked(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let (soft, hard) = (stream("webhook"), stream("account"));
    store.append(&soft, ExpectedRevision::NoStream, events(1)).await.expect("append");
    store.append(&hard, ExpectedRevision::NoStream, events(1)).await.expect("append");
    let deleted = store.delete_stream(&soft, ExpectedRevision::Exact(0)).await.expect("delete");
    let tombstoned = store.tombstone_stream(&hard, ExpectedRevision::Exact(0)).await.expect("tombstone");
    for _ in 0..20 {
        store.append(&stream("pack"), ExpectedRevision::Any, events(1)).await.expect("append");
    }
    let all = read_everything_with_system(&*store).await;
    let system = system_events(&all);
    for (name, at) in [(&soft, deleted), (&hard, tombstoned)] {
        let metadata = system.iter().find(|e| e.stream == format!("$${name}")).expect("a $metadata event per delete");
        assert_eq!(metadata.event_type, "$metadata");
        assert_eq!(metadata.position, at, "the delete answers its position");
    }
    assert!(
        system.iter().any(|e| e.stream.starts_with("$stats-") && e.event_type == "$statsCollected"),
        "statistics among {} writes: {:?}",
        22,
        system.iter().map(|e| &e.stream).collect::<Vec<_>>()
    );
    // An unfiltered subscription meets them; a filtered one does not.
    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, None).await.expect("subscribe");
    assert_eq!(ids(&history(&mut sub).await), ids(&all));
}

pub async fn server_positions_are_sparse_and_an_append_shares_its_commit(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    store.append(&s, ExpectedRevision::NoStream, events(1)).await.expect("append");
    let batch = events(3);
    let written = store.append(&s, ExpectedRevision::Exact(0), batch.clone()).await.expect("append");
    let read = read_forwards(&*store, &s).await;
    let positions: Vec<Position> = read.iter().map(|e| e.position).collect();
    assert_increasing(&positions);
    assert!(positions.windows(2).all(|w| w[1].prepare - w[0].prepare > 1), "sparse: {positions:?}");
    let appended = &positions[1..];
    assert!(appended.iter().all(|p| p.commit == appended[0].commit), "one commit per append: {appended:?}");
    assert!(appended[1..].iter().all(|p| p.commit != p.prepare), "commit ≠ prepare inside: {appended:?}");
    assert_eq!(written.position, positions[3], "the append answers its last event's position");

    // Every way of reading from a position inside the append meets the same events.
    let forwards = store.read_all(AllPosition::Position(positions[2]), Direction::Forwards, 2).await.expect("read");
    assert_eq!(ids(&forwards), data_ids(&batch[1..]), "forwards includes it");
    let backwards = store.read_all(AllPosition::Position(positions[2]), Direction::Backwards, 2).await.expect("read");
    assert_eq!(ids(&backwards), vec![batch[0].id, read[0].id], "backwards excludes it");
    let mut sub = store.subscribe_to_all(SubscribeFrom::After(positions[2]), None).await.expect("subscribe");
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.caught_up > 0).await;
    assert_eq!(ids(&seen.events), vec![batch[2].id], "a subscription starts after it");
}
