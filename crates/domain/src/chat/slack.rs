//! Slack: an incoming-webhook message with a `text` (the notification and the fallback) and
//! Block Kit `blocks`: a header, the headline, the facts as section fields, the message or
//! feedback, and a context line with the time.
//!
//! Untrusted text is escaped as Slack asks (`&` `<` `>` as `&amp;` `&lt;` `&gt;`), so
//! `<!channel>`, `<@U123>` and `<https://evil|click>` are shown, not acted on, and every
//! `mrkdwn` object is `verbatim`, so Slack does not turn bare names or URLs into links.

use serde_json::{json, Value};

use super::text::{fit, fit_one};
use super::{Part, Summary};

/// Slack's documented Block Kit limits, in characters.
pub struct SlackLimits;

impl SlackLimits {
    /// A message's blocks.
    pub const BLOCKS: usize = 50;
    /// A header block's `plain_text`.
    pub const HEADER: usize = 150;
    /// A section's `text`, and what we keep the top-level `text` to (Slack allows more
    /// there, but a notification is one line).
    pub const SECTION_TEXT: usize = 3000;
    /// A section's `fields`.
    pub const FIELDS: usize = 10;
    /// One field's text.
    pub const FIELD_TEXT: usize = 2000;
    /// A context block's elements.
    pub const CONTEXT_ELEMENTS: usize = 10;
}

/// `&`, `<`, `>` as Slack's three entities; nothing else is encoded (Slack decodes only these).
fn escape(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

fn mrkdwn(text: String) -> Value {
    json!({"type": "mrkdwn", "text": text, "verbatim": true})
}

pub(super) fn message(summary: &Summary<'_>) -> Value {
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": fit(&[Part::Ours(summary.title())], SlackLimits::HEADER, escape), "emoji": true}}),
        json!({"type": "section", "text": mrkdwn(fit(&summary.headline_marked("*"), SlackLimits::SECTION_TEXT, escape))}),
    ];
    let fields: Vec<Value> = summary
        .facts
        .iter()
        .take(SlackLimits::FIELDS)
        .map(|(label, value)| {
            let label = format!("*{label}*\n");
            mrkdwn(fit(&[Part::Ours(&label), Part::Theirs(value)], SlackLimits::FIELD_TEXT, escape))
        })
        .collect();
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if let Some((label, note)) = &summary.note {
        let label = format!("*{label}*\n");
        blocks.push(json!({"type": "section", "text": mrkdwn(fit(&[Part::Ours(&label), Part::Theirs(note)], SlackLimits::SECTION_TEXT, escape))}));
    }
    blocks.push(
        json!({"type": "context", "elements": [mrkdwn(fit_one(&summary.footer(), SlackLimits::SECTION_TEXT, escape))]}),
    );
    json!({
        "text": fit(&summary.headline(), SlackLimits::SECTION_TEXT, escape),
        "blocks": blocks,
    })
}
