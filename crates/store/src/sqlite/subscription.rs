//! Catch-up subscriptions to `$all`: history read from the database in pages, then live
//! events from the writer's committed batches, without gaps or duplicates.
//!
//! The switch to live registers for the live feed *before* the last history read, and live
//! events at or below the last position read are dropped, so nothing committed in between is
//! lost or repeated. A subscriber that falls more than the live buffer behind is not failed:
//! it drops its live receiver and reads history again until it is caught up.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::broadcast::{self, error::RecvError};

use super::reader::{read_all_after, ReadPool};
use super::{LiveBatch, Shared};
use crate::{
    Position, RecordedEvent, StoreError, SubscribeFrom, Subscription, SubscriptionEvent, SubscriptionFilter,
    CHECKPOINT_INTERVAL,
};

pub(crate) fn subscribe(
    readers: Arc<ReadPool>,
    live: broadcast::WeakSender<LiveBatch>,
    shared: Arc<Shared>,
    page_size: usize,
    from: SubscribeFrom,
    filter: Option<SubscriptionFilter>,
) -> Result<Subscription, StoreError> {
    let mut state = State {
        readers,
        live,
        rx: None,
        last: 0,
        filter,
        unreported: 0,
        live_phase: false,
        caught_up_sent: false,
        page_size,
        out: VecDeque::new(),
        done: false,
    };
    match from {
        SubscribeFrom::Start => {}
        SubscribeFrom::After(position) => state.last = position.commit,
        SubscribeFrom::End => {
            // Register first, then read the head: everything after it arrives live.
            state.rx = Some(state.live.upgrade().ok_or(StoreError::Closed)?.subscribe());
            state.last = shared.head.load(Ordering::Acquire);
            state.go_live();
        }
    }
    Ok(futures::stream::unfold(state, |mut state| async move {
        let item = state.next().await?;
        Some((item, state))
    })
    .boxed())
}

struct State {
    readers: Arc<ReadPool>,
    live: broadcast::WeakSender<LiveBatch>,
    rx: Option<broadcast::Receiver<LiveBatch>>,
    /// Position of the last event scanned (yielded or filtered out).
    last: u64,
    filter: Option<SubscriptionFilter>,
    /// Events scanned since the last event or checkpoint yielded.
    unreported: u64,
    live_phase: bool,
    caught_up_sent: bool,
    page_size: usize,
    out: VecDeque<SubscriptionEvent>,
    done: bool,
}

impl State {
    async fn next(&mut self) -> Option<Result<SubscriptionEvent, StoreError>> {
        loop {
            if let Some(item) = self.out.pop_front() {
                return Some(Ok(item));
            }
            if self.done {
                return None;
            }
            let more = if self.live_phase { self.receive().await } else { self.catch_up().await };
            match more {
                Ok(true) => {}
                Ok(false) => self.done = true,
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
    }

    /// Reads one page of history; switches to live when the history is exhausted.
    async fn catch_up(&mut self) -> Result<bool, StoreError> {
        let (after, page_size) = (self.last, self.page_size);
        let page = self.readers.with(move |conn| read_all_after(conn, after, page_size)).await?;
        let full = page.len() == page_size;
        for event in page {
            if self.accept(&event) {
                self.out.push_back(SubscriptionEvent::Event(event));
            }
        }
        if full {
            return Ok(true);
        }
        if self.rx.is_none() {
            // Register for live events, then read once more: whatever commits in between
            // is either in that read or in the live feed (and deduplicated by position).
            let Some(sender) = self.live.upgrade() else {
                // The store is closed: the history read is all there will ever be.
                return Ok(false);
            };
            self.rx = Some(sender.subscribe());
            return Ok(true);
        }
        self.go_live();
        Ok(true)
    }

    fn go_live(&mut self) {
        self.live_phase = true;
        if !self.caught_up_sent {
            self.caught_up_sent = true;
            if self.filter.is_some() && self.unreported > 0 {
                self.unreported = 0;
                self.out.push_back(SubscriptionEvent::Checkpoint(Position::at(self.last)));
            }
            self.out.push_back(SubscriptionEvent::CaughtUp);
        }
    }

    /// Waits for the next committed batch.
    async fn receive(&mut self) -> Result<bool, StoreError> {
        let Some(rx) = self.rx.as_mut() else { return Ok(false) };
        match rx.recv().await {
            Ok(batch) => {
                for event in batch.iter() {
                    let position = event.position.commit;
                    if position <= self.last {
                        continue;
                    }
                    if position != self.last + 1 {
                        // Cannot happen with dense positions; if it does, trust the file.
                        tracing::warn!(
                            expected = self.last + 1,
                            got = position,
                            "gap in the live feed; reading history"
                        );
                        self.fall_back();
                        return Ok(true);
                    }
                    if self.accept(event) {
                        self.out.push_back(SubscriptionEvent::Event(event.clone()));
                    }
                }
                Ok(true)
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(
                    missed,
                    last = self.last,
                    "subscriber fell behind the live feed; catching up from history"
                );
                self.fall_back();
                Ok(true)
            }
            Err(RecvError::Closed) => Ok(false),
        }
    }

    fn fall_back(&mut self) {
        self.rx = None;
        self.live_phase = false;
    }

    /// Records that `event` was scanned; true when it passes the filter (the caller queues
    /// it). A filtered subscription that scanned enough without yielding queues a checkpoint.
    fn accept(&mut self, event: &RecordedEvent) -> bool {
        self.last = event.position.commit;
        if self.filter.as_ref().is_none_or(|filter| filter.matches(event)) {
            self.unreported = 0;
            return true;
        }
        self.unreported += 1;
        if self.unreported >= CHECKPOINT_INTERVAL {
            self.unreported = 0;
            self.out.push_back(SubscriptionEvent::Checkpoint(event.position));
        }
        false
    }
}
