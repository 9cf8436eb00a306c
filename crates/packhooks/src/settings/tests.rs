//! The settings' tests: defaults, the file, the environment and flags, validation, and
//! secrets kept out of errors.

use std::io::Write as _;

use super::parse::*;
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
    let readme = include_str!("../../../../README.md");
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
