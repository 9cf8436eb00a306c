//! Form submissions: a candidate is interested, or declines with a standard or custom reason.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{AccountId, PackId, SubmissionId};

/// What the Interested form may collect; anything it did not collect is `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InterestedCandidate {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub linkedin_url: Option<String>,
    pub resume_url: Option<String>,
    pub message: Option<String>,
}

/// What the Declined form may collect about the candidate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeclinedCandidate {
    pub name: Option<String>,
    pub email: Option<String>,
}

/// The standard decline reasons, with their stable codes and labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StandardReason {
    NotLooking,
    Compensation,
    Location,
    RoleFit,
    Company,
    Timing,
    Other,
}

impl StandardReason {
    pub const ALL: [StandardReason; 7] = [
        StandardReason::NotLooking,
        StandardReason::Compensation,
        StandardReason::Location,
        StandardReason::RoleFit,
        StandardReason::Company,
        StandardReason::Timing,
        StandardReason::Other,
    ];

    pub fn code(self) -> &'static str {
        match self {
            StandardReason::NotLooking => "not_looking",
            StandardReason::Compensation => "compensation",
            StandardReason::Location => "location",
            StandardReason::RoleFit => "role_fit",
            StandardReason::Company => "company",
            StandardReason::Timing => "timing",
            StandardReason::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StandardReason::NotLooking => "Not looking right now",
            StandardReason::Compensation => "Compensation",
            StandardReason::Location => "Location",
            StandardReason::RoleFit => "Role not a fit",
            StandardReason::Company => "Company",
            StandardReason::Timing => "Timing",
            StandardReason::Other => "Other",
        }
    }
}

/// Why a candidate declined: one of the standard reasons, or a pack's own custom label.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    Standard(StandardReason),
    Custom(String),
}

/// `pack-{id}`: a candidate submitted the Interested form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateInterested {
    pub submission_id: SubmissionId,
    pub account_id: AccountId,
    pub pack_id: PackId,
    pub pack_name: String,
    pub candidate: InterestedCandidate,
    pub submitted_at: DateTime<Utc>,
}

/// `pack-{id}`: a candidate submitted the Declined form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateDeclined {
    pub submission_id: SubmissionId,
    pub account_id: AccountId,
    pub pack_id: PackId,
    pub pack_name: String,
    pub candidate: DeclinedCandidate,
    pub reason: DeclineReason,
    pub feedback: Option<String>,
    pub submitted_at: DateTime<Utc>,
}
