//! Microsoft Teams: a message with one Adaptive Card, as Teams Workflows (Power Automate's
//! "post a card when a webhook request is received") and the older connector URLs take it.
//!
//! Adaptive Cards render markdown in `TextBlock`s and in facts, but not in a `TextRun` of a
//! `RichTextBlock`, so every untrusted text is a `TextRun` (with `{{` broken, so it is no
//! date template either), and the card has no actions and no `selectAction`: nothing a
//! candidate writes becomes a link, a button or formatting. Our own title is a `TextBlock`.

use serde_json::{json, Value};

use super::text::{fit, verbatim};
use super::{Part, Summary};

/// Teams refuses a message over 28 KB; the body is kept under this many bytes.
pub const TEAMS_MAX_CARD_BYTES: usize = 28_000;

/// Adaptive Cards set no length per text; these keep the worst case (every field at the
/// submission limits, four bytes a character) well under [`TEAMS_MAX_CARD_BYTES`].
const LINE: usize = 500;
const NOTE: usize = 3000;

/// `{{` with a zero-width space between the braces.
fn defuse(text: &str) -> String {
    text.replace("{{", "{\u{200B}{")
}

fn run(text: String, bold: bool) -> Value {
    let mut run = json!({"type": "TextRun", "text": text});
    if bold {
        run["weight"] = json!("Bolder");
    }
    run
}

fn rich(inlines: Vec<Value>) -> Value {
    json!({"type": "RichTextBlock", "inlines": inlines})
}

pub(super) fn message(summary: &Summary<'_>) -> Value {
    let summary = summary.clone().map_text(defuse);
    let headline = summary
        .headline()
        .into_iter()
        .filter(|part| !matches!(part, Part::Ours("")))
        .map(|part| match part {
            Part::Theirs(_) => run(fit(&[part], LINE, verbatim), true),
            Part::Ours(_) => run(fit(&[part], LINE, verbatim), false),
        })
        .collect();
    let mut body = vec![
        json!({"type": "TextBlock", "text": summary.title(), "weight": "Bolder", "size": "Medium", "wrap": true}),
        rich(headline),
    ];
    for (label, value) in &summary.facts {
        body.push(rich(vec![run(format!("{label}: "), true), run(fit(&[Part::Theirs(value)], LINE, verbatim), false)]));
    }
    if let Some((label, note)) = &summary.note {
        body.push(rich(vec![run((*label).to_owned(), true)]));
        body.push(rich(vec![run(fit(&[Part::Theirs(note)], NOTE, verbatim), false)]));
    }
    body.push(json!({"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": summary.footer(), "isSubtle": true, "size": "Small"}]}));
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}
