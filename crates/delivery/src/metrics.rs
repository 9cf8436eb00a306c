//! Metrics of delivery work in this process, on the Prometheus client (`prometheus-client`):
//! attempts by result and by failure code with their latency, how long a submission waited
//! for its first attempt, abandoned deliveries, what this instance owes (deliveries waiting
//! for their first attempt, and for a retry), webhook actors running, and the events an
//! operator must see, such as an actor stopped because another actor writes its stream
//! (that webhook gets nothing from this instance until it restarts).
//!
//! Labels are bounded sets: a result, a failure code, never a webhook or account id. The
//! binary registers these with [`DeliveryMetrics::register`]; the actors record into them.

use std::time::Duration;

use packhooks_domain::delivery::AttemptOutcome;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// A label set of one fixed name and a value from a closed set.
type Label = [(&'static str, &'static str); 1];

/// Attempt latencies from 5 ms to about 20 s (the attempt timeout's range).
fn attempt_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

#[derive(Debug)]
pub struct DeliveryMetrics {
    /// Attempts by `result` (`success`, `failure`), with how long each took.
    attempts: Family<Label, Counter>,
    attempt_seconds: Family<Label, Histogram, fn() -> Histogram>,
    /// Failed attempts by their stable `error_code` (`timeout`, `connect`, `dns`, `tls`,
    /// `status`, `refused_target`).
    failures: Family<Label, Counter>,
    /// From a submission's commit to the start of its first attempt to a webhook: routing,
    /// the backlog and the window included. Deliveries restored at a restart are not timed
    /// (their submission time is not in the checkpoint).
    first_attempt_delay: Histogram,
    deliveries_abandoned: Counter,
    actors_stopped_on_conflict: Counter,
    /// Times a webhook's backlog was full, so what was routed to it next was read back from
    /// the log later instead of kept in memory.
    backlog_overflows: Counter,
    /// Times the dispatcher found a webhook actor's mailbox full and waited for room before
    /// routing on (the bound on what is queued for an actor; see `dispatcher`).
    mailbox_waits: Counter,
    /// Webhook actors running now: one per webhook this instance delivers to; a deleted
    /// webhook's actor retires once it has recorded what it owed.
    actors: Gauge,
    /// Deliveries routed to this instance's actors and not yet attempted (backlog and
    /// window; not what overflowed to be read back from the log).
    backlog: Gauge,
    /// Deliveries of this instance waiting for a retry.
    retries_pending: Gauge,
}

impl Default for DeliveryMetrics {
    fn default() -> Self {
        DeliveryMetrics {
            attempts: Family::default(),
            attempt_seconds: Family::new_with_constructor(attempt_buckets),
            failures: Family::default(),
            first_attempt_delay: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            deliveries_abandoned: Counter::default(),
            actors_stopped_on_conflict: Counter::default(),
            backlog_overflows: Counter::default(),
            mailbox_waits: Counter::default(),
            actors: Gauge::default(),
            backlog: Gauge::default(),
            retries_pending: Gauge::default(),
        }
    }
}

impl DeliveryMetrics {
    /// Adds every delivery metric to `registry` (names start `packhooks_`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register("packhooks_delivery_attempts", "Delivery attempts made, by result.", self.attempts.clone());
        registry.register_with_unit(
            "packhooks_delivery_attempt_duration",
            "How long delivery attempts took, by result (a refused target or DNS failure is quick).",
            Unit::Seconds,
            self.attempt_seconds.clone(),
        );
        registry.register(
            "packhooks_delivery_attempt_failures",
            "Failed delivery attempts, by error_code (timeout, connect, dns, tls, status, refused_target).",
            self.failures.clone(),
        );
        registry.register_with_unit(
            "packhooks_delivery_first_attempt_delay",
            "From a submission's commit to the start of its first attempt to a webhook.",
            Unit::Seconds,
            self.first_attempt_delay.clone(),
        );
        let counters = [
            (
                "packhooks_deliveries_abandoned",
                "Deliveries given up (attempts exhausted, or the webhook disabled, deleted or off plan).",
                &self.deliveries_abandoned,
            ),
            (
                "packhooks_webhook_actors_stopped_on_conflict",
                "Webhook actors stopped because another actor appended to their deliveries stream; their webhooks get nothing from this instance until it restarts.",
                &self.actors_stopped_on_conflict,
            ),
            (
                "packhooks_webhook_backlog_overflows",
                "Times a lagging webhook's backlog was full; what was routed to it next was read back from the log once it caught up.",
                &self.backlog_overflows,
            ),
            (
                "packhooks_webhook_mailbox_waits",
                "Times routing waited for room in a webhook actor's full mailbox.",
                &self.mailbox_waits,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
        let gauges = [
            ("packhooks_webhook_actors", "Webhook actors running in this instance.", &self.actors),
            (
                "packhooks_delivery_backlog",
                "Deliveries routed to this instance's webhook actors and not yet attempted.",
                &self.backlog,
            ),
            ("packhooks_deliveries_pending_retry", "Deliveries of this instance waiting for a retry.", &self.retries_pending),
        ];
        for (name, help, gauge) in gauges {
            registry.register(name, help, gauge.clone());
        }
    }

    /// An attempt's outcome and how long it took.
    pub(crate) fn attempted(&self, outcome: &AttemptOutcome, latency: Duration) {
        let result = match outcome {
            AttemptOutcome::Success { .. } => "success",
            AttemptOutcome::Failure { code, .. } => {
                self.failures.get_or_create(&[("error_code", code.as_str())]).inc();
                "failure"
            }
        };
        let label = [("result", result)];
        self.attempts.get_or_create(&label).inc();
        self.attempt_seconds.get_or_create(&label).observe(latency.as_secs_f64());
    }

    /// A first attempt starts `waited` after its submission was committed.
    pub(crate) fn first_attempt_started(&self, waited: chrono::TimeDelta) {
        self.first_attempt_delay.observe(waited.to_std().unwrap_or_default().as_secs_f64());
    }

    pub(crate) fn abandoned(&self) {
        self.deliveries_abandoned.inc();
    }

    pub(crate) fn stopped_on_conflict(&self) {
        self.actors_stopped_on_conflict.inc();
    }

    pub(crate) fn backlog_overflowed(&self) {
        self.backlog_overflows.inc();
    }

    pub(crate) fn mailbox_waited(&self) {
        self.mailbox_waits.inc();
    }

    pub(crate) fn set_actors(&self, running: usize) {
        self.actors.set(i64::try_from(running).unwrap_or(i64::MAX));
    }

    /// Attempts made so far with this `result` (`success` or `failure`).
    pub fn attempts(&self, result: &'static str) -> u64 {
        self.attempts.get(&[("result", result)]).map_or(0, |c| c.get())
    }

    pub fn abandoned_total(&self) -> u64 {
        self.deliveries_abandoned.get()
    }

    pub fn stopped_on_conflict_total(&self) -> u64 {
        self.actors_stopped_on_conflict.get()
    }

    pub fn backlog_overflows_total(&self) -> u64 {
        self.backlog_overflows.get()
    }

    pub fn mailbox_waits_total(&self) -> u64 {
        self.mailbox_waits.get()
    }

    pub fn actors_running(&self) -> i64 {
        self.actors.get()
    }
}

/// One actor's share of the instance-wide gauges of what is owed: it adds the change since
/// it last published, and takes its share back when it is dropped (however the actor stops),
/// so the gauges are the sum over the actors alive.
#[derive(Debug)]
pub(crate) struct OwedShare {
    metrics: std::sync::Arc<DeliveryMetrics>,
    backlog: i64,
    retries: i64,
}

impl OwedShare {
    pub(crate) fn new(metrics: std::sync::Arc<DeliveryMetrics>) -> Self {
        OwedShare { metrics, backlog: 0, retries: 0 }
    }

    /// This actor now owes `backlog` first attempts and `retries` retries.
    pub(crate) fn publish(&mut self, backlog: usize, retries: usize) {
        let (backlog, retries) = (backlog as i64, retries as i64);
        if backlog != self.backlog {
            self.metrics.backlog.inc_by(backlog - self.backlog);
            self.backlog = backlog;
        }
        if retries != self.retries {
            self.metrics.retries_pending.inc_by(retries - self.retries);
            self.retries = retries;
        }
    }
}

impl Drop for OwedShare {
    fn drop(&mut self) {
        self.publish(0, 0);
    }
}

#[cfg(test)]
mod tests {
    use packhooks_domain::delivery::FailureCode;
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn registers_every_metric_and_counts_failures_by_code() {
        let metrics = std::sync::Arc::new(DeliveryMetrics::default());
        let failure = AttemptOutcome::Failure { code: FailureCode::Timeout, status: None, detail: String::new() };
        metrics.attempted(&failure, Duration::from_millis(30));
        metrics.attempted(&failure, Duration::from_millis(30));
        metrics.stopped_on_conflict();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(text.contains("packhooks_delivery_attempts_total{result=\"failure\"} 2\n"), "{text}");
        assert!(text.contains("packhooks_delivery_attempt_failures_total{error_code=\"timeout\"} 2\n"), "{text}");
        assert!(text.contains("packhooks_delivery_attempt_duration_seconds_count{result=\"failure\"} 2\n"), "{text}");
        assert!(text.contains("packhooks_webhook_actors_stopped_on_conflict_total 1\n"), "{text}");
        assert_eq!(metrics.attempts("failure"), 2);
        assert_eq!(metrics.attempts("success"), 0);
    }

    #[test]
    fn an_actors_share_of_what_is_owed_leaves_the_gauges_when_it_is_dropped() {
        let metrics = std::sync::Arc::new(DeliveryMetrics::default());
        let mut one = OwedShare::new(metrics.clone());
        let mut two = OwedShare::new(metrics.clone());
        one.publish(3, 1);
        two.publish(2, 4);
        one.publish(1, 1);
        assert_eq!((metrics.backlog.get(), metrics.retries_pending.get()), (3, 5));
        drop(two);
        assert_eq!((metrics.backlog.get(), metrics.retries_pending.get()), (1, 1));
        drop(one);
        assert_eq!((metrics.backlog.get(), metrics.retries_pending.get()), (0, 0));
    }
}
