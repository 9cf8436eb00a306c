//! Idempotency by event id: a retried append writes nothing.

use super::helpers::*;

pub async fn idempotent_retry_with_any_writes_nothing(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    let batch = events(3);
    let first = store.append(&s, ExpectedRevision::Any, batch.clone()).await.expect("append");
    let head = last_position(&*store).await;
    let retry = store.append(&s, ExpectedRevision::Any, batch.clone()).await.expect("retry succeeds");
    assert_eq!(retry, first, "a retry answers with the original result");
    assert_eq!(last_position(&*store).await, head, "a retry writes nothing");
    assert_eq!(ids(&read_forwards(&*store, &s).await), data_ids(&batch));
}

pub async fn idempotent_retry_with_any_after_later_appends_answers_the_original(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    store.append(&s, ExpectedRevision::Any, events(2)).await.expect("append before");
    let batch = events(2);
    let first = store.append(&s, ExpectedRevision::Any, batch.clone()).await.expect("append");
    for _ in 0..3 {
        store.append(&s, ExpectedRevision::Any, events(1)).await.expect("append after");
    }
    let head = last_position(&*store).await;
    let retry = store.append(&s, ExpectedRevision::Any, batch).await.expect("retry succeeds");
    assert_eq!(retry, first, "a retry answers with the original result, not the stream's end");
    assert_eq!(last_position(&*store).await, head, "a retry writes nothing");
    assert_eq!(read_forwards(&*store, &s).await.len(), 7);
}

pub async fn idempotent_retry_with_exact_revision_writes_nothing(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("deliveries");
    store.append(&s, ExpectedRevision::NoStream, events(1)).await.expect("create");
    let batch = events(2);
    let first = store.append(&s, ExpectedRevision::Exact(0), batch.clone()).await.expect("append");
    assert_eq!(first.next_expected_revision, 2);
    let retry = store.append(&s, ExpectedRevision::Exact(0), batch.clone()).await.expect("retry succeeds");
    assert_eq!(retry, first);
    // The same ids at another place are not the same append.
    let elsewhere = store.append(&s, ExpectedRevision::Exact(1), batch).await;
    assert_conflict(elsewhere, ExpectedRevision::Exact(1), StreamState::Revision(2));
    assert_eq!(read_forwards(&*store, &s).await.len(), 3);
}

pub async fn idempotent_retry_with_no_stream_writes_nothing(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("webhook");
    let batch = events(2);
    let first = store.append(&s, ExpectedRevision::NoStream, batch.clone()).await.expect("create");
    let retry = store.append(&s, ExpectedRevision::NoStream, batch.clone()).await.expect("retry succeeds");
    assert_eq!(retry, first);
    assert_eq!(ids(&read_forwards(&*store, &s).await), data_ids(&batch));
}

pub async fn idempotent_partial_overlap_is_a_conflict(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    let batch = events(2);
    store.append(&s, ExpectedRevision::Any, batch.clone()).await.expect("append");
    let head = last_position(&*store).await;
    let overlap = vec![batch[0].clone(), event(9)];
    let result = store.append(&s, ExpectedRevision::Any, overlap).await;
    assert!(
        matches!(result, Err(StoreError::WrongExpectedVersion { .. })),
        "a partial overlap (any) conflicts, got {result:?}"
    );
    let longer = vec![batch[0].clone(), batch[1].clone(), event(10)];
    let result = store.append(&s, ExpectedRevision::NoStream, longer).await;
    assert!(
        matches!(result, Err(StoreError::WrongExpectedVersion { .. })),
        "a partial overlap (no stream) conflicts, got {result:?}"
    );
    assert_eq!(last_position(&*store).await, head, "conflicts write nothing");
    assert_eq!(ids(&read_forwards(&*store, &s).await), data_ids(&batch));
}
