//! Explaining a submission, shared by `GET /v1/submissions/{id}` and `packhooks audit
//! submission`: for each webhook its account has or had, whether the submission was routed
//! there and, if not, why; and each delivery's state and attempts.
//!
//! The submission is found by id in the pack statistics' `submissions` index; the account's
//! webhooks (deleted ones too) in the health read model. Whether it was routed is the
//! domain's [`routing`] over the account's and each webhook's lifecycle events that precede
//! the submission in the log, read from the log itself: the dispatcher's answer, so the same
//! live, after a restart and after a rebuild. The delivery and its attempts come from the
//! delivery log.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use packhooks_domain::events::DecodeError;
use packhooks_domain::explain::{routing, NotRouted};
use packhooks_domain::webhook::EventType;
use packhooks_domain::{DeliveryId, DomainEvent, SubmissionId, WebhookId};
use packhooks_store::{read_stream_to_end, Direction, EventStore, Position, StoreError, StreamPosition};
use serde::Serialize;

use crate::delivery_log::AttemptEntry;
use crate::{ProjectionError, ReadModels};

/// A submission and where it went.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SubmissionExplained {
    /// `sub_…`
    pub submission_id: String,
    /// `interested` or `declined`.
    pub event_type: EventType,
    pub account_id: String,
    pub pack_id: String,
    pub pack_name: String,
    pub submitted_at: DateTime<Utc>,
    /// Its place in the log (`$all`).
    pub position: String,
    /// Every webhook the account has or had, oldest first.
    pub webhooks: Vec<WebhookRouting>,
}

/// Whether the submission went to one webhook, and what came of it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WebhookRouting {
    /// `wh_…`
    pub webhook_id: String,
    /// Whether the submission was routed to this webhook when it was made.
    pub routed: bool,
    /// Why it was not routed; `null` when it was.
    pub reason: Option<NotRouted>,
    /// The webhook is deleted now.
    pub deleted: bool,
    /// The delivery of this submission to this webhook; `null` when none was attempted.
    pub delivery: Option<ExplainedDelivery>,
}

/// One delivery with its attempts, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExplainedDelivery {
    /// `dlv_…`
    pub delivery_id: String,
    /// The `webhook-id` the receiver saw, `msg_…`.
    pub message_id: String,
    /// `pending`, `delivered` or `abandoned`.
    pub state: String,
    pub attempts: Vec<AttemptEntry>,
}

/// The explanation of the submission `id`; `None` when the read model has not seen it.
pub async fn explain(
    store: &dyn EventStore,
    read: &Arc<ReadModels>,
    id: SubmissionId,
) -> Result<Option<SubmissionExplained>, ProjectionError> {
    let Some(row) = read.submission(id.to_string()).await? else { return Ok(None) };
    let found =
        match store.read_stream(&row.stream, StreamPosition::Revision(row.revision), Direction::Forwards, 1).await {
            Ok(found) => found,
            Err(StoreError::StreamNotFound(_) | StoreError::StreamDeleted(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
    let Some(recorded) = found.into_iter().next() else { return Ok(None) };
    let (account, kind, pack_id, pack_name, submitted_at) =
        match DomainEvent::decode(&recorded.event_type, &recorded.data).map_err(|e| decode(&row.stream, e))? {
            DomainEvent::CandidateInterested(e) => {
                (e.account_id, EventType::Interested, e.pack_id, e.pack_name, e.submitted_at)
            }
            DomainEvent::CandidateDeclined(e) => {
                (e.account_id, EventType::Declined, e.pack_id, e.pack_name, e.submitted_at)
            }
            _ => return Ok(None),
        };
    let account_events = lifecycle(store, &account.stream()).await?;
    let mut webhooks = Vec::new();
    for webhook in read.account_webhooks(account.to_string()).await? {
        let Ok(webhook) = WebhookId::parse(&webhook) else { continue };
        let events = lifecycle(store, &webhook.stream()).await?;
        let created = events.first().map(|(p, _)| *p);
        let deleted = events.iter().any(|(_, e)| matches!(e, DomainEvent::WebhookDeleted(_)));
        let mut before: Vec<&(Position, DomainEvent)> =
            account_events.iter().chain(&events).filter(|(p, _)| *p < recorded.position).collect();
        before.sort_by_key(|(p, _)| *p);
        let before: Vec<DomainEvent> = before.into_iter().map(|(_, e)| e.clone()).collect();
        let verdict = routing(&before, kind, webhook);
        let delivery_id = DeliveryId::for_message(webhook, id.uuid());
        let delivery = read.delivery(webhook.to_string(), delivery_id.to_string()).await?.map(|(row, attempts)| {
            ExplainedDelivery { delivery_id: row.delivery_id, message_id: row.message_id, state: row.state, attempts }
        });
        let routing = WebhookRouting {
            webhook_id: webhook.to_string(),
            routed: verdict.is_ok(),
            reason: verdict.err(),
            deleted,
            delivery,
        };
        webhooks.push((created, routing));
    }
    webhooks.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.webhook_id.cmp(&b.1.webhook_id)));
    Ok(Some(SubmissionExplained {
        submission_id: id.to_string(),
        event_type: kind,
        account_id: account.to_string(),
        pack_id: pack_id.to_string(),
        pack_name,
        submitted_at,
        position: recorded.position.to_string(),
        webhooks: webhooks.into_iter().map(|(_, w)| w).collect(),
    }))
}

/// A lifecycle stream's events with their log positions (one this version cannot read is
/// skipped, as the dispatcher skips it).
async fn lifecycle(store: &dyn EventStore, stream: &str) -> Result<Vec<(Position, DomainEvent)>, ProjectionError> {
    Ok(read_stream_to_end(store, stream, StreamPosition::Start)
        .await?
        .into_iter()
        .filter_map(|r| DomainEvent::decode(&r.event_type, &r.data).ok().map(|e| (r.position, e)))
        .collect())
}

fn decode(stream: &str, source: DecodeError) -> ProjectionError {
    ProjectionError::Decode { stream: stream.to_owned(), source }
}
