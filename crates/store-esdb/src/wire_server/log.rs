//! What the stand-in adds to the store beneath it so that its log looks like a real
//! server's at the edges where code goes wrong:
//!
//! - **Sparse positions.** The store numbers `$all` densely (1, 2, 3, commit = prepare); a
//!   real server's positions are byte offsets in its transaction log, and the events of one
//!   multi-event append share the commit position of the first while each has its own
//!   prepare position. Event `n` of the store is served at prepare position
//!   [`prepare_of`]`(n)` (irregular gaps), with the commit position of the first event of
//!   the append that wrote it. Positions the client sends back are located by their
//!   prepare position. The appends' extents are remembered while the server runs: events
//!   written before it started (or by someone else than a client of this server) are served
//!   with commit = prepare.
//! - **System events.** `$metadata` in `$$<stream>` on every delete and tombstone, and a
//!   `$statsCollected` event in `$stats-<address>` after every [`Quirks::stats_every`]
//!   writes, so that unfiltered readers meet them all the time.
//! - **Idempotency for expected "any" is best effort.** A real server recognises a retry
//!   with "any" only while the first event id is in a bounded cache of recent writes
//!   ([`Quirks::idempotency_cache`]); a retry of an id that left it is written again. The
//!   store beneath holds an id once per stream, so the stand-in writes such a retry again
//!   under fresh ids: the stream then holds the events twice, as on a real server.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::SocketAddr;

use packhooks_store::{EventData, ExpectedRevision, Position};
use parking_lot::Mutex;
use uuid::Uuid;

use super::Quirks;

/// The average distance between two events' prepare positions (a real server's are byte
/// offsets: the size of the records in between).
const STRIDE: u64 = 256;

/// The prepare position the store's event `n` (its dense position) is served at: `n`
/// strides, plus an irregular part below a stride, so that no two gaps need be equal.
pub(super) fn prepare_of(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    // The top 7 bits of a hash of n (splitmix64's mix): 0..128, below half a stride.
    let mut z = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    n * STRIDE + ((z ^ (z >> 31)) >> 57)
}

/// Where a prepare position sent by a client lies among the store's events: the last
/// event at or before it, and whether it is exactly that event's position.
fn locate(prepare: u64) -> (u64, bool) {
    let n = prepare / STRIDE;
    let at = prepare_of(n);
    if at == prepare {
        (n, true)
    } else if at < prepare {
        (n, false)
    } else {
        (n.saturating_sub(1), false)
    }
}

/// The store's dense position of the first event at or after a client's position (the
/// start of a forwards read, and the exclusive end of a backwards one).
pub(super) fn first_at_or_after(position: Position) -> Position {
    match locate(position.prepare) {
        (n, true) => Position::at(n),
        (n, false) => Position::at(n + 1),
    }
}

/// The store's dense position of the last event at or before a client's position (a
/// subscription from it starts after).
pub(super) fn last_at_or_before(position: Position) -> Position {
    Position::at(locate(position.prepare).0)
}

/// The stand-in's own state beside the store.
pub(super) struct ServerLog {
    quirks: Quirks,
    /// The stream statistics go to, `$stats-<address>` as on a real node.
    stats_stream: String,
    /// Multi-event appends served: the last event's dense position to the first's.
    appends: Mutex<BTreeMap<u64, u64>>,
    /// Held (exclusively) by a multi-event append from before its events exist until its
    /// extent is in `appends`; positions are served under it (shared), so no event of an
    /// append is ever served without the append's commit position.
    appending: tokio::sync::RwLock<()>,
    writes: Mutex<u64>,
    recent: Mutex<RecentIds>,
}

/// The bounded cache of recently written event ids, and every id written since start (to
/// tell an evicted id from a new one).
#[derive(Default)]
struct RecentIds {
    order: VecDeque<Uuid>,
    cached: HashSet<Uuid>,
    ever: HashSet<Uuid>,
}

impl ServerLog {
    pub(super) fn new(quirks: Quirks, address: SocketAddr) -> ServerLog {
        ServerLog {
            quirks,
            stats_stream: format!("$stats-{address}"),
            appends: Mutex::default(),
            appending: tokio::sync::RwLock::new(()),
            writes: Mutex::default(),
            recent: Mutex::default(),
        }
    }

    pub(super) fn quirks(&self) -> Quirks {
        self.quirks
    }

    /// Held while serving positions (see `appending`): take it after reading from the store.
    pub(super) async fn settled(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.appending.read().await
    }

    /// Held by an append of `count` events until [`ServerLog::appended`] ran for it.
    pub(super) async fn appending(&self, count: usize) -> Option<tokio::sync::RwLockWriteGuard<'_, ()>> {
        if count > 1 {
            Some(self.appending.write().await)
        } else {
            None
        }
    }

    /// The position a client sees for the store's event at `position` (under
    /// [`ServerLog::settled`]).
    pub(super) fn served(&self, position: Position) -> Position {
        let n = position.prepare;
        let first = self.appends.lock().range(n..).next().filter(|(_, first)| **first <= n).map(|(_, first)| *first);
        Position { commit: prepare_of(first.unwrap_or(n)), prepare: prepare_of(n) }
    }

    /// Remembers that the store wrote `count` events ending at `last` in one append.
    pub(super) fn appended(&self, last: Position, count: usize) {
        if count > 1 {
            let first = last.prepare + 1 - count as u64;
            self.appends.lock().insert(last.prepare, first);
        }
    }

    /// Gives the events of an append with "any" whose first id left the cache fresh ids,
    /// so the store writes them again (a real server no longer knows them).
    pub(super) fn forget_if_evicted(&self, expected: ExpectedRevision, events: &mut [EventData]) {
        let Some(first) = events.first().map(|e| e.id) else { return };
        let recent = self.recent.lock();
        if expected == ExpectedRevision::Any && !recent.cached.contains(&first) && recent.ever.contains(&first) {
            for event in events.iter_mut() {
                event.id = Uuid::new_v4();
            }
        }
    }

    /// Puts the ids of a successful append into the cache.
    pub(super) fn remember(&self, events: &[Uuid]) {
        let capacity = self.quirks.idempotency_cache;
        let mut recent = self.recent.lock();
        for id in events {
            recent.ever.insert(*id);
            if capacity == 0 || !recent.cached.insert(*id) {
                continue;
            }
            recent.order.push_back(*id);
            while recent.order.len() > capacity {
                if let Some(old) = recent.order.pop_front() {
                    recent.cached.remove(&old);
                }
            }
        }
    }

    /// Counts a client's write; true when it is time for a statistics event.
    pub(super) fn stats_due(&self) -> bool {
        let every = self.quirks.stats_every;
        let mut writes = self.writes.lock();
        *writes += 1;
        every > 0 && writes.is_multiple_of(u64::from(every))
    }

    /// The statistics event a real node writes periodically.
    pub(super) fn stats_event(&self) -> (String, EventData) {
        let writes = *self.writes.lock();
        let body = format!(r#"{{"proc-id":{},"es-writes":{writes}}}"#, std::process::id());
        (self.stats_stream.clone(), EventData::json(Uuid::new_v4(), "$statsCollected", body, "{}"))
    }
}

/// The `$metadata` event a delete or tombstone writes into `$$<stream>`: the stream is
/// truncated before revision `i64::MAX` (deleted).
pub(super) fn deleted_metadata(stream: &str) -> (String, EventData) {
    let body = format!(r#"{{"$tb":{}}}"#, i64::MAX);
    (format!("$${stream}"), EventData::json(Uuid::new_v4(), "$metadata", body, "{}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_sparse_increasing_and_found_again() {
        let served: Vec<u64> = (1..2000).map(prepare_of).collect();
        assert!(served.windows(2).all(|w| w[0] < w[1]), "increasing");
        let gaps: HashSet<u64> = served.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.len() > 10 && !gaps.contains(&1), "sparse, irregular gaps: {gaps:?}");
        for n in 1..2000 {
            let at = Position::at(prepare_of(n));
            assert_eq!(first_at_or_after(at), Position::at(n));
            assert_eq!(last_at_or_before(at), Position::at(n));
            let between = Position::at(prepare_of(n) + 1);
            assert_eq!(first_at_or_after(between), Position::at(n + 1));
            assert_eq!(last_at_or_before(between), Position::at(n));
        }
    }

    #[test]
    fn a_multi_event_append_shares_its_first_commit_position() {
        let log = ServerLog::new(Quirks::default(), SocketAddr::from(([127, 0, 0, 1], 1)));
        log.appended(Position::at(7), 3);
        let served: Vec<Position> = (4..=8).map(|n| log.served(Position::at(n))).collect();
        assert_eq!(served[0].commit, served[0].prepare);
        assert_eq!(served[1].commit, served[1].prepare, "the first of the append");
        assert_eq!(served[2].commit, served[1].prepare);
        assert_eq!(served[3].commit, served[1].prepare);
        assert_ne!(served[3].commit, served[3].prepare);
        assert_eq!(served[4].commit, served[4].prepare);
        assert!(served.windows(2).all(|w| w[0] < w[1]), "still in order: {served:?}");
    }

    #[test]
    fn an_evicted_id_is_written_again_under_a_fresh_id() {
        let quirks = Quirks { idempotency_cache: 2, ..Quirks::default() };
        let log = ServerLog::new(quirks, SocketAddr::from(([127, 0, 0, 1], 1)));
        let retried = EventData::json(Uuid::new_v4(), "T", "{}", "{}");
        log.remember(&[retried.id]);
        let mut batch = vec![retried.clone()];
        log.forget_if_evicted(ExpectedRevision::Any, &mut batch);
        assert_eq!(batch[0].id, retried.id, "still cached");
        log.remember(&[Uuid::new_v4(), Uuid::new_v4()]);
        log.forget_if_evicted(ExpectedRevision::Exact(0), &mut batch);
        assert_eq!(batch[0].id, retried.id, "only \"any\" depends on the cache");
        log.forget_if_evicted(ExpectedRevision::Any, &mut batch);
        assert_ne!(batch[0].id, retried.id, "evicted: written again");
    }
}
