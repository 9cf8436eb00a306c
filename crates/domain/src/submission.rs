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
                    name: check_name("candidate.name", candidate.name, MAX_FIELD)?,
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
                name: check_name("candidate.name", c.candidate.name, MAX_FIELD)?,
                email: check_email("candidate.email", c.candidate.email)?,
            },
            reason: match c.reason {
                DeclineReason::Standard(r) => DeclineReason::Standard(r),
                DeclineReason::Custom(label) => {
                    DeclineReason::Custom(required_text("reason.custom", label, MAX_REASON_LABEL)?)
                }
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

/// A required name: a text with at least one visible character.
fn required_text(field: &'static str, text: String, max: usize) -> Result<String, DomainError> {
    let text = check_text(field, Some(text), max)?.expect("Some in, Some out");
    if !text.chars().any(is_visible) {
        return Err(DomainError::invalid_field(field, FieldProblem::Invisible));
    }
    Ok(text)
}

/// An optional name ([`required_text`] when present).
fn check_name(field: &'static str, text: Option<String>, max: usize) -> Result<Option<String>, DomainError> {
    text.map(|text| required_text(field, text, max)).transpose()
}

/// Whether `c` shows as something: not whitespace, not a control character, and not one of
/// the characters that render as nothing (zero-width spaces and joiners, the word joiner and
/// invisible operators, the byte order mark, the soft hyphen, Hangul and Braille fillers).
fn is_visible(c: char) -> bool {
    !c.is_whitespace()
        && !c.is_control()
        && !matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
        )
}

/// An optional text: trimmed, and when present not blank and at most `max` characters.
pub(crate) fn check_text(field: &'static str, text: Option<String>, max: usize) -> Result<Option<String>, DomainError> {
    match text {
        Some(text) if text.trim().is_empty() => Err(DomainError::invalid_field(field, FieldProblem::Blank)),
        text => text_or_none(field, text, max),
    }
}

/// An optional text where blank means none: trimmed, at most `max` characters.
pub(crate) fn text_or_none(
    field: &'static str,
    text: Option<String>,
    max: usize,
) -> Result<Option<String>, DomainError> {
    let Some(text) = text else { return Ok(None) };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.chars().count() > max {
        return Err(DomainError::invalid_field(field, FieldProblem::TooLong { max }));
    }
    if trimmed.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n')) {
        return Err(DomainError::invalid_field(field, FieldProblem::ControlCharacter));
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
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !address.contains(char::is_whitespace)
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

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::testkit::fixtures::{acc, t};
    use crate::testkit::{given_nothing, Given};
    use crate::webhook::WebhookState;

    /// Submissions need no state; the given step is empty.
    fn nothing() -> Given<WebhookState> {
        given_nothing::<WebhookState>()
    }

    fn interest(candidate: InterestedCandidate) -> SubmitInterest {
        SubmitInterest {
            submission_id: SubmissionId::from_uuid(Uuid::from_u128(42)),
            pack_id: PackId::parse("pk_42").expect("pack id"),
            account_id: acc("acc_7"),
            pack_name: "Senior Rust Engineer".into(),
            candidate,
            now: t(0),
        }
    }

    fn decline(reason: DeclineReason, feedback: Option<&str>) -> SubmitDecline {
        SubmitDecline {
            submission_id: SubmissionId::from_uuid(Uuid::from_u128(43)),
            pack_id: PackId::parse("pk_42").expect("pack id"),
            account_id: acc("acc_7"),
            pack_name: "Senior Rust Engineer".into(),
            candidate: DeclinedCandidate { name: Some("Ada".into()), email: Some("ada@example.com".into()) },
            reason,
            feedback: feedback.map(str::to_owned),
            now: t(0),
        }
    }

    fn ada() -> InterestedCandidate {
        InterestedCandidate {
            name: Some("Ada".into()),
            email: Some("ada@example.com".into()),
            phone: Some("+31 6 1234 5678".into()),
            linkedin_url: Some("https://www.linkedin.com/in/ada".into()),
            resume_url: Some("http://cv.example.com/ada.pdf".into()),
            message: Some("Hello!".into()),
        }
    }

    #[test]
    fn interest_records_the_candidate_trimmed() {
        let sent = InterestedCandidate { name: Some("  Ada ".into()), message: Some("\nHello!\n".into()), ..ada() };
        nothing().when(|_| decide(interest(sent))).then_expect(vec![CandidateInterested {
            submission_id: SubmissionId::from_uuid(Uuid::from_u128(42)),
            account_id: acc("acc_7"),
            pack_id: PackId::parse("pk_42").expect("pack id"),
            pack_name: "Senior Rust Engineer".into(),
            candidate: ada(),
            submitted_at: t(0),
        }
        .into()]);
    }

    #[test]
    fn interest_with_nothing_collected_is_fine() {
        let events = decide(interest(InterestedCandidate::default())).expect("valid");
        assert!(
            matches!(&events[..], [DomainEvent::CandidateInterested(e)] if e.candidate == InterestedCandidate::default())
        );
    }

    #[test]
    fn texts_refuse_control_characters_but_tab_and_newline_and_names_need_a_visible_one() {
        let control = |field, problem| DomainError::InvalidField { field, problem };
        for bad in ["Ada\u{0}", "Ada\u{1b}[31m", "Ada\rLovelace", "Ada\u{7f}", "Ada\u{85}Lovelace"] {
            let e = nothing()
                .when(|_| decide(SubmitInterest { pack_name: bad.into(), ..interest(ada()) }))
                .then_invalid_field("pack_name");
            assert_eq!(e, control("pack_name", FieldProblem::ControlCharacter), "{bad:?}");
            let candidate = InterestedCandidate { message: Some(bad.into()), ..ada() };
            nothing().when(|_| decide(interest(candidate))).then_invalid_field("candidate.message");
            let cmd = decline(DeclineReason::Standard(StandardReason::Timing), Some(bad));
            nothing().when(|_| decide(cmd)).then_invalid_field("feedback");
        }
        let candidate = InterestedCandidate { message: Some("Dear team,\n\tthanks.".into()), ..ada() };
        assert!(decide(interest(candidate)).is_ok());
        for invisible in ["\u{200B}", "\u{FEFF}\u{200D}", "\u{3164}", "\u{2800}"] {
            let e = nothing()
                .when(|_| decide(SubmitInterest { pack_name: invisible.into(), ..interest(ada()) }))
                .then_invalid_field("pack_name");
            assert_eq!(e, control("pack_name", FieldProblem::Invisible), "{invisible:?}");
            let candidate = InterestedCandidate { name: Some(invisible.into()), ..ada() };
            nothing().when(|_| decide(interest(candidate))).then_invalid_field("candidate.name");
            nothing()
                .when(|_| decide(decline(DeclineReason::Custom(invisible.into()), None)))
                .then_invalid_field("reason.custom");
        }
        assert!(decide(SubmitInterest { pack_name: "\u{200B}Rust".into(), ..interest(ada()) }).is_ok());
    }

    #[test]
    fn the_pack_name_is_1_to_200_characters() {
        nothing()
            .when(|_| decide(SubmitInterest { pack_name: " ".into(), ..interest(ada()) }))
            .then_invalid_field("pack_name");
        let e = nothing()
            .when(|_| decide(SubmitInterest { pack_name: "n".repeat(201), ..interest(ada()) }))
            .then_invalid_field("pack_name");
        assert_eq!(e, DomainError::InvalidField { field: "pack_name", problem: FieldProblem::TooLong { max: 200 } });
        assert!(decide(SubmitInterest { pack_name: "ñ".repeat(200), ..interest(ada()) }).is_ok());
        nothing()
            .when(|_| {
                decide(SubmitDecline {
                    pack_name: String::new(),
                    ..decline(DeclineReason::Standard(StandardReason::Timing), None)
                })
            })
            .then_invalid_field("pack_name");
    }

    /// Picks one field of a candidate.
    type Field = fn(&mut InterestedCandidate) -> &mut Option<String>;

    /// Each optional field with its JSON path and its longest accepted value.
    fn fields() -> Vec<(&'static str, Field, String)> {
        vec![
            ("candidate.name", |c| &mut c.name, "n".repeat(1000)),
            ("candidate.email", |c| &mut c.email, format!("{}@example.com", "e".repeat(988))),
            ("candidate.phone", |c| &mut c.phone, "1".repeat(1000)),
            ("candidate.linkedin_url", |c| &mut c.linkedin_url, format!("https://x.io/{}", "l".repeat(987))),
            ("candidate.resume_url", |c| &mut c.resume_url, format!("https://x.io/{}", "r".repeat(987))),
            ("candidate.message", |c| &mut c.message, "m".repeat(5000)),
        ]
    }

    #[test]
    fn every_candidate_field_when_present_is_not_blank() {
        for (path, field, _) in fields() {
            for blank in ["", "   ", "\t\n"] {
                let mut candidate = ada();
                *field(&mut candidate) = Some(blank.into());
                let e = nothing().when(|_| decide(interest(candidate))).then_invalid_field(path);
                assert_eq!(e, DomainError::InvalidField { field: path, problem: FieldProblem::Blank });
            }
        }
    }

    #[test]
    fn every_candidate_field_has_a_length_limit() {
        for (path, field, longest) in fields() {
            let mut candidate = ada();
            *field(&mut candidate) = Some(longest.clone());
            assert!(decide(interest(candidate)).is_ok(), "{path} at its limit");
            let mut candidate = ada();
            *field(&mut candidate) = Some(format!("{longest}x"));
            let e = nothing().when(|_| decide(interest(candidate))).then_invalid_field(path);
            assert!(
                matches!(e, DomainError::InvalidField { problem: FieldProblem::TooLong { .. }, .. }),
                "{path}: {e:?}"
            );
        }
    }

    #[test]
    fn an_email_has_one_at_with_something_on_both_sides() {
        for ok in ["a@b", "ada.lovelace+packs@example.co.uk"] {
            let candidate = InterestedCandidate { email: Some(ok.into()), ..ada() };
            assert!(decide(interest(candidate)).is_ok(), "{ok}");
        }
        for bad in ["ada", "@example.com", "ada@", "ada@b@c", "ada lovelace@example.com", "ada@exa mple.com"] {
            let candidate = InterestedCandidate { email: Some(bad.into()), ..ada() };
            let e = nothing().when(|_| decide(interest(candidate))).then_invalid_field("candidate.email");
            assert_eq!(
                e,
                DomainError::InvalidField { field: "candidate.email", problem: FieldProblem::Email },
                "{bad}"
            );
            let mut declined = decline(DeclineReason::Standard(StandardReason::Other), None);
            declined.candidate.email = Some(bad.into());
            nothing().when(|_| decide(declined)).then_invalid_field("candidate.email");
        }
    }

    #[test]
    fn profile_urls_are_http_or_https() {
        for bad in ["linkedin.com/in/ada", "ftp://example.com/cv.pdf", "javascript:alert(1)", "https://"] {
            let candidate = InterestedCandidate { linkedin_url: Some(bad.into()), ..ada() };
            let e = nothing().when(|_| decide(interest(candidate))).then_invalid_field("candidate.linkedin_url");
            assert_eq!(
                e,
                DomainError::InvalidField { field: "candidate.linkedin_url", problem: FieldProblem::Url },
                "{bad}"
            );
            let candidate = InterestedCandidate { resume_url: Some(bad.into()), ..ada() };
            nothing().when(|_| decide(interest(candidate))).then_invalid_field("candidate.resume_url");
        }
        // Data, never fetched: a private address is no reason to refuse.
        let candidate = InterestedCandidate { resume_url: Some("http://10.0.0.1/cv.pdf".into()), ..ada() };
        assert!(decide(interest(candidate)).is_ok());
    }

    #[test]
    fn decline_with_a_standard_reason_and_feedback() {
        let cmd = decline(DeclineReason::Standard(StandardReason::Compensation), Some(" Range too low. "));
        nothing().when(|_| decide(cmd)).then_expect(vec![CandidateDeclined {
            submission_id: SubmissionId::from_uuid(Uuid::from_u128(43)),
            account_id: acc("acc_7"),
            pack_id: PackId::parse("pk_42").expect("pack id"),
            pack_name: "Senior Rust Engineer".into(),
            candidate: DeclinedCandidate { name: Some("Ada".into()), email: Some("ada@example.com".into()) },
            reason: DeclineReason::Standard(StandardReason::Compensation),
            feedback: Some("Range too low.".into()),
            submitted_at: t(0),
        }
        .into()]);
    }

    #[test]
    fn a_custom_reason_label_is_1_to_200_characters() {
        let events = decide(decline(DeclineReason::Custom(" Reason #2 ".into()), None)).expect("valid");
        assert!(
            matches!(&events[..], [DomainEvent::CandidateDeclined(e)] if e.reason == DeclineReason::Custom("Reason #2".into()))
        );
        assert!(decide(decline(DeclineReason::Custom("c".repeat(200)), None)).is_ok());
        nothing()
            .when(|_| decide(decline(DeclineReason::Custom(" ".into()), None)))
            .then_invalid_field("reason.custom");
        nothing()
            .when(|_| decide(decline(DeclineReason::Custom("c".repeat(201)), None)))
            .then_invalid_field("reason.custom");
    }

    #[test]
    fn feedback_is_at_most_5000_characters_and_not_blank() {
        assert!(decide(decline(DeclineReason::Standard(StandardReason::Other), Some(&"f".repeat(5000)))).is_ok());
        nothing()
            .when(|_| decide(decline(DeclineReason::Standard(StandardReason::Other), Some(&"f".repeat(5001)))))
            .then_invalid_field("feedback");
        nothing()
            .when(|_| decide(decline(DeclineReason::Standard(StandardReason::Other), Some(""))))
            .then_invalid_field("feedback");
    }

    #[test]
    fn the_declined_candidate_name_is_checked_too() {
        let mut cmd = decline(DeclineReason::Standard(StandardReason::Location), None);
        cmd.candidate.name = Some("n".repeat(1001));
        nothing().when(|_| decide(cmd)).then_invalid_field("candidate.name");
    }

    #[test]
    fn every_standard_reason_has_a_distinct_code_and_label() {
        let codes: std::collections::HashSet<_> = StandardReason::ALL.iter().map(|r| r.code()).collect();
        let labels: std::collections::HashSet<_> = StandardReason::ALL.iter().map(|r| r.label()).collect();
        assert_eq!((codes.len(), labels.len()), (7, 7));
        for r in StandardReason::ALL {
            assert_eq!(serde_json::to_value(r).expect("serialises"), serde_json::json!(r.code()));
        }
    }
}
