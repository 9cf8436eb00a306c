//! The operator's log lines of delivery, captured in process (the whole binary's log goes to
//! one subscriber, so this file holds one test): at info, each abandoned delivery, each
//! webhook flagged failing, recovered or disabled, with the webhook, its account and the
//! error code; positions written as numbers and durations with their unit. Real SQLite
//! store, real actors, real HTTP to a `TestReceiver` on 127.0.0.1; the first failed read
//! is a fault injection (`packhooks_tests::faults`).

#[allow(dead_code)]
#[path = "delivery/harness.rs"]
mod harness;

use std::io::Write;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::{test_config, Env};
use packhooks_domain::account::Plan;
use packhooks_domain::clock::SystemClock;
use packhooks_domain::submission::InterestedCandidate;
use packhooks_domain::webhook::EventType;
use packhooks_tests::faults::{Faulty, FlakyReads};
use packhooks_tests::receiver::Reply;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// Every line written, shared with the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().expect("log buffer").clone()).expect("utf-8 log");
        text.lines().map(|l| serde_json::from_str(l).expect("a JSON log line")).collect()
    }

    /// The lines with this message, waiting (a bounded poll) until there are `n`.
    async fn wait_for(&self, message: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let found: Vec<Value> = self.lines().into_iter().filter(|l| l["message"] == message).collect();
            if found.len() >= n {
                return found;
            }
            assert!(Instant::now() < deadline, "no {n} lines {message:?} in {:#?}", self.lines());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[actix_rt::test]
async fn abandoned_failing_recovered_and_disabled_are_logged_at_info_with_webhook_account_and_error_code() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .init();

    let mut env = Env::new(test_config());
    env.set_plan("acc_7", Plan::Growth).await;
    let (down, _) = env.create_webhook("acc_7", "/down", &[EventType::Interested]).await;
    let (gone, _) = env.create_webhook("acc_7", "/gone", &[EventType::Interested]).await;
    let status = Arc::new(AtomicU16::new(503));
    let answer = status.clone();
    env.receiver.on("/down", move |_| Reply::status(answer.load(Ordering::SeqCst)));
    env.receiver.on("/gone", |_| Reply::status(410));
    // Stand-in: the first read of a deliveries stream fails, so an actor waits before loading.
    let flaky = Faulty::new(env.store.clone(), FlakyReads::new("deliveries-", 1));
    env.start_on(flaky, Arc::new(SystemClock));
    env.interested("acc_7", "pk_1", InterestedCandidate::default()).await;

    let (down_id, gone_id) = (down.id.to_string(), gone.id.to_string());
    let of = |lines: Vec<Value>, id: &str| lines.into_iter().filter(|l| l["webhook"] == id).collect::<Vec<_>>();
    let abandoned = captured.wait_for("delivery abandoned", 2).await;
    for (id, status_code) in [(&down_id, 503), (&gone_id, 410)] {
        let line = of(abandoned.clone(), id);
        assert_eq!(line.len(), 1, "{abandoned:#?}");
        let line = &line[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["account"], "acc_7");
        assert_eq!(line["error_code"], "status");
        assert_eq!(line["status_code"], status_code);
        assert!(line["delivery"].as_str().is_some_and(|d| d.starts_with("dlv_")), "{line}");
    }
    assert_eq!(of(abandoned.clone(), &down_id)[0]["attempts"], 3);
    assert_eq!(of(abandoned, &gone_id)[0]["attempts"], 1);
    let flagged = captured.wait_for("webhook flagged failing", 2).await;
    for id in [&down_id, &gone_id] {
        let line = &of(flagged.clone(), id)[0];
        assert_eq!((line["level"].as_str(), line["account"].as_str()), (Some("INFO"), Some("acc_7")));
        assert_eq!(line["error_code"], "status");
    }
    let disabled = captured.wait_for("webhook disabled automatically", 1).await;
    let line = &of(disabled, &gone_id)[0];
    assert_eq!((line["level"].as_str(), line["account"].as_str()), (Some("INFO"), Some("acc_7")));
    assert_eq!(line["reason_code"], "gone");

    status.store(200, Ordering::SeqCst);
    env.interested("acc_7", "pk_1", InterestedCandidate::default()).await;
    let recovered = captured.wait_for("webhook recovered", 1).await;
    let line = &of(recovered, &down_id)[0];
    assert_eq!((line["level"].as_str(), line["account"].as_str()), (Some("INFO"), Some("acc_7")));

    // Readable fields: a duration with its unit, positions as numbers.
    let retry = captured.wait_for("cannot load the deliveries stream yet; trying again", 1).await;
    assert_eq!(retry[0]["retry_in"], "100ms", "{retry:#?}");
    let caught_up = captured.wait_for("dispatcher caught up", 1).await;
    assert!(caught_up[0]["position"].is_u64(), "the position is not a number: {caught_up:#?}");
}
