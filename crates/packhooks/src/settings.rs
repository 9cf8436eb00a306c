//! Settings: the committed default file, then `--config <file>`, then `PACKHOOKS_*`
//! environment variables, then flags; validated once, at load.
//!
//! One table, [`VARIABLES`], names every overridable setting with its environment variable,
//! its flag and its key in the file, so the three can never drift apart. Secrets (the API
//! tokens, an EventStoreDB connection string) never appear in `Debug` output or errors.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};
use packhooks_api::auth::{InvalidToken, InvalidTokenName, Role, Token, TokenName, UnknownRole};
use serde::Deserialize;

/// The committed defaults, `config/packhooks.toml`, built into the binary.
pub const DEFAULT_TOML: &str = include_str!("../../../config/packhooks.toml");

/// Everything `packhooks` is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    /// A request's head must arrive within this, and then its body within this: a client
    /// that stalls mid-request does not hold a connection for ever.
    pub request_timeout: Duration,
    /// The most connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Holds `events.sqlite` and `api-token`; created if missing.
    pub data_dir: PathBuf,
    pub store: StoreSetting,
    pub api: ApiSettings,
    /// Webhook URLs (and deliveries) may target non-public addresses: tests and demos only.
    pub allow_private_targets: bool,
    /// The most webhooks one account may have.
    pub max_webhooks: usize,
    /// How long the previous secret keeps signing after a rotation.
    pub secret_rotation_overlap: Duration,
    pub delivery: DeliverySettings,
    pub log: LogSettings,
}

/// Which event store backend to use.
#[derive(Clone)]
pub enum StoreSetting {
    /// The embedded store, `<data_dir>/events.sqlite`.
    Sqlite,
    /// An EventStoreDB connection string (`esdb://…`, `esdb+discover://…`); it may hold a
    /// password, so `Debug` shows only the scheme.
    EventStoreDb(String),
}

impl fmt::Debug for StoreSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreSetting::Sqlite => f.write_str("Sqlite"),
            StoreSetting::EventStoreDb(url) => {
                let scheme = url.split("://").next().unwrap_or("esdb");
                write!(f, "EventStoreDb({scheme}://[redacted])")
            }
        }
    }
}

/// Who may call the API.
#[derive(Clone, Debug, Default)]
pub struct ApiSettings {
    /// The token with every role; `None` means "use or create `<data_dir>/api-token`".
    pub token: Option<Token>,
    /// More tokens, each with its own roles.
    pub tokens: Vec<ExtraToken>,
}

#[derive(Clone, Debug)]
pub struct ExtraToken {
    pub token: Token,
    pub roles: Vec<Role>,
    /// What the events of this token's commands record as their issuer (never the token).
    pub name: Option<TokenName>,
}

/// What the delivery side is configured with (see `packhooks_delivery::DeliveryConfig`).
#[derive(Clone, Debug, PartialEq)]
pub struct DeliverySettings {
    /// Attempts per delivery in total, the first included (at least 1).
    pub max_attempts: u32,
    /// The delay before attempt 2, 3, …; the last one repeats.
    pub retry_delays: Vec<Duration>,
    /// Spread of each delay as a fraction of it, 0 to 1.
    pub retry_jitter: f64,
    /// The longest `Retry-After` honoured; a longer ask is capped to it (never shorter
    /// than the scheduled delay).
    pub max_retry_after: Duration,
    pub attempt_timeout: Duration,
    /// A webhook failing with no success this long is disabled automatically.
    pub auto_disable_after: Duration,
    /// Disable a webhook at once on `410 Gone`.
    pub disable_on_gone: bool,
    pub in_flight_per_webhook: usize,
    /// Routed events a lagging webhook keeps in memory; past that they are read back from
    /// the log once it catches up.
    pub backlog_per_webhook: usize,
    /// A `DeliveryCheckpoint` after this many events of a `deliveries-` stream.
    pub checkpoint_every: u32,
    pub shard: Shard,
}

/// This instance's share of the webhooks: `index/count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// A tracing `EnvFilter` directive, e.g. `info` or `packhooks=debug,info`.
    pub filter: String,
    pub format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Why the settings could not be loaded. Values are never echoed: they may be secrets.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the settings file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the settings in {origin} are not valid")]
    Parse {
        origin: String,
        #[source]
        source: TomlError,
    },
    #[error("{variable} (--{flag}) must be {expected}")]
    Override { variable: &'static str, flag: &'static str, expected: &'static str },
    #[error("setting {key} is not a valid duration")]
    Duration {
        key: &'static str,
        #[source]
        source: humantime::DurationError,
    },
    #[error("setting {key} is not a valid token")]
    Token {
        key: &'static str,
        #[source]
        source: InvalidToken,
    },
    #[error("setting api.tokens.name is not a valid token name")]
    TokenName {
        #[source]
        source: InvalidTokenName,
    },
    #[error("setting {key} names an unknown role")]
    Role {
        key: &'static str,
        #[source]
        source: UnknownRole,
    },
    #[error("setting {key} {problem}")]
    Invalid { key: &'static str, problem: &'static str },
}

/// The kind of value a variable holds, for turning its text into a TOML value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Bool,
    Integer,
    Float,
}

/// One overridable setting.
#[derive(Clone, Copy, Debug)]
pub struct Variable {
    pub env: &'static str,
    pub flag: &'static str,
    /// Its key in the file: `listen`, `delivery.max_attempts`, …
    pub key: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

macro_rules! variables {
    ($($env:literal, $flag:literal, $key:literal, $kind:ident, $help:literal;)*) => {
        /// Every setting that an environment variable or a flag can override.
        pub const VARIABLES: &[Variable] = &[
            $(Variable { env: $env, flag: $flag, key: $key, kind: Kind::$kind, help: $help },)*
        ];
    };
}

variables! {
    "PACKHOOKS_LISTEN", "listen", "listen", Text, "Address and port to listen on [default: 127.0.0.1:8080]";
    "PACKHOOKS_REQUEST_TIMEOUT", "request-timeout", "request_timeout", Text, "Time a client has to send a request's head, and then its body [default: 30s]";
    "PACKHOOKS_MAX_CONNECTIONS", "max-connections", "max_connections", Integer, "Most HTTP connections served at once [default: 10000]";
    "PACKHOOKS_DATA_DIR", "data-dir", "data_dir", Text, "Data directory [default: ./data]";
    "PACKHOOKS_STORE", "store", "store", Text, "sqlite, or an esdb://… connection string [default: sqlite]";
    "PACKHOOKS_API_TOKEN", "api-token", "api.token", Text, "The bearer token with every role [default: <data-dir>/api-token, created on first start]";
    "PACKHOOKS_ALLOW_PRIVATE_TARGETS", "allow-private-targets", "allow_private_targets", Bool, "Allow non-public webhook targets (tests, demos) [default: false]";
    "PACKHOOKS_MAX_WEBHOOKS", "max-webhooks", "max_webhooks", Integer, "Most webhooks per account [default: 4]";
    "PACKHOOKS_SECRET_ROTATION_OVERLAP", "secret-rotation-overlap", "secret_rotation_overlap", Text, "How long the previous secret keeps signing [default: 24h]";
    "PACKHOOKS_MAX_ATTEMPTS", "max-attempts", "delivery.max_attempts", Integer, "Attempts per delivery in total [default: 3]";
    "PACKHOOKS_RETRY_DELAYS", "retry-delays", "delivery.retry_delays", Text, "Delays before retries, a humantime list [default: 1m,10m]";
    "PACKHOOKS_RETRY_JITTER", "retry-jitter", "delivery.retry_jitter", Float, "Spread of each retry delay, 0 to 1 [default: 0.2]";
    "PACKHOOKS_MAX_RETRY_AFTER", "max-retry-after", "delivery.max_retry_after", Text, "Longest Retry-After honoured on 429/503 [default: 1h]";
    "PACKHOOKS_ATTEMPT_TIMEOUT", "attempt-timeout", "delivery.attempt_timeout", Text, "Timeout of one attempt [default: 10s]";
    "PACKHOOKS_AUTO_DISABLE_AFTER", "auto-disable-after", "delivery.auto_disable_after", Text, "Disable a webhook failing this long [default: 7d]";
    "PACKHOOKS_DISABLE_ON_GONE", "disable-on-gone", "delivery.disable_on_gone", Bool, "Disable a webhook on 410 Gone [default: true]";
    "PACKHOOKS_IN_FLIGHT_PER_WEBHOOK", "in-flight-per-webhook", "delivery.in_flight_per_webhook", Integer, "Attempts in flight per webhook [default: 16]";
    "PACKHOOKS_BACKLOG_PER_WEBHOOK", "backlog-per-webhook", "delivery.backlog_per_webhook", Integer, "Routed events a lagging webhook keeps in memory [default: 65536]";
    "PACKHOOKS_CHECKPOINT_EVERY", "checkpoint-every", "delivery.checkpoint_every", Integer, "Checkpoint a deliveries stream every N events [default: 100]";
    "PACKHOOKS_SHARD", "shard", "delivery.shard", Text, "This instance's share of the webhooks, index/count [default: 0/1]";
    "PACKHOOKS_LOG", "log", "log.filter", Text, "Log filter [default: info]";
    "PACKHOOKS_LOG_FORMAT", "log-format", "log.format", Text, "Log format, text or json [default: text]";
}

/// Values given by environment variables or flags (clap reads both: a flag wins over its
/// variable), keyed by variable name; plus `--config`.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    values: BTreeMap<&'static str, String>,
}

impl Overrides {
    /// Sets one variable by its environment name, e.g. in tests.
    pub fn set(mut self, env: &str, value: impl Into<String>) -> Self {
        let variable = VARIABLES.iter().find(|v| v.env == env).expect("a known PACKHOOKS_ variable");
        self.values.insert(variable.env, value.into());
        self
    }
}

impl FromArgMatches for Overrides {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut overrides =
            Overrides { config: matches.get_one::<PathBuf>("config").cloned(), values: BTreeMap::new() };
        for variable in VARIABLES {
            if let Some(value) = matches.get_one::<String>(variable.flag) {
                overrides.values.insert(variable.env, value.clone());
            }
        }
        Ok(overrides)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for Overrides {
    fn augment_args(command: Command) -> Command {
        let command = command.arg(
            Arg::new("config")
                .long("config")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("A settings file whose keys override the built-in defaults"),
        );
        VARIABLES.iter().fold(command, |command, v| {
            command.arg(
                Arg::new(v.flag)
                    .long(v.flag)
                    .env(v.env)
                    // Values may be secrets: `--help` must not print what the environment holds.
                    .hide_env_values(true)
                    .value_name(if v.kind == Kind::Bool { "BOOL" } else { "VALUE" })
                    .help(v.help),
            )
        })
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

/// The overrides of the commands that only read the store and the read models (`audit`,
/// `projections`): the same variables and flags, but `--help` lists only those that matter
/// there. The others are still accepted, so one environment serves every command.
#[derive(Clone, Debug, Default)]
pub struct StoreOverrides(pub Overrides);

/// The flags [`StoreOverrides`] shows in `--help` (besides `--config`).
const STORE_FLAGS: &[&str] = &["data-dir", "store", "log", "log-format"];

impl std::ops::Deref for StoreOverrides {
    type Target = Overrides;

    fn deref(&self) -> &Overrides {
        &self.0
    }
}

impl FromArgMatches for StoreOverrides {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Overrides::from_arg_matches(matches).map(StoreOverrides)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
}

impl Args for StoreOverrides {
    fn augment_args(command: Command) -> Command {
        VARIABLES
            .iter()
            .filter(|v| !STORE_FLAGS.contains(&v.flag))
            .fold(Overrides::augment_args(command), |command, v| command.mut_arg(v.flag, |arg| arg.hide(true)))
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

/// The file's shape. Unknown keys are errors, so a typo does not go unnoticed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
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
struct RawApi {
    token: Option<String>,
    #[serde(default)]
    tokens: Vec<RawToken>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    token: String,
    roles: Vec<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
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
struct RawLog {
    filter: String,
    format: String,
}

impl Settings {
    /// The built-in defaults, with nothing from the environment.
    pub fn defaults() -> Result<Settings, SettingsError> {
        Settings::load(&Overrides::default())
    }

    /// Defaults, then the `--config` file, then the overrides (environment and flags).
    pub fn load(overrides: &Overrides) -> Result<Settings, SettingsError> {
        let mut tree = parse_toml(DEFAULT_TOML, "the built-in defaults")?;
        if let Some(path) = &overrides.config {
            let text =
                std::fs::read_to_string(path).map_err(|source| SettingsError::Read { path: path.clone(), source })?;
            merge(&mut tree, parse_toml(&text, &path.display().to_string())?);
        }
        for variable in VARIABLES {
            if let Some(text) = overrides.values.get(variable.env) {
                set(&mut tree, variable.key, override_value(variable, text)?);
            }
        }
        let raw: Raw = toml::Value::Table(tree).try_into().map_err(|source| SettingsError::Parse {
            origin: "the merged settings".into(),
            source: TomlError { source: Box::new(source), text: None },
        })?;
        raw.validate()
    }

    /// The SQLite file of the embedded store.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("events.sqlite")
    }

    /// Where the generated API token is kept.
    pub fn token_path(&self) -> PathBuf {
        self.data_dir.join("api-token")
    }
}

fn parse_toml(text: &str, origin: &str) -> Result<toml::Table, SettingsError> {
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
    source: Box<toml::de::Error>,
    /// The text parsed, for the line and column of a syntax error; `None` for the merged
    /// settings, whose errors name the key instead.
    text: Option<String>,
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
fn redact_quoted(text: &str) -> String {
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
fn merge(base: &mut toml::Table, over: toml::Table) {
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
fn set(tree: &mut toml::Table, key: &str, value: toml::Value) {
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

fn override_value(v: &Variable, text: &str) -> Result<toml::Value, SettingsError> {
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

fn duration(key: &'static str, text: &str) -> Result<Duration, SettingsError> {
    humantime::parse_duration(text.trim()).map_err(|source| SettingsError::Duration { key, source })
}

/// A duration bound, with the words that name it in the error.
type Bound = (Duration, &'static str);
/// Ten humantime years (of 365.25 days each, so `10years` itself is allowed): the longest
/// auto-disable period. Longer is "never" in practice, and far longer
/// would overflow the date arithmetic of delivery.
const TEN_YEARS: Bound = (Duration::from_secs(10 * 31_557_600), "must be at most 10 years");
/// The longest retry delay and honoured `Retry-After`: a retry later than a month is not one.
const THIRTY_DAYS: Bound = (Duration::from_secs(30 * 86_400), "must be at most 30 days");
/// What a rotation accepts: the domain refuses a longer overlap, so a longer setting would
/// make every rotation fail.
const SEVEN_DAYS: Bound = (packhooks_domain::webhook::MAX_SECRET_OVERLAP, "must be at most 7 days");
/// The longest attempt timeout: an attempt holds a connection (and an in-flight slot) open.
const ONE_HOUR: Bound = (Duration::from_secs(3600), "must be at most 1 hour");

/// [`duration`], refused above `bound`.
fn bounded(key: &'static str, text: &str, (max, problem): Bound) -> Result<Duration, SettingsError> {
    let value = duration(key, text)?;
    if value > max {
        return Err(SettingsError::Invalid { key, problem });
    }
    Ok(value)
}

fn token(key: &'static str, text: String) -> Result<Token, SettingsError> {
    Token::parse(text).map_err(|source| SettingsError::Token { key, source })
}

impl Raw {
    fn validate(self) -> Result<Settings, SettingsError> {
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

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn the_defaults_are_those_of_the_design() {
        let s = Settings::defaults().unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.request_timeout, Duration::from_secs(30));
        assert_eq!(s.max_connections, 10_000);
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert!(matches!(s.store, StoreSetting::Sqlite));
        assert!(s.api.token.is_none());
        assert!(!s.allow_private_targets);
        assert_eq!(s.max_webhooks, 4);
        assert_eq!(s.secret_rotation_overlap, Duration::from_secs(24 * 3600));
        let d = &s.delivery;
        assert_eq!(d.max_attempts, 3);
        assert_eq!(d.retry_delays, vec![Duration::from_secs(60), Duration::from_secs(600)]);
        assert_eq!(d.retry_jitter, 0.2);
        assert_eq!(d.max_retry_after, Duration::from_secs(3600));
        assert_eq!(d.attempt_timeout, Duration::from_secs(10));
        assert_eq!(d.auto_disable_after, Duration::from_secs(7 * 24 * 3600));
        assert!(d.disable_on_gone);
        assert_eq!(d.in_flight_per_webhook, 16);
        assert_eq!(d.backlog_per_webhook, 65_536);
        assert_eq!(d.checkpoint_every, 100);
        assert_eq!(d.shard, Shard { index: 0, count: 1 });
        assert_eq!(s.log, LogSettings { filter: "info".into(), format: LogFormat::Text });
    }

    #[test]
    fn every_variable_names_a_key_of_the_default_file() {
        for v in VARIABLES.iter().filter(|v| v.key != "api.token") {
            assert!(default_text(v.key).is_some(), "{} names {}, which the default file lacks", v.env, v.key);
        }
    }

    /// The value at a dotted key of the default file, as text.
    fn default_text(key: &str) -> Option<String> {
        let tree = parse_toml(DEFAULT_TOML, "defaults").unwrap();
        let (tables, last) = key.rsplit_once('.').map_or((None, key), |(t, l)| (Some(t), l));
        let table = match tables {
            Some(t) => t.split('.').try_fold(&tree, |t, k| t.get(k)?.as_table())?,
            None => &tree,
        };
        Some(match table.get(last)? {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    #[test]
    fn every_flag_help_shows_the_default_of_the_file() {
        for v in VARIABLES.iter().filter(|v| v.key != "api.token") {
            let default = default_text(v.key).unwrap_or_else(|| panic!("the default file lacks {}", v.key));
            assert!(
                v.help.contains(&format!("[default: {default}]")),
                "{}: help says {:?}, file says {default}",
                v.env,
                v.help
            );
        }
    }

    #[test]
    fn flags_beat_environment_variables() {
        // nextest runs each test in its own process, and no other test here reads the environment.
        std::env::set_var("PACKHOOKS_MAX_ATTEMPTS", "7");
        std::env::set_var("PACKHOOKS_MAX_WEBHOOKS", "6");
        let matches = Overrides::augment_args(Command::new("serve"))
            .try_get_matches_from(["serve", "--max-attempts", "5", "--retry-delays", "1s,2s"])
            .unwrap();
        let overrides = Overrides::from_arg_matches(&matches).unwrap();
        std::env::remove_var("PACKHOOKS_MAX_ATTEMPTS");
        std::env::remove_var("PACKHOOKS_MAX_WEBHOOKS");
        let s = Settings::load(&overrides).unwrap();
        assert_eq!(s.delivery.max_attempts, 5, "the flag wins");
        assert_eq!(s.max_webhooks, 6, "the variable applies without a flag");
        assert_eq!(s.delivery.retry_delays, vec![Duration::from_secs(1), Duration::from_secs(2)]);
    }

    #[test]
    fn the_readme_documents_every_variable() {
        let readme = include_str!("../../../README.md");
        for v in VARIABLES {
            assert!(readme.contains(&format!("| `{}` |", v.env)), "README.md lacks a settings row for {}", v.env);
        }
    }

    #[test]
    fn a_file_then_variables_override_the_defaults() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "max_webhooks = 7\n[delivery]\nmax_attempts = 5\nretry_delays = \"5s\"").unwrap();
        let overrides = Overrides { config: Some(file.path().to_owned()), ..Overrides::default() }
            .set("PACKHOOKS_MAX_ATTEMPTS", "9")
            .set("PACKHOOKS_RETRY_DELAYS", "50ms, 100ms")
            .set("PACKHOOKS_ALLOW_PRIVATE_TARGETS", "true")
            .set("PACKHOOKS_SHARD", "1/3")
            .set("PACKHOOKS_LOG_FORMAT", "json");
        let s = Settings::load(&overrides).unwrap();
        assert_eq!(s.max_webhooks, 7, "from the file");
        assert_eq!(s.delivery.max_attempts, 9, "the variable beats the file");
        assert_eq!(s.delivery.retry_delays, vec![Duration::from_millis(50), Duration::from_millis(100)]);
        assert!(s.allow_private_targets);
        assert_eq!(s.delivery.shard, Shard { index: 1, count: 3 });
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.delivery.attempt_timeout, Duration::from_secs(10), "untouched defaults stay");
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        let refused =
            |env: &str, value: &str| Settings::load(&Overrides::default().set(env, value)).unwrap_err().to_string();
        assert!(refused("PACKHOOKS_LISTEN", "nowhere").contains("listen"));
        assert!(refused("PACKHOOKS_MAX_ATTEMPTS", "three").contains("PACKHOOKS_MAX_ATTEMPTS"));
        assert!(refused("PACKHOOKS_MAX_ATTEMPTS", "0").contains("delivery.max_attempts"));
        assert!(refused("PACKHOOKS_RETRY_DELAYS", "1m,soon").contains("delivery.retry_delays"));
        assert!(refused("PACKHOOKS_RETRY_JITTER", "1.5").contains("retry_jitter"));
        assert!(refused("PACKHOOKS_MAX_RETRY_AFTER", "a while").contains("delivery.max_retry_after"));
        assert!(refused("PACKHOOKS_BACKLOG_PER_WEBHOOK", "0").contains("delivery.backlog_per_webhook"));
        for shard in ["2/2", "0/0", "1", "a/2", "-1/2", "1/2/3"] {
            assert!(refused("PACKHOOKS_SHARD", shard).contains("delivery.shard"), "{shard}");
        }
        assert!(refused("PACKHOOKS_STORE", "postgres://x").contains("store"));
        assert!(refused("PACKHOOKS_LOG_FORMAT", "xml").contains("log.format"));
        assert!(refused("PACKHOOKS_ALLOW_PRIVATE_TARGETS", "maybe").contains("true or false"));
        assert!(refused("PACKHOOKS_API_TOKEN", "short").contains("api.token"));
    }

    #[test]
    fn durations_beyond_their_bound_are_refused_with_the_setting_named() {
        // "Never" written as a huge duration would overflow the date arithmetic of delivery.
        let refused =
            |env: &str, value: &str| Settings::load(&Overrides::default().set(env, value)).unwrap_err().to_string();
        let huge = "999999999years";
        assert!(refused("PACKHOOKS_AUTO_DISABLE_AFTER", huge).contains("delivery.auto_disable_after"));
        assert!(refused("PACKHOOKS_SECRET_ROTATION_OVERLAP", huge).contains("secret_rotation_overlap"));
        assert!(refused("PACKHOOKS_RETRY_DELAYS", &format!("1m,{huge}")).contains("delivery.retry_delays"));
        assert!(refused("PACKHOOKS_MAX_RETRY_AFTER", huge).contains("delivery.max_retry_after"));
        assert!(refused("PACKHOOKS_ATTEMPT_TIMEOUT", huge).contains("delivery.attempt_timeout"));
        // Just past each bound is refused; the bound itself is allowed.
        assert!(refused("PACKHOOKS_AUTO_DISABLE_AFTER", "10years 1s").contains("at most 10 years"));
        assert!(refused("PACKHOOKS_SECRET_ROTATION_OVERLAP", "7days 1s").contains("at most 7 days"));
        assert!(refused("PACKHOOKS_RETRY_DELAYS", "30days 1s").contains("at most 30 days"));
        assert!(refused("PACKHOOKS_MAX_RETRY_AFTER", "30days 1s").contains("at most 30 days"));
        assert!(refused("PACKHOOKS_ATTEMPT_TIMEOUT", "1h 1s").contains("at most 1 hour"));
        let at_bounds = Overrides::default()
            .set("PACKHOOKS_AUTO_DISABLE_AFTER", "10years")
            .set("PACKHOOKS_SECRET_ROTATION_OVERLAP", "7days")
            .set("PACKHOOKS_RETRY_DELAYS", "30days")
            .set("PACKHOOKS_MAX_RETRY_AFTER", "30days")
            .set("PACKHOOKS_ATTEMPT_TIMEOUT", "1h");
        let s = Settings::load(&at_bounds).unwrap();
        assert_eq!(s.delivery.auto_disable_after, Duration::from_secs(315_576_000));
        assert_eq!(s.secret_rotation_overlap, Duration::from_secs(7 * 86_400));
        assert_eq!(s.delivery.retry_delays, vec![Duration::from_secs(30 * 86_400)]);
        assert_eq!(s.delivery.max_retry_after, Duration::from_secs(30 * 86_400));
        assert_eq!(s.delivery.attempt_timeout, Duration::from_secs(3600));
    }

    #[test]
    fn settings_errors_redact_the_values_they_quote() {
        assert_eq!(
            redact_quoted(r#"invalid type: string "a \" secret", expected a sequence in `api.tokens`"#),
            r#"invalid type: string "[redacted]", expected a sequence in `api.tokens`"#
        );
        assert_eq!(
            redact_quoted("invalid type: integer `1234567890123456`, expected a string in `api.token`"),
            "invalid type: integer `[redacted]`, expected a string in `api.token`"
        );
    }

    #[test]
    fn a_syntax_error_still_says_what_was_expected() {
        // toml lists the tokens it expected in backquotes, a double quote among them: that is
        // no quoted value, and what follows it is no secret.
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "[api]\ntoken = an-unquoted-token").unwrap();
        let overrides = Overrides { config: Some(file.path().to_owned()), ..Overrides::default() };
        let error = Settings::load(&overrides).unwrap_err();
        let source = std::error::Error::source(&error).expect("the toml error");
        let shown = format!("{error}: {source}");
        assert!(shown.contains("expected `\"`, `'`"), "the expected quotes are shown: {shown}");
        assert!(!shown.contains("an-unquoted-token"), "{shown}");
        let escape = "invalid escape sequence\nexpected `b`, `f`, `n`, `r`, `t`, `u`, `U`, `\\`, `\"`";
        assert_eq!(redact_quoted(escape), escape);
    }

    #[test]
    fn unknown_keys_in_a_file_are_errors() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "max_webhook = 7").unwrap();
        let overrides = Overrides { config: Some(file.path().to_owned()), ..Overrides::default() };
        let error = Settings::load(&overrides).unwrap_err();
        assert!(matches!(error, SettingsError::Parse { .. }), "{error:?}");
    }

    #[test]
    fn the_compose_stacks_settings_give_prometheus_the_ops_role() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docker/packhooks.toml");
        let overrides = Overrides { config: Some(path), ..Overrides::default() };
        let s = Settings::load(&overrides).unwrap();
        let scrape = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docker/prometheus/scrape-token"));
        let [prometheus] = s.api.tokens.as_slice() else { panic!("one extra token: {:?}", s.api.tokens) };
        assert_eq!(prometheus.token.expose(), scrape.unwrap().trim(), "the token Prometheus scrapes with");
        assert_eq!(prometheus.roles, vec![Role::Ops]);
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let secret = "a-very-secret-token-1234567890";
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "[[api.tokens]]\ntoken = \"another-secret-token-0987654321\"\nroles = [\"auditor\"]").unwrap();
        let overrides = Overrides { config: Some(file.path().to_owned()), ..Overrides::default() }
            .set("PACKHOOKS_API_TOKEN", secret)
            .set("PACKHOOKS_STORE", "esdb://admin:changeit@localhost:2113");
        let s = Settings::load(&overrides).unwrap();
        assert_eq!(s.api.tokens[0].roles, vec![Role::Auditor]);
        let shown = format!("{s:?}");
        assert!(!shown.contains(secret));
        assert!(!shown.contains("another-secret"));
        assert!(!shown.contains("changeit"));
        assert_eq!(s.api.token.unwrap().expose(), secret);
    }
}
