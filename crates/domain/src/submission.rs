//! Form submissions: a candidate is interested, or declines with a standard or custom reason.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, FieldProblem};
use crate::{AccountId, DomainEvent, PackId, SubmissionId};

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

/// The longest pack name, in characters.
pub const MAX_PACK_NAME: usize = 200;
/// The longest custom decline reason label, in characters.
pub const MAX_REASON_LABEL: usize = 200;
/// The longest short field (name, email, phone, urls), in characters.
pub const MAX_FIELD: usize = 1000;
/// The longest free text (the candidate's message, decline feedback), in characters.
pub const MAX_TEXT: usize = 5000;

/// A candidate said they are interested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitInterest {
    pub submission_id: SubmissionId,
    pub pack_id: PackId,
    pub account_id: AccountId,
    pub pack_name: String,
    pub candidate: InterestedCandidate,
    pub now: DateTime<Utc>,
}

/// A candidate declined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitDecline {
    pub submission_id: SubmissionId,
    pub pack_id: PackId,
    pub account_id: AccountId,
    pub pack_name: String,
    pub candidate: DeclinedCandidate,
    pub reason: DeclineReason,
    pub feedback: Option<String>,
    pub now: DateTime<Utc>,
}

/// Every submission command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubmissionCommand {
    Interest(SubmitInterest),
    Decline(SubmitDecline),
}

impl From<SubmitInterest> for SubmissionCommand {
    fn from(c: SubmitInterest) -> Self {
        SubmissionCommand::Interest(c)
    }
}

impl From<SubmitDecline> for SubmissionCommand {
    fn from(c: SubmitDecline) -> Self {
        SubmissionCommand::Decline(c)
    }
}

/// Validates a submission and turns it into its event. Submissions need no state: a pack
/// stream only records what candidates sent. Texts are stored trimmed; a field the form did
/// not collect is `None` (absent or `null`), never an empty string.
pub fn decide(command: impl Into<SubmissionCommand>) -> Result<Vec<DomainEvent>, DomainError> {
    let event: DomainEvent = match command.into() {
        SubmissionCommand::Interest(c) => {
            let candidate = c.candidate;
            CandidateInterested {
                submission_id: c.submission_id,
                account_id: c.account_id,
                pack_id: c.pack_id,
                pack_name: check_pack_name(c.pack_name)?,
                candidate: InterestedCandidate {
                    name: check_text("candidate.name", candidate.name, MAX_FIELD)?,
                    email: check_email("candidate.email", candidate.email)?,
                    phone: check_text("candidate.phone", candidate.phone, MAX_FIELD)?,
                    linkedin_url: check_http_url("candidate.linkedin_url", candidate.linkedin_url)?,
                    resume_url: check_http_url("candidate.resume_url", candidate.resume_url)?,
                    message: check_text("candidate.message", candidate.message, MAX_TEXT)?,
                },
                submitted_at: c.now,
            }
            .into()
        }
        SubmissionCommand::Decline(c) => CandidateDeclined {
            submission_id: c.submission_id,
            account_id: c.account_id,
            pack_id: c.pack_id,
            pack_name: check_pack_name(c.pack_name)?,
            candidate: DeclinedCandidate {
                name: check_text("candidate.name", c.candidate.name, MAX_FIELD)?,
                email: check_email("candidate.email", c.candidate.email)?,
            },
            reason: match c.reason {
                DeclineReason::Standard(r) => DeclineReason::Standard(r),
                DeclineReason::Custom(label) => DeclineReason::Custom(required_text(
                    "reason.custom",
                    label,
                    MAX_REASON_LABEL,
                )?),
            },
            feedback: check_text("feedback", c.feedback, MAX_TEXT)?,
            submitted_at: c.now,
        }
        .into(),
    };
    Ok(vec![event])
}

fn check_pack_name(name: String) -> Result<String, DomainError> {
    required_text("pack_name", name, MAX_PACK_NAME)
}

fn required_text(field: &'static str, text: String, max: usize) -> Result<String, DomainError> {
    Ok(check_text(field, Some(text), max)?.expect("Some in, Some out"))
}

/// An optional text: trimmed, and when present not blank and at most `max` characters.
pub(crate) fn check_text(
    field: &'static str,
    text: Option<String>,
    max: usize,
) -> Result<Option<String>, DomainError> {
    let Some(text) = text else { return Ok(None) };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DomainError::invalid_field(field, FieldProblem::Blank));
    }
    if trimmed.chars().count() > max {
        return Err(DomainError::invalid_field(field, FieldProblem::TooLong { max }));
    }
    Ok(Some(if trimmed.len() == text.len() { text } else { trimmed.to_owned() }))
}

/// One `@` with something on both sides, and no whitespace. Deliverability is the
/// recruiter's business; this only catches what is clearly not an address.
fn check_email(field: &'static str, email: Option<String>) -> Result<Option<String>, DomainError> {
    let email = check_text(field, email, MAX_FIELD)?;
    if let Some(address) = &email {
        let valid = match address.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !address.contains(char::is_whitespace)
            }
            None => false,
        };
        if !valid {
            return Err(DomainError::invalid_field(field, FieldProblem::Email));
        }
    }
    Ok(email)
}

/// An http or https URL with a host. These are data shown to the recruiter, never fetched,
/// so the private-target policy of webhook URLs does not apply.
fn check_http_url(field: &'static str, raw: Option<String>) -> Result<Option<String>, DomainError> {
    let text = check_text(field, raw, MAX_FIELD)?;
    if let Some(text) = &text {
        let valid = url::Url::parse(text)
            .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .unwrap_or(false);
        if !valid {
            return Err(DomainError::invalid_field(field, FieldProblem::Url));
        }
    }
    Ok(text)
}
