//! Reads of a stream and of `$all`, both ways.

use super::helpers::*;

pub async fn read_stream_forwards_from_a_revision_with_max_count(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    store.append(&s, ExpectedRevision::NoStream, events(10)).await.expect("append");
    let page = store.read_stream(&s, StreamPosition::Revision(3), Direction::Forwards, 4).await.expect("read");
    assert_eq!(revisions(&page), vec![3, 4, 5, 6]);
    let all = store.read_stream(&s, StreamPosition::Start, Direction::Forwards, 100).await.expect("read");
    assert_eq!(revisions(&all), (0..10).collect::<Vec<_>>());
    let first = store.read_stream(&s, StreamPosition::Start, Direction::Forwards, 1).await.expect("read");
    assert_eq!(revisions(&first), vec![0]);
}

pub async fn read_stream_backwards_from_end_and_from_a_revision(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("order");
    store.append(&s, ExpectedRevision::NoStream, events(10)).await.expect("append");
    let newest = store.read_stream(&s, StreamPosition::End, Direction::Backwards, 3).await.expect("read");
    assert_eq!(revisions(&newest), vec![9, 8, 7]);
    let from_four = store.read_stream(&s, StreamPosition::Revision(4), Direction::Backwards, 2).await.expect("read");
    assert_eq!(revisions(&from_four), vec![4, 3]);
    let to_start = store.read_stream(&s, StreamPosition::Revision(2), Direction::Backwards, 100).await.expect("read");
    assert_eq!(revisions(&to_start), vec![2, 1, 0]);
}

pub async fn read_missing_stream_is_not_found_but_an_empty_range_is_empty(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let missing = stream("nothing");
    for direction in [Direction::Forwards, Direction::Backwards] {
        let result = store.read_stream(&missing, StreamPosition::Start, direction, 10).await;
        assert!(matches!(result, Err(StoreError::StreamNotFound(ref name)) if *name == missing), "got {result:?}");
    }
    let s = stream("order");
    store.append(&s, ExpectedRevision::NoStream, events(2)).await.expect("append");
    let past_end = store.read_stream(&s, StreamPosition::Revision(5), Direction::Forwards, 10).await;
    assert_eq!(past_end.expect("an existing stream reads fine").len(), 0);
}

pub async fn read_all_forwards_and_backwards_from_a_position(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let (a, b) = (stream("a"), stream("b"));
    let mut written = Vec::new();
    for i in 0..5 {
        let batch = events(2);
        written.extend(data_ids(&batch));
        store.append(if i % 2 == 0 { &a } else { &b }, ExpectedRevision::Any, batch).await.expect("append");
    }
    let all = read_everything(&*store).await;
    assert_eq!(ids(&all), written, "$all holds every event in append order");
    let positions: Vec<Position> = all.iter().map(|e| e.position).collect();
    assert_increasing(&positions);

    let from_third = store.read_all(AllPosition::Position(positions[2]), Direction::Forwards, 3).await.expect("read");
    assert_eq!(ids(&from_third), written[2..5].to_vec(), "forwards from a position includes it");

    let mut newest = store.read_all(AllPosition::End, Direction::Backwards, 100).await.expect("read");
    newest.retain(|e| !e.is_system());
    newest.truncate(4);
    let mut expected: Vec<Uuid> = written[6..].to_vec();
    expected.reverse();
    assert_eq!(ids(&newest), expected);

    let back = store.read_all(AllPosition::Position(positions[4]), Direction::Backwards, 2).await.expect("read");
    assert_eq!(ids(&back), vec![written[3], written[2]], "backwards from a position excludes it");
    let before_first =
        store.read_all(AllPosition::Position(positions[0]), Direction::Backwards, 5).await.expect("read");
    assert!(before_first.iter().all(RecordedEvent::is_system), "nothing of ours before the first event");
}

pub async fn read_all_backwards_pages_from_the_last_position_read(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    for _ in 0..7 {
        store.append(&s, ExpectedRevision::Any, events(3)).await.expect("append");
    }
    let mut expected = read_everything_with_system(&*store).await;
    expected.reverse();
    // Each page starts from the last position of the one before, which it leaves out.
    let mut paged = Vec::new();
    let mut from = AllPosition::End;
    loop {
        let page = store.read_all(from, Direction::Backwards, 4).await.expect("read a page");
        let Some(last) = page.last() else { break };
        from = AllPosition::Position(last.position);
        paged.extend(page);
    }
    assert_eq!(ids(&paged), ids(&expected), "every event once, newest first");
}

pub async fn recorded_event_keeps_what_was_appended(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("pack");
    let sent = EventData::json(
        Uuid::new_v4(),
        "CandidateInterested",
        r#"{"candidate":{"name":"Ada"}}"#,
        r#"{"correlation_id":"sub_1","causation_id":"cmd_1"}"#,
    );
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    store.append(&s, ExpectedRevision::NoStream, vec![sent.clone()]).await.expect("append");
    let after = chrono::Utc::now() + chrono::Duration::seconds(5);
    let got = read_forwards(&*store, &s).await.remove(0);
    assert_eq!(got.id, sent.id);
    assert_eq!(got.stream, s);
    assert_eq!(got.revision, 0);
    assert_eq!(got.event_type, "CandidateInterested");
    assert_eq!(got.data, sent.data);
    assert_eq!(got.metadata, sent.metadata);
    assert!(got.created > before && got.created < after, "created {} is the store's now", got.created);
    let via_all = read_everything(&*store).await.remove(0);
    assert_eq!(via_all, got, "$all and the stream read agree");
}
