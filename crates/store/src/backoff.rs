//! `Backoff`: how long an infrastructure call that failed for now (a store read or append,
//! a subscription, a client rebuilt) waits before it is tried again. One type for every such
//! loop: delivery's, the API's, and the EventStoreDB backend's.
//!
//! These waits are real time on purpose: they pace calls to a store in an outage, which is
//! not a delivery rule. Retry schedules and auto-disable follow the injected clock instead
//! (`packhooks_delivery`'s `timer`).

use std::time::Duration;

/// Waits `first`, then twice as long each time, up to `max`; [`Backoff::reset`] after a success.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
    /// The most a [`Backoff::next_wait_jittered`] adds, as a fraction of the wait, so that
    /// several instances waiting out the same outage do not all try again in step.
    jitter: f64,
}

impl Backoff {
    /// A read of the store (an actor's stream at start, routed events read back): 100 ms,
    /// doubling up to 30 s.
    pub const STORE_READ: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
    /// A delivery's body read again: 100 ms each time (the attempt is simply due again).
    pub const BODY_READ: Backoff = Backoff::fixed(Duration::from_millis(100));
    /// An append of outcomes, sent again unchanged: 200 ms each time.
    pub const APPEND: Backoff = Backoff::fixed(Duration::from_millis(200));
    /// A broken subscription to `$all`, opened again: 100 ms each time.
    pub const SUBSCRIBE: Backoff = Backoff::fixed(Duration::from_millis(100));

    pub const fn new(first: Duration, max: Duration) -> Self {
        Backoff { first, max, next: first, jitter: 0.0 }
    }

    /// The same waits, each with up to `fraction` more of it at random.
    pub const fn with_jitter(self, fraction: f64) -> Self {
        Backoff { jitter: fraction, ..self }
    }

    /// The same wait every time.
    pub const fn fixed(wait: Duration) -> Self {
        Backoff::new(wait, wait)
    }

    /// The first wait (all of a fixed backoff's waits).
    pub const fn first_wait(&self) -> Duration {
        self.first
    }

    /// The wait before the next try; the one after is twice as long, up to the bound.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = wait.saturating_mul(2).min(self.max);
        wait
    }

    /// [`Backoff::next_wait`] with its jitter: `random` in `[0, 1)`, drawn by the caller.
    pub fn next_wait_jittered(&mut self, random: f64) -> Duration {
        let wait = self.next_wait();
        wait.saturating_add(wait.mul_f64((self.jitter * random).clamp(0.0, 1.0)))
    }

    /// A try worked: the next failure waits the first wait again.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// A duration as an operator reads it in a log line: whole milliseconds with the unit.
pub fn millis(wait: Duration) -> impl std::fmt::Display {
    struct Millis(Duration);
    impl std::fmt::Display for Millis {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}ms", self.0.as_millis())
        }
    }
    Millis(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_its_bound_and_starts_over_after_a_success() {
        let mut backoff = Backoff::STORE_READ;
        let waits: Vec<u128> = (0..12).map(|_| backoff.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
        backoff.reset();
        assert_eq!(backoff.next_wait(), Duration::from_millis(100));
        let mut fixed = Backoff::APPEND;
        assert_eq!([fixed.next_wait(), fixed.next_wait()], [Duration::from_millis(200); 2]);
        let mut huge = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!([huge.next_wait(), huge.next_wait()], [Duration::MAX; 2], "saturates");
        assert_eq!(millis(Duration::from_micros(1_500_400)).to_string(), "1500ms");
    }

    #[test]
    fn a_jittered_wait_adds_at_most_its_fraction_drawn_by_the_caller() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(400)).with_jitter(0.25);
        assert_eq!(backoff.next_wait_jittered(0.0), Duration::from_millis(100));
        assert_eq!(backoff.next_wait_jittered(0.5), Duration::from_millis(225));
        assert_eq!(backoff.next_wait_jittered(1.0), Duration::from_millis(500));
        assert_eq!(backoff.next_wait(), Duration::from_millis(400), "jitter does not compound");
    }
}
