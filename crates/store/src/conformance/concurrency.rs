//! Concurrent appenders.

use super::helpers::*;

pub async fn concurrent_appenders_race_and_exactly_one_wins_each_revision(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    let s = stream("deliveries");
    store.append(&s, ExpectedRevision::NoStream, events(1)).await.expect("create");
    const RACERS: usize = 8;
    const ROUNDS: u64 = 20;
    let mut winners = Vec::new();
    for round in 0..ROUNDS {
        let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
        let tasks: Vec<_> = (0..RACERS)
            .map(|i| {
                let (store, s, barrier) = (store.clone(), s.clone(), barrier.clone());
                tokio::spawn(async move {
                    let candidate = event(i);
                    let id = candidate.id;
                    barrier.wait().await;
                    (id, store.append(&s, ExpectedRevision::Exact(round), vec![candidate]).await)
                })
            })
            .collect();
        let mut won = Vec::new();
        for task in tasks {
            let (id, result) = tokio::time::timeout(WAIT, task).await.expect("racer finishes").expect("racer task");
            match result {
                Ok(r) => {
                    assert_eq!(r.next_expected_revision, round + 1);
                    won.push(id);
                }
                Err(e) => {
                    assert_conflict(Err::<(), _>(e), ExpectedRevision::Exact(round), StreamState::Revision(round + 1))
                }
            }
        }
        assert_eq!(won.len(), 1, "round {round}: exactly one racer wins, got {}", won.len());
        winners.extend(won);
    }
    let read = read_forwards(&*store, &s).await;
    assert_eq!(revisions(&read), (0..=ROUNDS).collect::<Vec<_>>());
    assert_eq!(ids(&read)[1..].to_vec(), winners, "the stream holds exactly the winners, in order");
}

pub async fn concurrent_appenders_on_their_own_streams_all_succeed(backend: &dyn Backend) {
    let (_dir, store) = fresh(backend).await;
    const WRITERS: usize = 16;
    const APPENDS: u64 = 20;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let s = stream("pack");
                let mut expected = ExpectedRevision::NoStream;
                for n in 0..APPENDS {
                    let r = store.append(&s, expected, events(1)).await.expect("append on my own stream");
                    assert_eq!(r.next_expected_revision, n);
                    expected = ExpectedRevision::Exact(n);
                }
                s
            })
        })
        .collect();
    let mut streams = Vec::new();
    for task in tasks {
        streams.push(tokio::time::timeout(WAIT, task).await.expect("writer finishes").expect("writer task"));
    }
    for s in &streams {
        assert_eq!(revisions(&read_forwards(&*store, s).await), (0..APPENDS).collect::<Vec<_>>());
    }
    let all = read_everything(&*store).await;
    assert_eq!(all.len(), WRITERS * APPENDS as usize);
    assert_increasing(&all.iter().map(|e| e.position).collect::<Vec<_>>());
    assert_eq!(all.iter().map(|e| e.id).collect::<HashSet<_>>().len(), all.len(), "no event twice");
}
