//! Closing and reopening a store.

use super::helpers::*;

pub async fn reopen_after_close_keeps_everything(backend: &dyn Backend) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let store = backend.open(dir.path()).await;
    let (kept, soft, gone) = (stream("pack"), stream("webhook"), stream("account"));
    let retried = events(2);
    store.append(&kept, ExpectedRevision::NoStream, retried.clone()).await.expect("append");
    store.append(&soft, ExpectedRevision::NoStream, events(2)).await.expect("append");
    store.append(&gone, ExpectedRevision::NoStream, events(1)).await.expect("append");
    store.append(&kept, ExpectedRevision::Exact(1), events(3)).await.expect("append");
    store.delete_stream(&soft, ExpectedRevision::Exact(1)).await.expect("soft delete");
    store.tombstone_stream(&gone, ExpectedRevision::Any).await.expect("tombstone");
    let before = read_everything(&*store).await;
    let head = last_position(&*store).await;
    store.close().await.expect("close");
    drop(store);

    let store = backend.open(dir.path()).await;
    assert_eq!(read_everything(&*store).await, before, "$all is intact");
    assert_eq!(last_position(&*store).await, head);
    assert_eq!(revisions(&read_forwards(&*store, &kept).await), vec![0, 1, 2, 3, 4]);
    let soft_read = store.read_stream(&soft, StreamPosition::Start, Direction::Forwards, 10).await;
    assert!(matches!(soft_read, Err(StoreError::StreamNotFound(_))), "still soft-deleted, got {soft_read:?}");
    let gone_read = store.read_stream(&gone, StreamPosition::Start, Direction::Forwards, 10).await;
    assert!(matches!(gone_read, Err(StoreError::StreamDeleted(_))), "still tombstoned, got {gone_read:?}");

    let retry = store.append(&kept, ExpectedRevision::NoStream, retried).await.expect("idempotent after reopen");
    assert_eq!(retry.next_expected_revision, 1);
    assert_eq!(last_position(&*store).await, head, "the retry wrote nothing");
    let next = store.append(&kept, ExpectedRevision::Exact(4), events(1)).await.expect("append after reopen");
    assert_eq!(next.next_expected_revision, 5);
    assert!(Some(next.position) > head, "positions continue after reopen");
    let again = store.append(&soft, ExpectedRevision::Any, events(1)).await.expect("append to the soft-deleted stream");
    assert_eq!(again.next_expected_revision, 2);

    let mut sub = store.subscribe_to_all(SubscribeFrom::Start, None).await.expect("subscribe");
    let mut seen = Seen::default();
    seen.until(&mut sub, |seen| seen.caught_up > 0).await;
    assert_eq!(seen.events.len(), before.len() + 2);
    assert_eq!(seen.events[..before.len()].to_vec(), before);
    store.close().await.expect("close");
}

pub async fn append_after_close_is_refused(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    store.append(&s, ExpectedRevision::Any, events(1)).await.expect("append");
    store.close().await.expect("close");
    let after = store.append(&s, ExpectedRevision::Any, events(1)).await;
    assert!(after.is_err(), "a closed store takes no appends, got {after:?}");
    store.close().await.expect("closing twice is harmless");
}
