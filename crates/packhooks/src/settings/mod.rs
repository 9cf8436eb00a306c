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

pub use self::parse::TomlError;
use self::parse::{merge, override_value, parse_toml, set, Raw};

mod parse;

/// The committed defaults, `config/packhooks.toml`, built into the binary.
pub const DEFAULT_TOML: &str = include_str!("../../../../config/packhooks.toml");

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

#[cfg(test)]
mod tests;
