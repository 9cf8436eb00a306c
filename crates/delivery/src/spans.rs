//! The spans a submission's way through delivery is traced in, so that one `grep` of its
//! id (or one trace) shows it from the HTTP request to its last attempt: `route` (the
//! dispatcher's routing decision, debug level) and `delivery` (one attempt, or a give-up,
//! to one webhook). Both carry `submission_id` (`sub_…`), or `test_id` (`test_…`) for a
//! test event; `delivery` also carries `webhook_id`, `delivery_id` and `attempt`.

use packhooks_domain::delivery::DeliverySource;
use packhooks_domain::{DeliveryId, SubmissionId, TestEventId};
use tracing::field::Empty;
use tracing::Span;

/// Records the submission (or test event) that `source` delivers into `span`'s field.
fn record_subject(span: &Span, source: &DeliverySource) {
    if span.is_disabled() {
        return;
    }
    // `msg_` + the submission's (or test event's) UUID, as the receiver sees it.
    let uuid = source.message_id.strip_prefix("msg_").unwrap_or(&source.message_id);
    if source.test {
        span.record("test_id", tracing::field::display(format_args!("{}{uuid}", TestEventId::PREFIX)));
    } else {
        span.record("submission_id", tracing::field::display(format_args!("{}{uuid}", SubmissionId::PREFIX)));
    }
}

/// The dispatcher routing one submission or test event to `webhooks` webhooks.
pub(crate) fn route(source: &DeliverySource, webhooks: usize) -> Span {
    let span = tracing::debug_span!("route", submission_id = Empty, test_id = Empty, position = %source.position, webhooks);
    record_subject(&span, source);
    span
}

/// One delivery's attempt number `attempt` (or its give-up) to webhook `webhook_id`.
pub(crate) fn delivery(webhook_id: &str, delivery: DeliveryId, source: &DeliverySource, attempt: u32) -> Span {
    let span = tracing::info_span!(
        "delivery",
        submission_id = Empty,
        test_id = Empty,
        webhook_id,
        delivery_id = %delivery,
        attempt,
    );
    record_subject(&span, source);
    span
}
