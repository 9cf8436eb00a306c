//! Soft deletes and tombstones, the head, and the store's own system events.

use super::helpers::*;

pub async fn soft_delete_hides_the_stream_and_appends_continue_numbering(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("webhook");
    store.append(&s, ExpectedRevision::NoStream, events(3)).await.expect("create");
    store.delete_stream(&s, ExpectedRevision::Exact(2)).await.expect("soft delete");
    let read = store.read_stream(&s, StreamPosition::Start, Direction::Forwards, 10).await;
    assert!(matches!(read, Err(StoreError::StreamNotFound(_))), "a soft-deleted stream is not found, got {read:?}");
    let again = event(3);
    let result = store.append(&s, ExpectedRevision::Any, vec![again.clone()]).await.expect("append after delete");
    assert_eq!(result.next_expected_revision, 3, "numbering continues after a soft delete");
    let read = read_forwards(&*store, &s).await;
    assert_eq!(ids(&read), vec![again.id], "only events after the delete are visible");
    assert_eq!(revisions(&read), vec![3]);
    let backwards = store.read_stream(&s, StreamPosition::End, Direction::Backwards, 10).await.expect("read");
    assert_eq!(revisions(&backwards), vec![3]);
}

pub async fn soft_delete_checks_the_expected_revision(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("webhook");
    store.append(&s, ExpectedRevision::NoStream, events(2)).await.expect("create");
    let stale = store.delete_stream(&s, ExpectedRevision::Exact(0)).await;
    assert_conflict(stale, ExpectedRevision::Exact(0), StreamState::Revision(1));
    assert_eq!(read_forwards(&*store, &s).await.len(), 2, "a refused delete deletes nothing");
}

pub async fn delete_of_a_stream_that_never_existed_is_a_conflict(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("webhook");
    for expected in
        [ExpectedRevision::Any, ExpectedRevision::NoStream, ExpectedRevision::StreamExists, ExpectedRevision::Exact(0)]
    {
        let deleted = store.delete_stream(&s, expected).await;
        assert_conflict(deleted, expected, StreamState::NoStream);
        let tombstoned = store.tombstone_stream(&s, expected).await;
        assert_conflict(tombstoned, expected, StreamState::NoStream);
    }
    let created = store.append(&s, ExpectedRevision::NoStream, events(1)).await.expect("still a new stream");
    assert_eq!(created.next_expected_revision, 0);
}

pub async fn soft_deleted_stream_deletes_again_at_its_last_revision(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("webhook");
    store.append(&s, ExpectedRevision::NoStream, events(2)).await.expect("create");
    store.delete_stream(&s, ExpectedRevision::Exact(1)).await.expect("soft delete at 1");
    // The stream keeps its last revision: a second delete at it succeeds, another revision
    // conflicts with it, and "exists" is answered as deleted.
    store.delete_stream(&s, ExpectedRevision::Exact(1)).await.expect("a second delete at 1");
    let stale = store.delete_stream(&s, ExpectedRevision::Exact(0)).await;
    assert_conflict(stale, ExpectedRevision::Exact(0), StreamState::Revision(1));
    let exists = store.delete_stream(&s, ExpectedRevision::StreamExists).await;
    assert!(matches!(exists, Err(StoreError::StreamDeleted(_))), "\"exists\" on a soft-deleted stream, got {exists:?}");
    store.delete_stream(&s, ExpectedRevision::Any).await.expect("any");
    let read = store.read_stream(&s, StreamPosition::Start, Direction::Forwards, 10).await;
    assert!(matches!(read, Err(StoreError::StreamNotFound(_))), "still soft-deleted, got {read:?}");
    let again = store.append(&s, ExpectedRevision::Exact(1), events(1)).await.expect("append at the last revision");
    assert_eq!(again.next_expected_revision, 2, "numbering continues");
}

pub async fn tombstone_refuses_reads_and_appends_for_good(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("webhook");
    store.append(&s, ExpectedRevision::NoStream, events(2)).await.expect("create");
    store.tombstone_stream(&s, ExpectedRevision::Any).await.expect("tombstone");
    let read = store.read_stream(&s, StreamPosition::Start, Direction::Forwards, 10).await;
    assert!(matches!(read, Err(StoreError::StreamDeleted(_))), "reads fail, got {read:?}");
    for expected in [ExpectedRevision::Any, ExpectedRevision::NoStream, ExpectedRevision::Exact(1)] {
        let append = store.append(&s, expected, events(1)).await;
        assert!(matches!(append, Err(StoreError::StreamDeleted(_))), "appends ({expected}) fail, got {append:?}");
    }
    let delete = store.delete_stream(&s, ExpectedRevision::Any).await;
    assert!(matches!(delete, Err(StoreError::StreamDeleted(_))), "a second delete fails, got {delete:?}");
}

pub async fn head_is_none_when_empty_then_the_last_position(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    assert_eq!(store.head().await.expect("head"), None);
    let first = store.append(&stream("a"), ExpectedRevision::Any, events(2)).await.expect("append");
    assert_eq!(last_position(&*store).await, Some(first.position));
    let second = store.append(&stream("b"), ExpectedRevision::Any, events(1)).await.expect("append");
    assert_eq!(last_position(&*store).await, Some(second.position));
    let everything = read_everything_with_system(&*store).await;
    assert_eq!(store.head().await.expect("head"), everything.last().map(|e| e.position), "the head is $all's last");
}

pub async fn system_events_are_in_all_and_filters_leave_them_out(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    // What a server writes of its own (here by hand, so that every backend has some).
    let metadata = EventData::json(Uuid::new_v4(), "$metadata", r#"{"$tb":1}"#, "{}");
    let ours = events(2);
    store.append(&s, ExpectedRevision::NoStream, vec![ours[0].clone()]).await.expect("append");
    store.append(&format!("$${s}"), ExpectedRevision::Any, vec![metadata.clone()]).await.expect("append $metadata");
    store.append(&s, ExpectedRevision::Exact(0), vec![ours[1].clone()]).await.expect("append");
    let all = read_everything_with_system(&*store).await;
    let system = all.iter().find(|e| e.id == metadata.id).expect("the system event is in $all");
    assert!(system.is_system() && system.stream.starts_with('$'));
    assert_eq!(ids(&read_everything(&*store).await), data_ids(&ours), "and nothing else is a system event");

    for filter in [
        SubscriptionFilter::StreamPrefix(vec!["pack-".into()]),
        SubscriptionFilter::EventTypePrefix(vec!["Tested".into()]),
    ] {
        let mut sub = store.subscribe_to_all(SubscribeFrom::Start, Some(filter)).await.expect("subscribe");
        let items = history(&mut sub).await;
        assert_eq!(ids(&items), data_ids(&ours), "a filter leaves system events out");
    }
    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, None).await.expect("subscribe");
    let unfiltered = ids(&history(&mut sub).await);
    assert!(unfiltered.contains(&metadata.id), "an unfiltered subscription meets them");
}
