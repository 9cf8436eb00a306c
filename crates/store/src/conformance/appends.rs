//! Appends and expected revisions.

use super::helpers::*;

pub async fn append_no_stream_creates_the_stream_at_revision_zero(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    let batch = events(3);
    let result = store.append(&s, ExpectedRevision::NoStream, batch.clone()).await.expect("append");
    assert_eq!(result.next_expected_revision, 2);
    let read = read_forwards(&*store, &s).await;
    assert_eq!(revisions(&read), vec![0, 1, 2]);
    assert_eq!(ids(&read), data_ids(&batch));
    assert!(read.iter().all(|e| e.stream == s));
    assert_eq!(result.position, read[2].position, "the result's position is the batch's last event");
}

pub async fn append_no_stream_to_an_existing_stream_conflicts(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    store.append(&s, ExpectedRevision::NoStream, events(1)).await.expect("first append");
    let second = store.append(&s, ExpectedRevision::NoStream, events(1)).await;
    assert_conflict(second, ExpectedRevision::NoStream, StreamState::Revision(0));
    assert_eq!(read_forwards(&*store, &s).await.len(), 1, "the conflicting append wrote nothing");
}

pub async fn append_any_writes_to_missing_and_existing_streams(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    let first = store.append(&s, ExpectedRevision::Any, events(2)).await.expect("append to a missing stream");
    assert_eq!(first.next_expected_revision, 1);
    let second = store.append(&s, ExpectedRevision::Any, events(3)).await.expect("append to an existing stream");
    assert_eq!(second.next_expected_revision, 4);
    assert!(second.position > first.position);
    assert_eq!(revisions(&read_forwards(&*store, &s).await), vec![0, 1, 2, 3, 4]);
}

pub async fn append_stream_exists_needs_the_stream(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    let missing = store.append(&s, ExpectedRevision::StreamExists, events(1)).await;
    assert_conflict(missing, ExpectedRevision::StreamExists, StreamState::NoStream);
    assert!(matches!(
        store.read_stream(&s, StreamPosition::Start, Direction::Forwards, 10).await,
        Err(StoreError::StreamNotFound(_))
    ));
    store.append(&s, ExpectedRevision::NoStream, events(1)).await.expect("create");
    let appended = store.append(&s, ExpectedRevision::StreamExists, events(1)).await.expect("append");
    assert_eq!(appended.next_expected_revision, 1);
}

pub async fn append_exact_revision_appends_after_that_revision(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    store.append(&s, ExpectedRevision::NoStream, events(2)).await.expect("create");
    let result = store.append(&s, ExpectedRevision::Exact(1), events(2)).await.expect("append at 1");
    assert_eq!(result.next_expected_revision, 3);
    let result = store.append(&s, ExpectedRevision::Exact(3), events(1)).await.expect("append at 3");
    assert_eq!(result.next_expected_revision, 4);
    assert_eq!(revisions(&read_forwards(&*store, &s).await), vec![0, 1, 2, 3, 4]);
}

pub async fn append_exact_revision_conflict_says_expected_and_actual(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    store.append(&s, ExpectedRevision::NoStream, events(3)).await.expect("create");
    let stale = store.append(&s, ExpectedRevision::Exact(0), events(1)).await;
    let message = match &stale {
        Err(e) => e.to_string(),
        Ok(r) => panic!("a stale expectation must conflict, got {r:?}"),
    };
    assert!(message.contains(&s), "the message names the stream: {message}");
    assert!(message.contains("expected revision 0"), "the message says what was expected: {message}");
    assert!(message.contains("actual revision 2"), "the message says what was found: {message}");
    assert_conflict(stale, ExpectedRevision::Exact(0), StreamState::Revision(2));
    assert_eq!(read_forwards(&*store, &s).await.len(), 3, "the conflicting append wrote nothing");
}

pub async fn append_exact_revision_ahead_or_on_missing_stream_conflicts(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    let missing = store.append(&s, ExpectedRevision::Exact(0), events(1)).await;
    assert_conflict(missing, ExpectedRevision::Exact(0), StreamState::NoStream);
    store.append(&s, ExpectedRevision::NoStream, events(2)).await.expect("create");
    let ahead = store.append(&s, ExpectedRevision::Exact(5), events(1)).await;
    assert_conflict(ahead, ExpectedRevision::Exact(5), StreamState::Revision(1));
}

pub async fn append_positions_increase_across_streams(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let (a, b) = (stream("a"), stream("b"));
    let mut positions = Vec::new();
    for i in 0..6 {
        let s = if i % 2 == 0 { &a } else { &b };
        positions.push(store.append(s, ExpectedRevision::Any, events(2)).await.expect("append").position);
    }
    assert_increasing(&positions);
    let all = read_everything(&*store).await;
    assert_eq!(all.len(), 12);
    assert_increasing(&all.iter().map(|e| e.position).collect::<Vec<_>>());
    assert_eq!(all.last().map(|e| e.position), positions.last().copied());
}

pub async fn append_to_an_invalid_stream_name_is_rejected(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    for name in ["", "$all"] {
        let result = store.append(name, ExpectedRevision::Any, events(1)).await;
        assert!(matches!(result, Err(StoreError::InvalidArgument(_))), "{name:?} must be refused, got {result:?}");
    }
    assert_eq!(store.head().await.expect("head"), None, "nothing was written");
}
