//! Chat messages: what a Slack, Discord or Microsoft Teams webhook receives instead of the
//! standard body, as pure functions of the same [`WebhookMessage`].
//!
//! - this file: [`render`], the one entry point, and the [`Summary`] every format shows (who,
//!   which pack, interested or declined, the reason and feedback, when, whether a test);
//! - `text.rs`: fitting untrusted text into a platform's length limit with an ellipsis,
//!   escaping it as it goes;
//! - `slack.rs`, `discord.rs`, `teams.rs`: one platform each, with its limits as constants.
//!
//! Candidate names, feedback and pack names come from strangers, so every format keeps them
//! inert: Slack gets `&`, `<`, `>` escaped in `mrkdwn` that is not auto-linked (`verbatim`);
//! Discord gets markdown escaped, `@everyone`/`@here` broken and `allowed_mentions` empty;
//! Teams gets them only in `TextRun`s, which render no markdown, and the card has no actions.
//! A field the form did not collect is left out, never shown as "null".

mod discord;
mod slack;
mod teams;
mod text;

use chrono::DateTime;

use crate::payload::{MessageData, WebhookMessage};
use crate::webhook::WebhookFormat;

pub use self::discord::DiscordLimits;
pub use self::slack::SlackLimits;
pub use self::teams::TEAMS_MAX_CARD_BYTES;
pub use self::text::ELLIPSIS;

/// The body a webhook of `format` receives for `message`: the standard JSON for
/// [`WebhookFormat::Standard`], the chat message otherwise. Deterministic, so every attempt
/// (and a resend) sends the same bytes.
pub fn render(format: WebhookFormat, message: &WebhookMessage) -> Vec<u8> {
    let value = match format {
        WebhookFormat::Standard => return message.to_bytes(),
        WebhookFormat::Slack => slack::message(&Summary::of(message)),
        WebhookFormat::Discord => discord::message(&Summary::of(message)),
        WebhookFormat::Teams => teams::message(&Summary::of(message)),
    };
    serde_json::to_vec(&value).expect("chat messages always serialise")
}

/// Interested or declined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Interested,
    Declined,
}

/// What every chat format shows, read once from the message. The texts are as the candidate
/// gave them (untrusted): each format escapes and fits them.
#[derive(Clone, Debug)]
pub(crate) struct Summary<'a> {
    pub kind: Kind,
    pub test: bool,
    /// The candidate's name, on one line; `None` when the form did not collect it.
    pub name: Option<String>,
    /// The pack's name, on one line.
    pub pack: String,
    /// Short facts in order, each on one line: email, phone, links, the decline reason.
    pub facts: Vec<(&'static str, String)>,
    /// The candidate's message (interested) or feedback (declined), newlines kept.
    pub note: Option<(&'static str, String)>,
    /// `2026-11-28 09:00 UTC`.
    pub submitted_at: String,
    /// As in the standard body (RFC 3339), for platforms that show times in the reader's zone.
    pub submitted_at_rfc3339: &'a str,
    /// The submission's id (`sub_…`), or the test event's (`tev_…`).
    pub submission_id: &'a str,
}

impl<'a> Summary<'a> {
    pub fn of(message: &'a WebhookMessage) -> Self {
        let mut facts = Vec::new();
        let mut push = |label: &'static str, value: &Option<String>| {
            if let Some(value) = value.as_deref().map(one_line).filter(|v| !v.is_empty()) {
                facts.push((label, value));
            }
        };
        let (kind, name, pack, note, submitted_at, submission_id) = match &message.data {
            MessageData::Interested { candidate, pack, submitted_at, submission_id, .. } => {
                push("Email", &candidate.email);
                push("Phone", &candidate.phone);
                push("LinkedIn", &candidate.linkedin_url);
                push("Résumé", &candidate.resume_url);
                let note = candidate.message.as_ref().map(|m| ("Message", m.clone()));
                (Kind::Interested, &candidate.name, pack, note, submitted_at, submission_id)
            }
            MessageData::Declined { candidate, pack, submitted_at, submission_id, reason, feedback, .. } => {
                push("Email", &candidate.email);
                let label = if reason.custom { "Reason (custom)" } else { "Reason" };
                push(label, &Some(reason.label.clone()));
                let note = feedback.as_ref().map(|f| ("Feedback", f.clone()));
                (Kind::Declined, &candidate.name, pack, note, submitted_at, submission_id)
            }
        };
        Summary {
            kind,
            test: message.test,
            name: name.as_deref().map(one_line).filter(|n| !n.is_empty()),
            pack: one_line(&pack.name),
            facts,
            note: note.filter(|(_, text)| !text.trim().is_empty()),
            submitted_at: readable_time(submitted_at),
            submitted_at_rfc3339: submitted_at,
            submission_id,
        }
    }

    /// The same summary with `f` applied to every untrusted text (a platform's own
    /// defusing that is not an escape of single characters).
    pub fn map_text(self, f: impl Fn(&str) -> String) -> Self {
        Summary {
            name: self.name.as_deref().map(&f),
            pack: f(&self.pack),
            facts: self.facts.iter().map(|(label, value)| (*label, f(value))).collect(),
            note: self.note.as_ref().map(|(label, text)| (*label, f(text))),
            ..self
        }
    }

    /// Our own words for what happened: `Candidate interested`, `Test: candidate declined`.
    pub fn title(&self) -> &'static str {
        match (self.kind, self.test) {
            (Kind::Interested, false) => "Candidate interested",
            (Kind::Declined, false) => "Candidate declined",
            (Kind::Interested, true) => "Test event: candidate interested",
            (Kind::Declined, true) => "Test event: candidate declined",
        }
    }

    /// The parts of the one-line summary, our words and the candidate's in turn, so a
    /// format can escape only the latter: `Ada` ` is interested in ` `Senior Rust Engineer`.
    pub fn headline(&self) -> Vec<Part<'_>> {
        let prefix = if self.test { "[Test] " } else { "" };
        let verb = match self.kind {
            Kind::Interested => " is interested in ",
            Kind::Declined => " declined ",
        };
        let who = match &self.name {
            Some(name) => Part::Theirs(name),
            None => Part::Ours("A candidate"),
        };
        vec![Part::Ours(prefix), who, Part::Ours(verb), Part::Theirs(&self.pack)]
    }

    /// The headline with the candidate's texts between `marker`s (`*` bold in Slack, `**`
    /// in Discord).
    pub fn headline_marked(&self, marker: &'static str) -> Vec<Part<'_>> {
        let mut parts = Vec::new();
        for part in self.headline() {
            match part {
                Part::Theirs(_) => parts.extend([Part::Ours(marker), part, Part::Ours(marker)]),
                Part::Ours(_) => parts.push(part),
            }
        }
        parts
    }

    /// `Submitted 2026-11-28 09:00 UTC · sub_…` (our words and ids only).
    pub fn footer(&self) -> String {
        let test = if self.test { " · test event, not a real candidate" } else { "" };
        format!("Submitted {} · {}{test}", self.submitted_at, self.submission_id)
    }
}

/// A piece of text, and whose it is.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Part<'a> {
    /// packhooks' own words: shown as they are.
    Ours(&'a str),
    /// A candidate's or recruiter's text: escaped for the platform.
    Theirs(&'a str),
}

/// The text on one line: every run of whitespace (newlines, tabs) becomes one space, so a
/// name cannot start a line that looks like another field.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `2026-11-28 09:00 UTC` from the message's RFC 3339 time (as it is if it does not parse).
fn readable_time(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| rfc3339.to_owned())
}

#[cfg(test)]
mod tests;
