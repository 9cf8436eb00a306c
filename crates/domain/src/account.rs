//! Accounts and their plans: only growth and scale accounts may have webhooks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::{AccountId, DomainEvent};

/// The recruiting product's plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Starter,
    Growth,
    Scale,
}

impl Plan {
    /// Webhooks exist only on growth and scale.
    pub fn allows_webhooks(self) -> bool {
        matches!(self, Plan::Growth | Plan::Scale)
    }
}

/// `account-{id}`: the account's plan changed (or was set for the first time).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPlanChanged {
    pub account_id: AccountId,
    pub plan: Plan,
    /// The plan before, `None` for an account packhooks had not seen.
    pub previous: Option<Plan>,
    pub recorded_at: DateTime<Utc>,
}

/// What the account stream says about an account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountState {
    /// `None` until a plan is first set.
    pub plan: Option<Plan>,
}

/// Set an account's plan (the recruiting product tells packhooks when it changes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetPlan {
    pub account_id: AccountId,
    pub plan: Plan,
    pub now: DateTime<Utc>,
}

/// Setting the plan the account already has is a no-op: no events.
pub fn decide(state: &AccountState, command: SetPlan) -> Result<Vec<DomainEvent>, DomainError> {
    if state.plan == Some(command.plan) {
        return Ok(vec![]);
    }
    Ok(vec![AccountPlanChanged {
        account_id: command.account_id,
        plan: command.plan,
        previous: state.plan,
        recorded_at: command.now,
    }
    .into()])
}

pub fn evolve(state: AccountState, event: &DomainEvent) -> AccountState {
    match event {
        DomainEvent::AccountPlanChanged(e) => AccountState { plan: Some(e.plan) },
        _ => state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::fixtures::{acc, plan_changed, t};
    use crate::testkit::{given, given_nothing};

    fn set(plan: Plan, at: i64) -> SetPlan {
        SetPlan { account_id: acc("acc_7"), plan, now: t(at) }
    }

    #[test]
    fn the_first_plan_has_no_previous() {
        given_nothing::<AccountState>().when(|s| decide(s, set(Plan::Growth, 1))).then_expect(vec![plan_changed(
            "acc_7",
            Plan::Growth,
            None,
            1,
        )]);
    }

    #[test]
    fn a_change_records_the_previous_plan() {
        given::<AccountState>([plan_changed("acc_7", Plan::Growth, None, 1)])
            .when(|s| decide(s, set(Plan::Starter, 2)))
            .then_expect(vec![plan_changed("acc_7", Plan::Starter, Some(Plan::Growth), 2)]);
    }

    #[test]
    fn setting_the_same_plan_again_records_nothing() {
        given::<AccountState>([
            plan_changed("acc_7", Plan::Growth, None, 1),
            plan_changed("acc_7", Plan::Scale, Some(Plan::Growth), 2),
        ])
        .when(|s| decide(s, set(Plan::Scale, 3)))
        .then_no_events();
    }

    #[test]
    fn only_growth_and_scale_allow_webhooks() {
        assert!(!Plan::Starter.allows_webhooks());
        assert!(Plan::Growth.allows_webhooks());
        assert!(Plan::Scale.allows_webhooks());
    }
}
