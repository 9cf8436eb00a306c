//! Timers on the injected clock: a retry's due time or a failing webhook's auto-disable time
//! is a time of the [`Clock`], and a timer fires once that clock reaches it. On the wall
//! clock that is a real wait; on a `ManualClock` it is as soon as a test moves the clock
//! past it, with no real waiting (and never before, however long a test runs).

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;

use chrono::{DateTime, Utc};
use packhooks_domain::clock::Clock;

/// Resolves once `clock` reads `at` or later.
pub async fn sleep_until(clock: Arc<dyn Clock>, at: DateTime<Utc>) {
    loop {
        // A due time in the past, or past what a `Duration` holds, is due now or never:
        // `to_std` refuses the first (due now); the second sleeps as long as tokio can.
        let Ok(wait) = (at - clock.now()).to_std() else { return };
        if wait.is_zero() {
            return;
        }
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        std::future::poll_fn(|cx| {
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            clock.wake_on_move(cx.waker());
            // Checked after registering, so a move in between is not missed.
            if clock.now() >= at {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use packhooks_domain::clock::ManualClock;

    use super::*;

    #[actix_rt::test]
    async fn a_timer_on_a_manual_clock_fires_when_the_clock_passes_its_time_and_not_before() {
        let start: DateTime<Utc> = "2026-12-08T00:00:00Z".parse().expect("time");
        let clock = Arc::new(ManualClock::new(start));
        let at = start + chrono::Duration::days(7);
        let timer = tokio::spawn(sleep_until(clock.clone(), at));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!timer.is_finished(), "fired before the clock moved");
        clock.advance(chrono::Duration::days(6));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!timer.is_finished(), "fired a day early");
        clock.advance(chrono::Duration::days(1));
        tokio::time::timeout(Duration::from_secs(5), timer).await.expect("fires at once").expect("no panic");
        // Due already: resolves at once, on any clock.
        sleep_until(clock.clone(), start).await;
    }
}
