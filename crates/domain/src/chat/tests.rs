//! Chat formats: golden files of every format for every kind of message, each body checked
//! against its platform's documented constraints, and untrusted text shown as inert text.
//!
//! The golden files are `crates/domain/tests/golden/chat/<case>.<format>.json`; after a
//! deliberate change, `PACKHOOKS_UPDATE_GOLDEN=1 cargo test -p packhooks-domain chat` writes
//! them again (read the diff before committing it).

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::*;
use crate::payload::WebhookMessage;
use crate::submission::{
    CandidateDeclined, CandidateInterested, DeclineReason, DeclinedCandidate, InterestedCandidate, StandardReason,
    MAX_FIELD, MAX_PACK_NAME, MAX_TEXT,
};
use crate::webhook::{EventType, TestEventRequested, WebhookFormat};
use crate::{AccountId, PackId, SubmissionId, TestEventId, WebhookId};

const CHAT: [WebhookFormat; 3] = [WebhookFormat::Slack, WebhookFormat::Discord, WebhookFormat::Teams];
const EVIL: &str = "<!channel> @everyone <https://evil.example|click>";

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).single().expect("valid") + chrono::Duration::microseconds(123_456)
}

fn interested(candidate: InterestedCandidate, pack: &str) -> WebhookMessage {
    WebhookMessage::interested(&CandidateInterested {
        submission_id: SubmissionId::from_uuid(Uuid::from_u128(0x2a)),
        account_id: AccountId::parse("acc_7").expect("id"),
        pack_id: PackId::parse("pk_42").expect("id"),
        pack_name: pack.into(),
        candidate,
        submitted_at: at(),
    })
}

fn declined(name: Option<&str>, reason: DeclineReason, feedback: Option<&str>) -> WebhookMessage {
    WebhookMessage::declined(&CandidateDeclined {
        submission_id: SubmissionId::from_uuid(Uuid::from_u128(0xab)),
        account_id: AccountId::parse("acc_7").expect("id"),
        pack_id: PackId::parse("pk_42").expect("id"),
        pack_name: "Senior Rust Engineer".into(),
        candidate: DeclinedCandidate { name: name.map(Into::into), email: Some("ada@example.com".into()) },
        reason,
        feedback: feedback.map(Into::into),
        submitted_at: at(),
    })
}

fn test_event(event: EventType) -> WebhookMessage {
    WebhookMessage::test(&TestEventRequested {
        webhook_id: WebhookId::from_uuid(Uuid::from_u128(1)),
        account_id: AccountId::parse("acc_7").expect("id"),
        test_id: TestEventId::from_uuid(Uuid::from_u128(0x7e)),
        event,
        recorded_at: at(),
    })
}

fn full_candidate(name: &str) -> InterestedCandidate {
    InterestedCandidate {
        name: Some(name.into()),
        email: Some("ada@example.com".into()),
        phone: Some("+31 6 1234 5678".into()),
        linkedin_url: Some("https://www.linkedin.com/in/ada".into()),
        resume_url: Some("https://files.example.com/ada-cv.pdf".into()),
        message: Some("Happy to talk.\nTuesdays work best.".into()),
    }
}

/// The golden cases: every kind of message a webhook receives.
fn cases() -> Vec<(&'static str, WebhookMessage)> {
    vec![
        ("interested", interested(full_candidate("Ada Lovelace"), "Senior Rust Engineer")),
        (
            "declined_standard_reason",
            declined(
                Some("Ada Lovelace"),
                DeclineReason::Standard(StandardReason::Compensation),
                Some("Thanks, but the range is below my current salary."),
            ),
        ),
        ("declined_custom_reason", declined(Some("Ada Lovelace"), DeclineReason::Custom("Reason #2".into()), None)),
        ("test_event", test_event(EventType::Declined)),
        (
            "name_only",
            interested(
                InterestedCandidate { name: Some("Ada".into()), ..InterestedCandidate::default() },
                "Senior Rust Engineer",
            ),
        ),
    ]
}

fn rendered(format: WebhookFormat, message: &WebhookMessage) -> Value {
    serde_json::from_slice(&render(format, message)).expect("a chat body is JSON")
}

fn golden_path(case: &str, format: WebhookFormat) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/chat").join(format!("{case}.{format}.json"))
}

#[test]
fn every_format_of_every_case_matches_its_golden_file() {
    let update = std::env::var_os("PACKHOOKS_UPDATE_GOLDEN").is_some();
    for (case, message) in cases() {
        for format in CHAT {
            let got = rendered(format, &message);
            let path = golden_path(case, format);
            if update {
                std::fs::create_dir_all(path.parent().expect("a folder")).expect("create the golden folder");
                let text = serde_json::to_string_pretty(&got).expect("json") + "\n";
                std::fs::write(&path, text).expect("write a golden file");
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let want: Value = serde_json::from_str(&text).expect("a golden file is JSON");
            assert_eq!(got, want, "{case}.{format} differs from {}", path.display());
        }
    }
}

#[test]
fn docs_chat_md_shows_every_golden_body() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CHAT.md");
    let doc = std::fs::read_to_string(&path).expect("docs/CHAT.md");
    let shown: Vec<Value> = doc
        .split("```json\n")
        .skip(1)
        .map(|block| serde_json::from_str(block.split("\n```").next().expect("a block")).expect("a JSON block"))
        .collect();
    for (case, message) in cases() {
        for format in CHAT {
            assert!(shown.contains(&rendered(format, &message)), "docs/CHAT.md lacks {case}.{format} as sent now");
        }
    }
}

#[test]
fn the_standard_format_is_the_standard_body() {
    for (_, message) in cases() {
        assert_eq!(render(WebhookFormat::Standard, &message), message.to_bytes());
    }
}

// ---- each platform's constraints ----

/// Every string in a body, with where it is.
fn strings(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => out.push((path.to_owned(), s.clone())),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| strings(v, &format!("{path}[{i}]"), out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| strings(v, &format!("{path}.{k}"), out)),
        Value::Null => panic!("{path} is null"),
        _ => {}
    }
}

fn len(value: &Value) -> usize {
    value.as_str().unwrap_or_else(|| panic!("{value} is not a string")).chars().count()
}

fn no_nulls_shown(body: &Value) {
    let mut all = Vec::new();
    strings(body, "", &mut all);
    for (path, text) in all {
        assert!(!text.to_lowercase().contains("null"), "{path} shows null: {text:?}");
        assert!(!text.is_empty(), "{path} is empty");
    }
}

fn check_slack(body: &Value) {
    let text = &body["text"];
    assert!((1..=SlackLimits::SECTION_TEXT).contains(&len(text)), "text: {text}");
    let blocks = body["blocks"].as_array().expect("blocks");
    assert!((1..=SlackLimits::BLOCKS).contains(&blocks.len()));
    let mut texts = vec![text.as_str().expect("text").to_owned()];
    let mut text_object = |object: &Value, max: usize| {
        let kind = object["type"].as_str().expect("a text object has a type");
        assert!(matches!(kind, "mrkdwn" | "plain_text"), "{object}");
        if kind == "mrkdwn" {
            assert_eq!(object["verbatim"], true, "mrkdwn is verbatim: {object}");
        }
        assert!((1..=max).contains(&len(&object["text"])), "{object}");
        texts.push(object["text"].as_str().expect("text").to_owned());
    };
    for block in blocks {
        match block["type"].as_str().expect("a block has a type") {
            "header" => {
                assert_eq!(block["text"]["type"], "plain_text");
                text_object(&block["text"], SlackLimits::HEADER);
            }
            "section" => {
                assert!(block.get("text").is_some() != block.get("fields").is_some(), "text or fields: {block}");
                if let Some(text) = block.get("text") {
                    text_object(text, SlackLimits::SECTION_TEXT);
                }
                if let Some(fields) = block.get("fields") {
                    let fields = fields.as_array().expect("fields");
                    assert!((1..=SlackLimits::FIELDS).contains(&fields.len()));
                    fields.iter().for_each(|f| text_object(f, SlackLimits::FIELD_TEXT));
                }
            }
            "context" => {
                let elements = block["elements"].as_array().expect("elements");
                assert!((1..=SlackLimits::CONTEXT_ELEMENTS).contains(&elements.len()));
                elements.iter().for_each(|e| text_object(e, SlackLimits::SECTION_TEXT));
            }
            other => panic!("unexpected block {other}"),
        }
    }
    // packhooks writes no links or mentions of its own, so any < or > would be the candidate's;
    // & appears only as the start of one of the three entities.
    for text in texts {
        assert!(!text.contains('<') && !text.contains('>'), "unescaped: {text}");
        let rest = text.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "");
        assert!(!rest.contains('&'), "unescaped &: {text}");
    }
}

fn check_discord(body: &Value) {
    assert!((1..=DiscordLimits::CONTENT).contains(&len(&body["content"])));
    assert_eq!(body["allowed_mentions"], serde_json::json!({"parse": []}));
    let embeds = body["embeds"].as_array().expect("embeds");
    assert_eq!(embeds.len(), 1);
    let embed = &embeds[0];
    let mut total = len(&embed["title"]);
    assert!(total <= DiscordLimits::TITLE);
    if let Some(description) = embed.get("description") {
        assert!((1..=DiscordLimits::DESCRIPTION).contains(&len(description)));
        total += len(description);
    }
    let fields = embed["fields"].as_array().expect("fields");
    assert!(fields.len() <= DiscordLimits::FIELDS);
    for field in fields {
        assert!((1..=DiscordLimits::FIELD_NAME).contains(&len(&field["name"])), "{field}");
        assert!((1..=DiscordLimits::FIELD_VALUE).contains(&len(&field["value"])), "{field}");
        total += len(&field["name"]) + len(&field["value"]);
    }
    let footer = len(&embed["footer"]["text"]);
    assert!(footer <= DiscordLimits::FOOTER);
    total += footer;
    assert!(total <= DiscordLimits::EMBED_TOTAL, "embed total {total}");
    assert!(embed["timestamp"].as_str().is_some_and(|t| DateTime::parse_from_rfc3339(t).is_ok()));
    let mut texts = vec![body["content"].as_str().expect("content").to_owned()];
    texts.extend(embed.get("description").and_then(Value::as_str).map(str::to_owned));
    texts.extend(fields.iter().filter_map(|f| f["value"].as_str().map(str::to_owned)));
    for text in texts {
        // Our own test marker is the one bracket packhooks writes.
        let text = text.strip_prefix("[Test] ").unwrap_or(&text);
        assert!(!text.contains("@everyone") && !text.contains("@here"), "a mention: {text}");
        for (i, c) in text.char_indices() {
            if matches!(c, '<' | '[' | ']' | '(' | ')' | '`' | '|' | '~' | '_') {
                assert!(text[..i].ends_with('\\'), "unescaped {c} in {text}");
            }
        }
    }
}

fn check_teams(body: &Value, raw: &[u8]) {
    assert!(raw.len() <= TEAMS_MAX_CARD_BYTES, "{} bytes", raw.len());
    assert_eq!(body["type"], "message");
    let attachments = body["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0]["contentType"], "application/vnd.microsoft.card.adaptive");
    let card = &attachments[0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    let text = serde_json::to_string(card).expect("json");
    assert!(!text.contains("\"actions\"") && !text.contains("selectAction"), "no actions: {text}");
    let titles = [
        "Candidate interested",
        "Candidate declined",
        "Test event: candidate interested",
        "Test event: candidate declined",
    ];
    for element in card["body"].as_array().expect("body") {
        match element["type"].as_str().expect("a type") {
            // Markdown renders in a TextBlock: only our own titles go there.
            "TextBlock" => assert!(titles.contains(&element["text"].as_str().expect("text")), "{element}"),
            "RichTextBlock" => {
                for inline in element["inlines"].as_array().expect("inlines") {
                    assert_eq!(inline["type"], "TextRun", "{inline}");
                    assert!(len(&inline["text"]) > 0);
                }
            }
            other => panic!("unexpected element {other}"),
        }
    }
}

fn check(format: WebhookFormat, message: &WebhookMessage) -> Value {
    let raw = render(format, message);
    let body: Value = serde_json::from_slice(&raw).expect("JSON");
    no_nulls_shown(&body);
    match format {
        WebhookFormat::Slack => check_slack(&body),
        WebhookFormat::Discord => check_discord(&body),
        WebhookFormat::Teams => check_teams(&body, &raw),
        WebhookFormat::Standard => unreachable!("not a chat format"),
    }
    body
}

#[test]
fn every_case_meets_each_platforms_constraints() {
    for (_, message) in cases() {
        for format in CHAT {
            check(format, &message);
        }
    }
}

#[test]
fn the_longest_texts_are_cut_with_an_ellipsis_within_every_limit() {
    // Every field at its submission limit, in characters that escape or take four bytes.
    let line = |c: &str| c.repeat(MAX_FIELD / c.chars().count());
    let mixed = "<&>*_@🦀\"".repeat(MAX_TEXT / 8);
    let long = interested(
        InterestedCandidate {
            name: Some(line("<🦀")),
            email: Some(line("&a")),
            phone: Some(line(">")),
            linkedin_url: Some(line("_🦀")),
            resume_url: Some(line("*")),
            message: Some(mixed.clone()),
        },
        &"[🦀]".repeat(MAX_PACK_NAME / 3),
    );
    let long_decline = declined(Some(&line("@")), DeclineReason::Custom("<".repeat(200)), Some(&mixed));
    for message in [long, long_decline] {
        for format in CHAT {
            let body = check(format, &message);
            let text = body.to_string();
            assert!(text.contains(ELLIPSIS), "{format}: nothing was cut");
        }
    }
}

#[test]
fn every_standard_reason_and_both_test_events_meet_the_constraints() {
    let mut messages: Vec<WebhookMessage> =
        StandardReason::ALL.into_iter().map(|r| declined(None, DeclineReason::Standard(r), Some("   "))).collect();
    messages.push(test_event(EventType::Interested));
    messages.push(test_event(EventType::Declined));
    for message in &messages {
        for format in CHAT {
            let body = check(format, message).to_string();
            assert!(!body.contains("Feedback"), "{format}: blank feedback is left out");
        }
    }
}

// ---- untrusted text stays text ----

fn evil_everywhere() -> Vec<WebhookMessage> {
    let candidate = InterestedCandidate {
        name: Some(EVIL.into()),
        email: Some(format!("a@b.example {EVIL}")),
        phone: Some(EVIL.into()),
        linkedin_url: Some("[click](https://evil.example)".into()),
        resume_url: Some(EVIL.into()),
        message: Some(format!("{EVIL}\n# Heading\n**bold** [x](https://evil.example) <@123456789012345678> @here")),
    };
    vec![
        interested(candidate, EVIL),
        declined(
            Some(EVIL),
            DeclineReason::Custom(EVIL.into()),
            Some(&format!("{EVIL} {{{{DATE(2017-02-14T06:08:00Z)}}}}")),
        ),
    ]
}

#[test]
fn slack_shows_mentions_and_links_as_text() {
    for message in evil_everywhere() {
        let body = check(WebhookFormat::Slack, &message);
        let text = body.to_string();
        assert!(text.contains("&lt;!channel&gt; @everyone &lt;https://evil.example|click&gt;"), "{text}");
        assert!(!text.contains("<!channel>") && !text.contains("<https://evil"), "{text}");
    }
}

#[test]
fn discord_pings_no_one_and_renders_no_markdown_of_theirs() {
    for message in evil_everywhere() {
        let body = check(WebhookFormat::Discord, &message);
        let content = body["content"].as_str().expect("content");
        assert!(
            content.contains("\\<!channel\\> @\u{200B}everyone \\<https\\://evil\\.example\\|click\\>"),
            "{content}"
        );
        let text = body.to_string();
        // In the JSON text a backslash is doubled: every < is escaped for Discord.
        assert!(!text.replace(r"\\<", "").contains('<') && !text.contains("](https"), "{text}");
        assert!(!text.contains("@everyone") && !text.contains("@here"), "{text}");
    }
}

#[test]
fn teams_puts_their_text_only_where_markdown_is_inert_and_adds_no_action() {
    for message in evil_everywhere() {
        let body = check(WebhookFormat::Teams, &message);
        let card = &body["attachments"][0]["content"];
        let runs: Vec<&str> = card["body"]
            .as_array()
            .expect("body")
            .iter()
            .flat_map(|e| e["inlines"].as_array().into_iter().flatten())
            .filter_map(|run| run["text"].as_str())
            .collect();
        assert!(runs.contains(&EVIL), "{runs:?}");
        assert!(!body.to_string().contains("{{DATE"), "a date template is broken up");
    }
}
