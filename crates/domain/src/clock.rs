//! The clock, injected: the domain never reads time itself, and the services take a
//! `Arc<dyn Clock>` so tests can move time by hand instead of sleeping.
//!
//! Timers follow the same clock: a service waiting for a due time asks to be woken when a
//! hand-moved clock moves ([`Clock::wake_on_move`]), so a retry or an auto-disable due in a
//! week fires as soon as a test moves a [`ManualClock`] past it, with no real waiting.

use std::sync::Mutex;
use std::task::Waker;

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Wakes `waker` the next time the clock is moved by hand. The wall clock never is, so
    /// by default this does nothing: a timer on it waits out the real time.
    fn wake_on_move(&self, _waker: &Waker) {}
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<Manual>);

#[derive(Debug)]
struct Manual {
    now: DateTime<Utc>,
    /// Timers waiting for the clock to move; each is woken once, at the next move.
    waiting: Vec<Waker>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(Manual { now: start, waiting: Vec::new() }))
    }
    pub fn advance(&self, by: chrono::Duration) {
        self.moved(|now| *now += by);
    }
    pub fn set(&self, to: DateTime<Utc>) {
        self.moved(|now| *now = to);
    }

    fn moved(&self, change: impl FnOnce(&mut DateTime<Utc>)) {
        let waiting = {
            let mut manual = self.0.lock().expect("clock lock");
            change(&mut manual.now);
            std::mem::take(&mut manual.waiting)
        };
        waiting.into_iter().for_each(Waker::wake);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().expect("clock lock").now
    }

    fn wake_on_move(&self, waker: &Waker) {
        let mut manual = self.0.lock().expect("clock lock");
        // A timer polled again registers again: keep one entry per task.
        if !manual.waiting.iter().any(|w| w.will_wake(waker)) {
            manual.waiting.push(waker.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_move_wakes_each_waiting_timer_once() {
        let start: DateTime<Utc> = "2026-12-08T00:00:00Z".parse().expect("time");
        let clock = ManualClock::new(start);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        clock.wake_on_move(&waker);
        clock.wake_on_move(&waker);
        clock.advance(chrono::Duration::seconds(60));
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "registered twice, woken once");
        clock.set(start);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "a wake is for one move only");
        assert_eq!(clock.now(), start);
        assert_eq!(SystemClock.now().timezone(), Utc);
    }
}
