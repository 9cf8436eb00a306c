//! What a webhook's requests look like: the standard body, or a chat message a person reads
//! in Slack, Discord or Microsoft Teams (rendered by [`crate::chat`]), and which format a
//! known chat webhook URL calls for.

use serde::{Deserialize, Serialize};
use url::Url;

/// The body a webhook receives. Every format is signed with the same Standard Webhooks
/// headers; only the body differs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// The fixed JSON body of the event catalogue. The default, and what every webhook
    /// stored before formats existed is (their events have no `format` field).
    #[default]
    Standard,
    /// A Slack incoming-webhook message: `text` and Block Kit `blocks`.
    Slack,
    /// A Discord webhook message: `content` and one embed, mentions off.
    Discord,
    /// A Microsoft Teams (Workflows / Power Automate) message with one Adaptive Card.
    Teams,
}

impl WebhookFormat {
    pub const ALL: [WebhookFormat; 4] =
        [WebhookFormat::Standard, WebhookFormat::Slack, WebhookFormat::Discord, WebhookFormat::Teams];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Standard => "standard",
            WebhookFormat::Slack => "slack",
            WebhookFormat::Discord => "discord",
            WebhookFormat::Teams => "teams",
        }
    }

    /// The chat format a known chat webhook URL expects, if it is one:
    ///
    /// - Slack: `hooks.slack.com/services/…` (incoming webhooks; Workflow Builder's
    ///   `/triggers/…` take their own variables, not a message);
    /// - Discord: `discord.com` (also `discordapp.com`, `ptb.` and `canary.`) `/api/webhooks/…`
    ///   or `/api/v{n}/webhooks/…`; one ending in `/slack` is Discord's Slack-compatible
    ///   endpoint and takes the Slack format, one ending in `/github` is left alone;
    /// - Teams: Power Automate / Workflows URLs (`*.logic.azure.com/workflows/…`,
    ///   `*.powerplatform.com/…/workflows/…`) and the older connector URLs
    ///   (`*.webhook.office.com/…`).
    pub fn detect(url: &Url) -> Option<WebhookFormat> {
        let host = url.host_str()?.trim_end_matches('.');
        let path = url.path();
        if host == "hooks.slack.com" {
            return path.starts_with("/services/").then_some(WebhookFormat::Slack);
        }
        if matches!(
            host,
            "discord.com"
                | "discordapp.com"
                | "ptb.discord.com"
                | "canary.discord.com"
                | "ptb.discordapp.com"
                | "canary.discordapp.com"
        ) {
            if !is_discord_webhook_path(path) {
                return None;
            }
            let path = path.trim_end_matches('/');
            return if path.ends_with("/slack") {
                Some(WebhookFormat::Slack)
            } else if path.ends_with("/github") {
                None
            } else {
                Some(WebhookFormat::Discord)
            };
        }
        let teams = host.ends_with(".webhook.office.com")
            || (host.ends_with(".logic.azure.com") && path.starts_with("/workflows/"))
            || (host.ends_with(".powerplatform.com") && path.contains("/workflows/"));
        teams.then_some(WebhookFormat::Teams)
    }

    /// [`detect`](Self::detect) for a URL as text (`None` if it does not parse).
    pub fn detect_text(url: &str) -> Option<WebhookFormat> {
        Url::parse(url).ok().as_ref().and_then(WebhookFormat::detect)
    }
}

/// `/api/webhooks/…` or `/api/v10/webhooks/…`.
fn is_discord_webhook_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/") else { return false };
    let rest = match rest.split_once('/') {
        Some((version, rest)) if version.strip_prefix('v').is_some_and(|n| n.parse::<u8>().is_ok()) => rest,
        _ => rest,
    };
    rest.starts_with("webhooks/")
}

impl std::fmt::Display for WebhookFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(raw: &str) -> Option<WebhookFormat> {
        WebhookFormat::detect(&Url::parse(raw).expect("url"))
    }

    #[test]
    fn known_chat_webhook_urls_are_recognised() {
        use WebhookFormat::*;
        for (url, want) in [
            ("https://hooks.slack.com/services/T000/B000/XXXX", Some(Slack)),
            ("https://HOOKS.SLACK.COM/services/T000/B000/XXXX", Some(Slack)),
            ("https://hooks.slack.com/triggers/T000/123/abc", None),
            ("https://discord.com/api/webhooks/123/token", Some(Discord)),
            ("https://discordapp.com/api/webhooks/123/token", Some(Discord)),
            ("https://canary.discord.com/api/v10/webhooks/123/token", Some(Discord)),
            ("https://discord.com/api/webhooks/123/token/slack", Some(Slack)),
            ("https://discord.com/api/webhooks/123/token/github", None),
            ("https://discord.com/channels/123/456", None),
            ("https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/x/y", Some(Teams)),
            (
                "https://prod-12.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01",
                Some(Teams),
            ),
            (
                "https://default0123.ab.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/abc/triggers/manual/paths/invoke",
                Some(Teams),
            ),
            ("https://prod-12.westus.logic.azure.com/other", None),
            ("https://example.com/services/hooks.slack.com", None),
            ("https://hooks.slack.com.evil.example/services/x", None),
            ("https://evildiscord.com/api/webhooks/1/2", None),
            ("https://webhook.office.com.evil.example/x", None),
        ] {
            assert_eq!(detect(url), want, "{url}");
        }
    }

    #[test]
    fn formats_are_spelled_in_snake_case_and_default_to_standard() {
        for format in WebhookFormat::ALL {
            assert_eq!(serde_json::to_value(format).expect("json"), format.as_str());
        }
        assert_eq!(WebhookFormat::default(), WebhookFormat::Standard);
    }
}
