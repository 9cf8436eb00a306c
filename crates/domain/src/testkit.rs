//! given/when/then for the domain's tests (after cqrs-es's `src/test/framework.rs`):
//! given these past events, when this command is decided, then these events or this error.

use crate::account::{self, AccountState};
use crate::webhook::WebhookState;
use crate::{DomainError, DomainEvent};

/// A state folded from events.
pub trait Folded: Default {
    fn evolve(self, event: &DomainEvent) -> Self;
}

impl Folded for WebhookState {
    fn evolve(self, event: &DomainEvent) -> Self {
        WebhookState::evolve(self, event)
    }
}

impl Folded for AccountState {
    fn evolve(self, event: &DomainEvent) -> Self {
        account::evolve(self, event)
    }
}

pub struct Given<S> {
    state: S,
}

pub fn given<S: Folded>(events: impl IntoIterator<Item = DomainEvent>) -> Given<S> {
    Given { state: events.into_iter().fold(S::default(), |s, e| s.evolve(&e)) }
}

/// No past events.
pub fn given_nothing<S: Folded>() -> Given<S> {
    given(Vec::new())
}

impl<S> Given<S> {
    pub fn when(self, decide: impl FnOnce(&S) -> Result<Vec<DomainEvent>, DomainError>) -> Then {
        Then(decide(&self.state))
    }
}

#[must_use = "a `when` without a `then` asserts nothing"]
pub struct Then(Result<Vec<DomainEvent>, DomainError>);

impl Then {
    #[track_caller]
    pub fn then_expect(self, expected: Vec<DomainEvent>) {
        match self.0 {
            Ok(events) => assert_eq!(events, expected),
            Err(e) => panic!("expected events, got error {} ({e})", e.code()),
        }
    }

    #[track_caller]
    pub fn then_no_events(self) {
        self.then_expect(vec![]);
    }

    /// The error's code, and returns the error for closer checks.
    #[track_caller]
    pub fn then_error(self, code: &str) -> DomainError {
        match self.0 {
            Ok(events) => panic!("expected error {code}, got events {events:?}"),
            Err(e) => {
                assert_eq!(e.code(), code, "{e}");
                e
            }
        }
    }

    /// An `invalid_field` error naming `field`.
    #[track_caller]
    pub fn then_invalid_field(self, field: &str) -> DomainError {
        let e = self.then_error("invalid_field");
        assert_eq!(e.field(), Some(field), "{e}");
        e
    }
}

/// Fixtures shared by the domain's tests.
pub mod fixtures {
    use chrono::{DateTime, TimeZone, Utc};
    use uuid::Uuid;

    use crate::account::{AccountPlanChanged, Plan};
    use crate::webhook::{EventType, Secret, WebhookCreated};
    use crate::{AccountId, DomainEvent, WebhookId};

    /// `secs` seconds after 2026-11-28T09:00:00Z.
    pub fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).single().expect("valid time") + chrono::Duration::seconds(secs)
    }

    pub fn acc(name: &str) -> AccountId {
        AccountId::parse(name).expect("valid account id")
    }

    pub fn wh(n: u128) -> WebhookId {
        WebhookId::from_uuid(Uuid::from_u128(n))
    }

    /// A valid 32-byte secret, different for each `n`.
    pub fn secret(n: u8) -> Secret {
        Secret::from_bytes(&[n; 32])
    }

    pub fn plan_changed(account: &str, plan: Plan, previous: Option<Plan>, at: i64) -> DomainEvent {
        AccountPlanChanged { account_id: acc(account), plan, previous, recorded_at: t(at) }.into()
    }

    pub fn created(id: WebhookId, account: &str, events: &[EventType], at: i64) -> DomainEvent {
        WebhookCreated {
            webhook_id: id,
            account_id: acc(account),
            url: "https://hooks.example.com/in".into(),
            events: events.to_vec(),
            description: None,
            format: Default::default(),
            secret: secret(1),
            secret_version: 1,
            recorded_at: t(at),
        }
        .into()
    }
}
