//! Loading a webhook actor's state from its `deliveries-` stream: read backwards to the
//! latest `DeliveryCheckpoint`, then folded forwards from there by the domain's
//! [`DeliveryState`] (which holds the rules of what is owed at resume; DESIGN.md, "Delivery
//! guarantees").

use packhooks_domain::delivery::DeliveryState;
use packhooks_domain::{DomainEvent, WebhookId};
use packhooks_store::{Direction, EventStore, StoreError, StreamPosition};

use crate::DeliveryError;

/// Events read per backwards page while looking for the latest checkpoint.
const PAGE: usize = 256;

/// What a webhook actor resumes from.
#[derive(Clone, Debug, Default)]
pub struct ResumeState {
    /// The revision of the stream's last event; `None` when the stream does not exist. The
    /// next append expects exactly this.
    pub last_revision: Option<u64>,
    /// Health, what is owed, and what a replay must skip.
    pub state: DeliveryState,
}

impl ResumeState {
    /// Reads the stream from its latest checkpoint on and folds it.
    pub async fn load(store: &dyn EventStore, webhook: WebhookId) -> Result<Self, DeliveryError> {
        let stream = webhook.deliveries_stream();
        let mut tail = Vec::new();
        let mut from = StreamPosition::End;
        loop {
            let page = match store.read_stream(&stream, from, Direction::Backwards, PAGE).await {
                Ok(page) => page,
                Err(StoreError::StreamNotFound(_)) => break,
                Err(e) => return Err(e.into()),
            };
            let len = page.len();
            let mut found = false;
            for recorded in page {
                let event = DomainEvent::decode(&recorded.event_type, &recorded.data).map_err(|source| {
                    DeliveryError::Decode { stream: stream.clone(), revision: recorded.revision, source }
                })?;
                found = matches!(event, DomainEvent::DeliveryCheckpoint(_));
                tail.push((recorded.revision, event));
                if found {
                    break;
                }
            }
            match tail.last() {
                Some((revision, _)) if !found && len == PAGE && *revision > 0 => {
                    from = StreamPosition::Revision(revision - 1)
                }
                _ => break,
            }
        }
        let last_revision = tail.first().map(|(revision, _)| *revision);
        let state = tail.iter().rev().fold(DeliveryState::default(), |state, (_, event)| state.evolve(event));
        Ok(ResumeState { last_revision, state })
    }
}
