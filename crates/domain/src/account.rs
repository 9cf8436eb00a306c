//! Accounts and their plans: only growth and scale accounts may have webhooks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::AccountId;

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
