//! Discord: a webhook message with a `content` line and one embed (title, the facts as
//! fields, the message or feedback as the description, the time in the footer), with
//! `allowed_mentions: {"parse": []}` so nothing in it pings anyone.
//!
//! Untrusted text is escaped for Discord's markdown (a backslash before each markup
//! character, so `**`, `[x](url)`, `<@123>`, `<#1>` and `# heading` stay literal), and a
//! zero-width space follows the `@` of `@everyone` and `@here`, which then read the same but
//! are no mentions even where `allowed_mentions` were ignored. Only fields Discord renders
//! markdown in (content, description, field values) carry untrusted text; the title and the
//! footer are packhooks' own words.

use serde_json::{json, Value};

use super::text::{fit, fit_one};
use super::{Kind, Part, Summary};

/// Discord's documented message and embed limits, in characters.
pub struct DiscordLimits;

impl DiscordLimits {
    pub const CONTENT: usize = 2000;
    pub const TITLE: usize = 256;
    pub const DESCRIPTION: usize = 4096;
    pub const FIELDS: usize = 25;
    pub const FIELD_NAME: usize = 256;
    pub const FIELD_VALUE: usize = 1024;
    pub const FOOTER: usize = 2048;
    /// Title, description, field names and values, footer and author name together.
    pub const EMBED_TOTAL: usize = 6000;
}

/// The least the description keeps when the fields are long (they are cut shorter instead).
const DESCRIPTION_FLOOR: usize = 1000;

/// Colours of the embed's side bar.
const GREEN: u32 = 0x2E_B6_7D;
const RED: u32 = 0xE0_1E_5A;
const GREY: u32 = 0x9E_9E_9E;

/// A backslash before every character Discord's markdown could take as markup.
fn escape(c: char, out: &mut String) {
    if matches!(c, '\\' | '*' | '_' | '~' | '`' | '|' | '<' | '>' | '#' | '-' | '[' | ']' | '(' | ')' | ':' | '.') {
        out.push('\\');
    }
    out.push(c);
}

/// `@everyone` and `@here` with a zero-width space after the `@`.
fn defuse(text: &str) -> String {
    text.replace("@everyone", "@\u{200B}everyone").replace("@here", "@\u{200B}here")
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

pub(super) fn message(summary: &Summary<'_>) -> Value {
    let summary = summary.clone().map_text(defuse);
    let mut facts: Vec<(&str, &str)> = Vec::new();
    if let Some(name) = &summary.name {
        facts.push(("Candidate", name));
    }
    facts.push(("Pack", &summary.pack));
    facts.extend(summary.facts.iter().map(|(label, value)| (*label, value.as_str())));
    facts.truncate(DiscordLimits::FIELDS);

    let title = fit(&[Part::Ours(summary.title())], DiscordLimits::TITLE, escape);
    let footer = fit(&[Part::Ours(&summary.footer())], DiscordLimits::FOOTER, escape);
    let fixed = chars(&title) + chars(&footer) + facts.iter().map(|(label, _)| chars(label)).sum::<usize>();

    // Fields as long as Discord allows, unless that leaves the description too little of the
    // embed's total; then every field gets an equal share.
    let fields_at = |cap: usize| -> Vec<(&str, String)> {
        facts.iter().map(|(label, value)| (*label, fit_one(value, cap, escape))).collect()
    };
    let values = |fields: &[(&str, String)]| fields.iter().map(|(_, v)| chars(v)).sum::<usize>();
    let mut fields = fields_at(DiscordLimits::FIELD_VALUE);
    let reserve = if summary.note.is_some() { DESCRIPTION_FLOOR } else { 0 };
    if fixed + values(&fields) + reserve > DiscordLimits::EMBED_TOTAL {
        let share = (DiscordLimits::EMBED_TOTAL - fixed - reserve) / fields.len().max(1);
        fields = fields_at(share);
    }
    let room = DiscordLimits::EMBED_TOTAL - fixed - values(&fields);
    let description = summary.note.as_ref().map(|(label, text)| {
        let label = format!("**{label}**\n");
        fit(&[Part::Ours(&label), Part::Theirs(text)], room.min(DiscordLimits::DESCRIPTION), escape)
    });

    let color = match (summary.test, summary.kind) {
        (true, _) => GREY,
        (false, Kind::Interested) => GREEN,
        (false, Kind::Declined) => RED,
    };
    let fields: Vec<Value> =
        fields.into_iter().map(|(name, value)| json!({"name": name, "value": value, "inline": true})).collect();
    let mut embed = json!({
        "title": title,
        "color": color,
        "fields": fields,
        "footer": {"text": footer},
        "timestamp": summary.submitted_at_rfc3339,
    });
    if let Some(description) = description {
        embed["description"] = Value::String(description);
    }
    json!({
        "content": fit(&summary.headline_marked("**"), DiscordLimits::CONTENT, escape),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}
