//! Counters of delivery work in this process, for `/metrics`: attempts by result, abandoned
//! deliveries, and webhook actors stopped because another actor writes their stream (the
//! one event an operator must see: that webhook gets nothing from this instance until it
//! restarts), and how many webhook actors run.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct DeliveryMetrics {
    pub attempts_succeeded: AtomicU64,
    pub attempts_failed: AtomicU64,
    pub deliveries_abandoned: AtomicU64,
    pub actors_stopped_on_conflict: AtomicU64,
    /// Times a webhook's backlog was full, so what was routed to it next was read back from
    /// the log later instead of kept in memory.
    pub backlog_overflows: AtomicU64,
    /// Times the dispatcher found a webhook actor's mailbox full and waited for room before
    /// routing on (the bound on what is queued for an actor; see `dispatcher`).
    pub mailbox_waits: AtomicU64,
    /// Webhook actors running now (a gauge): one per webhook this instance delivers to; a
    /// deleted webhook's actor retires once it has recorded what it owed.
    pub actors: AtomicU64,
}

impl DeliveryMetrics {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes the counters in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP packhooks_delivery_attempts_total Delivery attempts made, by result.");
        let _ = writeln!(out, "# TYPE packhooks_delivery_attempts_total counter");
        for (result, counter) in [("success", &self.attempts_succeeded), ("failure", &self.attempts_failed)] {
            let _ = writeln!(
                out,
                "packhooks_delivery_attempts_total{{result=\"{result}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let counters = [
            (
                "packhooks_deliveries_abandoned_total",
                "Deliveries given up (attempts exhausted, or the webhook disabled, deleted or off plan).",
                &self.deliveries_abandoned,
            ),
            (
                "packhooks_webhook_actors_stopped_on_conflict_total",
                "Webhook actors stopped because another actor appended to their deliveries stream; their webhooks get nothing from this instance until it restarts.",
                &self.actors_stopped_on_conflict,
            ),
            (
                "packhooks_webhook_backlog_overflows_total",
                "Times a lagging webhook's backlog was full; what was routed to it next was read back from the log once it caught up.",
                &self.backlog_overflows,
            ),
            (
                "packhooks_webhook_mailbox_waits_total",
                "Times routing waited for room in a webhook actor's full mailbox.",
                &self.mailbox_waits,
            ),
        ];
        for (name, help, counter) in counters {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = write!(
            out,
            "# HELP packhooks_webhook_actors Webhook actors running in this instance.\n# TYPE packhooks_webhook_actors gauge\npackhooks_webhook_actors {}\n",
            self.actors.load(Ordering::Relaxed)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_counter_with_its_value() {
        let metrics = DeliveryMetrics::default();
        DeliveryMetrics::bump(&metrics.attempts_failed);
        DeliveryMetrics::bump(&metrics.attempts_failed);
        DeliveryMetrics::bump(&metrics.actors_stopped_on_conflict);
        let mut text = String::new();
        metrics.render(&mut text);
        assert!(text.contains("packhooks_delivery_attempts_total{result=\"success\"} 0\n"), "{text}");
        assert!(text.contains("packhooks_delivery_attempts_total{result=\"failure\"} 2\n"), "{text}");
        assert!(text.contains("packhooks_deliveries_abandoned_total 0\n"), "{text}");
        assert!(text.contains("packhooks_webhook_actors_stopped_on_conflict_total 1\n"), "{text}");
        metrics.actors.store(3, Ordering::Relaxed);
        let mut text = String::new();
        metrics.render(&mut text);
        assert!(text.contains("# TYPE packhooks_webhook_actors gauge\npackhooks_webhook_actors 3\n"), "{text}");
    }
}
