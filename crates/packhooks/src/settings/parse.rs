//! Reading the settings: the TOML file's shape ([`Raw`]), the merge of the file, the
//! environment and flags into one tree, and the validation that turns it into [`Settings`].
//! Errors quote nothing of what they read ([`TomlError`]).

use super::*;

/// The file's shape. Unknown keys are errors, so a typo does not go unnoticed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    listen: String,
    request_timeout: String,
    max_connections: usize,
    data_dir: PathBuf,
    store: String,
    allow_private_targets: bool,
    max_webhooks: usize,
    secret_rotation_overlap: String,
    #[serde(default)]
    api: RawApi,
    delivery: RawDelivery,
    log: RawLog,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    token: Option<String>,
    #[serde(default)]
    tokens: Vec<RawToken>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawToken {
    token: String,
    roles: Vec<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDelivery {
    max_attempts: u32,
    retry_delays: String,
    retry_jitter: f64,
    max_retry_after: String,
    attempt_timeout: String,
    auto_disable_after: String,
    disable_on_gone: bool,
    in_flight_per_webhook: usize,
    backlog_per_webhook: usize,
    checkpoint_every: u32,
    shard: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    filter: String,
    format: String,
}

pub(super) fn parse_toml(text: &str, origin: &str) -> Result<toml::Table, SettingsError> {
    text.parse::<toml::Table>().map_err(|source| SettingsError::Parse {
        origin: origin.to_owned(),
        source: TomlError { source: Box::new(source), text: Some(text.to_owned()) },
    })
}

/// A TOML error shown without what it quotes: toml's own text prints the line of a syntax
/// error, and serde's names a wrong value (`invalid type: string "…"`), either of which may
/// be a token or a connection string with its password. This shows the message with every
/// quoted value redacted, where (line and column) or under which key, and is not a source
/// itself, so an error chain never reaches toml's text.
pub struct TomlError {
    /// Boxed: toml's error is large, and every `Result<_, SettingsError>` would carry it.
    pub(super) source: Box<toml::de::Error>,
    /// The text parsed, for the line and column of a syntax error; `None` for the merged
    /// settings, whose errors name the key instead.
    pub(super) text: Option<String>,
}

impl fmt::Display for TomlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.text, self.source.span()) {
            (Some(text), Some(span)) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
                write!(f, "line {line}, column {column}: {}", redact_quoted(self.source.message()))
            }
            // Without the text, toml's own form is the message and the key (`in `api.tokens``).
            _ => f.write_str(redact_quoted(&self.source.to_string()).trim_end()),
        }
    }
}

impl fmt::Debug for TomlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TomlError({self})")
    }
}

impl std::error::Error for TomlError {}

/// `text` with the inside of every double-quoted part (escapes included), and of serde's
/// backquoted numbers (``integer `123` ``), replaced by `[redacted]`. Other backquoted parts
/// are key and field names, or the tokens a syntax error expected (`` `"` `` among them),
/// kept whole.
pub(super) fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let close = match c {
            '"' => '"',
            '`' if out.ends_with("integer ") || out.ends_with("floating point ") => '`',
            '`' => {
                out.push(c);
                for inside in chars.by_ref() {
                    out.push(inside);
                    if inside == '`' {
                        break;
                    }
                }
                continue;
            }
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push(c);
        out.push_str("[redacted]");
        while let Some(inside) = chars.next() {
            if inside == '\\' && close == '"' {
                chars.next();
            } else if inside == close {
                out.push(close);
                break;
            }
        }
    }
    out
}

/// Deep-merges `over` into `base`: tables merge key by key, anything else is replaced.
pub(super) fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Sets a dotted `key` in the tree, creating tables on the way.
pub(super) fn set(tree: &mut toml::Table, key: &str, value: toml::Value) {
    match key.split_once('.') {
        Some((head, rest)) => {
            let entry = tree.entry(head).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            set(entry.as_table_mut().expect("made a table above"), rest, value);
        }
        None => {
            tree.insert(key.to_owned(), value);
        }
    }
}

pub(super) fn override_value(v: &Variable, text: &str) -> Result<toml::Value, SettingsError> {
    let refuse = |expected| SettingsError::Override { variable: v.env, flag: v.flag, expected };
    let text = text.trim();
    Ok(match v.kind {
        Kind::Text => toml::Value::String(text.to_owned()),
        Kind::Bool => match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => toml::Value::Boolean(true),
            "false" | "0" | "no" | "off" => toml::Value::Boolean(false),
            _ => return Err(refuse("true or false")),
        },
        Kind::Integer => toml::Value::Integer(text.parse::<u32>().map_err(|_| refuse("a whole number"))?.into()),
        Kind::Float => toml::Value::Float(text.parse::<f64>().map_err(|_| refuse("a number"))?),
    })
}

pub(super) fn duration(key: &'static str, text: &str) -> Result<Duration, SettingsError> {
    humantime::parse_duration(text.trim()).map_err(|source| SettingsError::Duration { key, source })
}

/// A duration bound, with the words that name it in the error.
pub(super) type Bound = (Duration, &'static str);
/// Ten humantime years (of 365.25 days each, so `10years` itself is allowed): the longest
/// auto-disable period. Longer is "never" in practice, and far longer
/// would overflow the date arithmetic of delivery.
pub(super) const TEN_YEARS: Bound = (Duration::from_secs(10 * 31_557_600), "must be at most 10 years");
/// The longest retry delay and honoured `Retry-After`: a retry later than a month is not one.
pub(super) const THIRTY_DAYS: Bound = (Duration::from_secs(30 * 86_400), "must be at most 30 days");
/// What a rotation accepts: the domain refuses a longer overlap, so a longer setting would
/// make every rotation fail.
pub(super) const SEVEN_DAYS: Bound = (packhooks_domain::webhook::MAX_SECRET_OVERLAP, "must be at most 7 days");
/// The longest attempt timeout: an attempt holds a connection (and an in-flight slot) open.
pub(super) const ONE_HOUR: Bound = (Duration::from_secs(3600), "must be at most 1 hour");

/// [`duration`], refused above `bound`.
pub(super) fn bounded(key: &'static str, text: &str, (max, problem): Bound) -> Result<Duration, SettingsError> {
    let value = duration(key, text)?;
    if value > max {
        return Err(SettingsError::Invalid { key, problem });
    }
    Ok(value)
}

pub(super) fn token(key: &'static str, text: String) -> Result<Token, SettingsError> {
    Token::parse(text).map_err(|source| SettingsError::Token { key, source })
}

impl Raw {
    pub(super) fn validate(self) -> Result<Settings, SettingsError> {
        let invalid = |key, problem| SettingsError::Invalid { key, problem };
        let listen = self
            .listen
            .trim()
            .parse::<SocketAddr>()
            .map_err(|_| invalid("listen", "must be an IP address and port, like 127.0.0.1:8080"))?;
        let request_timeout = bounded("request_timeout", &self.request_timeout, ONE_HOUR)?;
        if request_timeout.is_zero() {
            return Err(invalid("request_timeout", "must be more than zero"));
        }
        if self.max_connections == 0 {
            return Err(invalid("max_connections", "must be at least 1"));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }
        let store = match self.store.trim() {
            "sqlite" => StoreSetting::Sqlite,
            url if url.starts_with("esdb://") || url.starts_with("esdb+discover://") => {
                StoreSetting::EventStoreDb(url.to_owned())
            }
            _ => return Err(invalid("store", "must be sqlite or an esdb:// connection string")),
        };
        if self.max_webhooks == 0 {
            return Err(invalid("max_webhooks", "must be at least 1"));
        }
        let api = ApiSettings {
            // An empty value (`PACKHOOKS_API_TOKEN=`) means "not set".
            token: self.api.token.filter(|t| !t.trim().is_empty()).map(|t| token("api.token", t)).transpose()?,
            tokens: self
                .api
                .tokens
                .into_iter()
                .map(|t| {
                    let roles = t
                        .roles
                        .iter()
                        .map(|r| {
                            r.parse::<Role>().map_err(|source| SettingsError::Role { key: "api.tokens.roles", source })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    if roles.is_empty() {
                        return Err(invalid("api.tokens.roles", "must name at least one role"));
                    }
                    let name = t
                        .name
                        .map(|n| TokenName::parse(&n).map_err(|source| SettingsError::TokenName { source }))
                        .transpose()?;
                    Ok(ExtraToken { token: token("api.tokens.token", t.token)?, roles, name })
                })
                .collect::<Result<_, _>>()?,
        };
        let d = self.delivery;
        let retry_delays = d
            .retry_delays
            .split(',')
            .map(|part| bounded("delivery.retry_delays", part, THIRTY_DAYS))
            .collect::<Result<Vec<_>, _>>()?;
        if d.max_attempts == 0 {
            return Err(invalid("delivery.max_attempts", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&d.retry_jitter) {
            return Err(invalid("delivery.retry_jitter", "must be between 0 and 1"));
        }
        let attempt_timeout = bounded("delivery.attempt_timeout", &d.attempt_timeout, ONE_HOUR)?;
        if attempt_timeout.is_zero() {
            return Err(invalid("delivery.attempt_timeout", "must be more than zero"));
        }
        if d.in_flight_per_webhook == 0 {
            return Err(invalid("delivery.in_flight_per_webhook", "must be at least 1"));
        }
        if d.backlog_per_webhook == 0 {
            return Err(invalid("delivery.backlog_per_webhook", "must be at least 1"));
        }
        if d.checkpoint_every == 0 {
            return Err(invalid("delivery.checkpoint_every", "must be at least 1"));
        }
        let shard = d
            .shard
            .trim()
            .split_once('/')
            .and_then(|(i, n)| Some(Shard { index: i.parse().ok()?, count: n.parse().ok()? }))
            .filter(|s| s.count >= 1 && s.index < s.count)
            .ok_or(invalid(
                "delivery.shard",
                "must be index/count, count at least 1 and index below it (0/2 and 1/2 for two instances)",
            ))?;
        let format = match self.log.format.trim() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return Err(invalid("log.format", "must be text or json")),
        };
        if tracing_subscriber::EnvFilter::try_new(&self.log.filter).is_err() {
            return Err(invalid("log.filter", "is not a valid log filter (like info or packhooks=debug,info)"));
        }
        Ok(Settings {
            listen,
            request_timeout,
            max_connections: self.max_connections,
            data_dir: self.data_dir,
            store,
            api,
            allow_private_targets: self.allow_private_targets,
            max_webhooks: self.max_webhooks,
            secret_rotation_overlap: bounded("secret_rotation_overlap", &self.secret_rotation_overlap, SEVEN_DAYS)?,
            delivery: DeliverySettings {
                max_attempts: d.max_attempts,
                retry_delays,
                retry_jitter: d.retry_jitter,
                max_retry_after: bounded("delivery.max_retry_after", &d.max_retry_after, THIRTY_DAYS)?,
                attempt_timeout,
                auto_disable_after: bounded("delivery.auto_disable_after", &d.auto_disable_after, TEN_YEARS)?,
                disable_on_gone: d.disable_on_gone,
                in_flight_per_webhook: d.in_flight_per_webhook,
                backlog_per_webhook: d.backlog_per_webhook,
                checkpoint_every: d.checkpoint_every,
                shard,
            },
            log: LogSettings { filter: self.log.filter, format },
        })
    }
}
