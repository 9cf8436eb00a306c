//! given/when/then tests of the webhook rules, and of the state fold they rest on.

use std::time::Duration;

use super::*;
use crate::account::Plan;
use crate::error::{EventsProblem, FieldProblem, SecretProblem};
use crate::testkit::fixtures::{acc, created, secret, t, wh};
use crate::testkit::{given, given_nothing};
use crate::{DomainEvent, ErrorKind};

const BOTH: &[EventType] = &[EventType::Interested, EventType::Declined];

fn ctx(plan: Option<Plan>, live: usize) -> WebhookContext {
    WebhookContext { plan, live_webhooks_of_account: live, max_webhooks: 4, url_policy: UrlPolicy::default() }
}

fn growth() -> WebhookContext {
    ctx(Some(Plan::Growth), 0)
}

fn create_cmd() -> CreateWebhook {
    CreateWebhook {
        webhook_id: wh(1),
        account_id: acc("acc_7"),
        url: "https://hooks.example.com/in".into(),
        events: BOTH.to_vec(),
        description: None,
        format: None,
        secret: secret(1),
        now: t(0),
    }
}

fn existing() -> Vec<DomainEvent> {
    vec![created(wh(1), "acc_7", BOTH, 0)]
}

fn disabled(by: DisabledBy, reason: &str, at: i64) -> DomainEvent {
    WebhookDisabled { webhook_id: wh(1), by, reason: reason.into(), recorded_at: t(at) }.into()
}

fn deleted(at: i64) -> DomainEvent {
    WebhookDeleted { webhook_id: wh(1), recorded_at: t(at) }.into()
}

// ---- create ----

#[test]
fn create_on_growth_or_scale_records_the_normalised_webhook_with_secret_version_1() {
    for plan in [Plan::Growth, Plan::Scale] {
        let cmd = CreateWebhook {
            url: "HTTPS://Hooks.Example.com/in".into(),
            description: Some("  CRM sync  ".into()),
            events: vec![EventType::Declined],
            ..create_cmd()
        };
        given_nothing::<WebhookState>().when(|s| decide(s, cmd, &ctx(Some(plan), 3))).then_expect(vec![
            WebhookCreated {
                webhook_id: wh(1),
                account_id: acc("acc_7"),
                url: "https://hooks.example.com/in".into(),
                events: vec![EventType::Declined],
                description: Some("CRM sync".into()),
                format: Default::default(),
                secret: secret(1),
                secret_version: 1,
                recorded_at: t(0),
            }
            .into(),
        ]);
    }
}

#[test]
fn create_is_refused_on_starter_and_for_accounts_without_a_plan() {
    for plan in [Some(Plan::Starter), None] {
        let e = given_nothing::<WebhookState>()
            .when(|s| decide(s, create_cmd(), &ctx(plan, 0)))
            .then_error("plan_not_eligible");
        assert_eq!(e, DomainError::PlanNotEligible { plan });
        assert_eq!(e.kind(), ErrorKind::Forbidden);
        assert_eq!(e.field(), None);
    }
}

#[test]
fn create_is_refused_once_the_account_has_the_most_webhooks_allowed() {
    let e = given_nothing::<WebhookState>()
        .when(|s| decide(s, create_cmd(), &ctx(Some(Plan::Scale), 4)))
        .then_error("webhook_limit_reached");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    // The limit is a setting.
    let one = WebhookContext { max_webhooks: 1, ..ctx(Some(Plan::Growth), 1) };
    given_nothing::<WebhookState>().when(|s| decide(s, create_cmd(), &one)).then_error("webhook_limit_reached");
    let more = WebhookContext { max_webhooks: 10, ..ctx(Some(Plan::Growth), 9) };
    assert!(decide(&WebhookState::None, create_cmd(), &more).is_ok());
}

#[test]
fn create_is_refused_when_the_id_exists_or_existed() {
    given::<WebhookState>(existing()).when(|s| decide(s, create_cmd(), &growth())).then_error("webhook_exists");
    given::<WebhookState>([created(wh(1), "acc_7", BOTH, 0), deleted(5)])
        .when(|s| decide(s, create_cmd(), &growth()))
        .then_error("webhook_exists");
}

#[test]
fn create_validates_the_url_under_the_configured_policy() {
    let private = CreateWebhook { url: "http://127.0.0.1:9000/hook".into(), ..create_cmd() };
    let e = given_nothing::<WebhookState>().when(|s| decide(s, private.clone(), &growth())).then_error("invalid_url");
    assert_eq!(e.field(), Some("url"));
    assert_eq!(e.kind(), ErrorKind::Invalid);
    let lax = WebhookContext { url_policy: UrlPolicy { allow_private_targets: true }, ..growth() };
    let events = decide(&WebhookState::None, private, &lax).expect("allowed by policy");
    assert!(matches!(&events[..], [DomainEvent::WebhookCreated(e)] if e.url == "http://127.0.0.1:9000/hook"));

    let ftp = CreateWebhook { url: "ftp://example.com/".into(), ..create_cmd() };
    given_nothing::<WebhookState>().when(|s| decide(s, ftp, &lax)).then_error("invalid_url");
}

#[test]
fn create_needs_one_or_both_event_types_each_once() {
    let e = given_nothing::<WebhookState>()
        .when(|s| decide(s, CreateWebhook { events: vec![], ..create_cmd() }, &growth()))
        .then_error("invalid_events");
    assert_eq!(e, DomainError::InvalidEvents(EventsProblem::Empty));
    assert_eq!(e.field(), Some("events"));
    let twice = vec![EventType::Interested, EventType::Declined, EventType::Interested];
    let e = given_nothing::<WebhookState>()
        .when(|s| decide(s, CreateWebhook { events: twice, ..create_cmd() }, &growth()))
        .then_error("invalid_events");
    assert_eq!(e, DomainError::InvalidEvents(EventsProblem::Duplicate(EventType::Interested)));
}

#[test]
fn create_limits_the_description_to_256_characters_and_drops_a_blank_one() {
    let ok = "é".repeat(256);
    let events =
        decide(&WebhookState::None, CreateWebhook { description: Some(ok.clone()), ..create_cmd() }, &growth())
            .expect("256 characters are fine, whatever their byte length");
    assert!(matches!(&events[..], [DomainEvent::WebhookCreated(e)] if e.description.as_ref() == Some(&ok)));

    let e = given_nothing::<WebhookState>()
        .when(|s| decide(s, CreateWebhook { description: Some("x".repeat(257)), ..create_cmd() }, &growth()))
        .then_invalid_field("description");
    assert_eq!(e, DomainError::InvalidField { field: "description", problem: FieldProblem::TooLong { max: 256 } });

    let events =
        decide(&WebhookState::None, CreateWebhook { description: Some("   ".into()), ..create_cmd() }, &growth())
            .expect("blank is no description");
    assert!(matches!(&events[..], [DomainEvent::WebhookCreated(e)] if e.description.is_none()));
}

#[test]
fn create_refuses_malformed_secrets() {
    for (bad, problem) in [
        (Secret::new("sk_abc".into()), "prefix"),
        (Secret::new("whsec_!!!not base64".into()), "encoding"),
        (Secret::from_bytes(&[7; 16]), "length"),
        (Secret::from_bytes(&[7; 65]), "length"),
    ] {
        let e = given_nothing::<WebhookState>()
            .when(|s| decide(s, CreateWebhook { secret: bad, ..create_cmd() }, &growth()))
            .then_error("invalid_secret");
        let expected = matches!(
            (&e, problem),
            (DomainError::InvalidSecret(SecretProblem::Prefix), "prefix")
                | (DomainError::InvalidSecret(SecretProblem::Encoding(_)), "encoding")
                | (DomainError::InvalidSecret(SecretProblem::Length { .. }), "length")
        );
        assert!(expected, "{problem}: {e:?}");
    }
}

// ---- update ----

#[test]
fn update_records_the_new_values_and_keeps_the_rest() {
    let patch = UpdateWebhook {
        url: Some("https://other.example.com/x".into()),
        description: Some(Some("new".into())),
        now: t(10),
        ..UpdateWebhook::default()
    };
    given::<WebhookState>(existing()).when(|s| decide(s, patch, &growth())).then_expect(vec![WebhookUpdated {
        webhook_id: wh(1),
        url: "https://other.example.com/x".into(),
        events: BOTH.to_vec(),
        description: Some("new".into()),
        format: Default::default(),
        recorded_at: t(10),
    }
    .into()]);

    let only_events =
        UpdateWebhook { events: Some(vec![EventType::Interested]), now: t(11), ..UpdateWebhook::default() };
    given::<WebhookState>(existing()).when(|s| decide(s, only_events, &growth())).then_expect(vec![WebhookUpdated {
        webhook_id: wh(1),
        url: "https://hooks.example.com/in".into(),
        events: vec![EventType::Interested],
        description: None,
        format: Default::default(),
        recorded_at: t(11),
    }
    .into()]);
}

#[test]
fn update_clears_the_description_with_null() {
    let with_description: DomainEvent = WebhookUpdated {
        webhook_id: wh(1),
        url: "https://hooks.example.com/in".into(),
        events: BOTH.to_vec(),
        description: Some("old".into()),
        format: Default::default(),
        recorded_at: t(1),
    }
    .into();
    let clear = UpdateWebhook { description: Some(None), now: t(2), ..UpdateWebhook::default() };
    given::<WebhookState>([created(wh(1), "acc_7", BOTH, 0), with_description])
        .when(|s| decide(s, clear, &growth()))
        .then_expect(vec![WebhookUpdated {
            webhook_id: wh(1),
            url: "https://hooks.example.com/in".into(),
            events: BOTH.to_vec(),
            description: None,
            format: Default::default(),
            recorded_at: t(2),
        }
        .into()]);
}

#[test]
fn an_update_that_changes_nothing_records_nothing() {
    given::<WebhookState>(existing()).when(|s| decide(s, UpdateWebhook::default(), &growth())).then_no_events();
    let same = UpdateWebhook {
        url: Some("https://HOOKS.example.com/in".into()),
        events: Some(BOTH.to_vec()),
        description: Some(None),
        format: None,
        now: t(3),
    };
    given::<WebhookState>(existing()).when(|s| decide(s, same, &growth())).then_no_events();
}

#[test]
fn update_validates_every_patched_field() {
    let bad_url = UpdateWebhook { url: Some("http://10.0.0.1/".into()), ..UpdateWebhook::default() };
    given::<WebhookState>(existing()).when(|s| decide(s, bad_url, &growth())).then_error("invalid_url");
    let no_events = UpdateWebhook { events: Some(vec![]), ..UpdateWebhook::default() };
    given::<WebhookState>(existing()).when(|s| decide(s, no_events, &growth())).then_error("invalid_events");
    let long = UpdateWebhook { description: Some(Some("d".repeat(257))), ..UpdateWebhook::default() };
    given::<WebhookState>(existing()).when(|s| decide(s, long, &growth())).then_invalid_field("description");
}

#[test]
fn update_works_after_the_account_moved_to_starter() {
    let patch = UpdateWebhook { events: Some(vec![EventType::Declined]), now: t(1), ..UpdateWebhook::default() };
    let events = decide(&fold(&existing()), patch, &ctx(Some(Plan::Starter), 1)).expect("owners may tidy up");
    assert_eq!(events.len(), 1);
}

// ---- missing and deleted webhooks ----

#[test]
fn commands_on_a_missing_webhook_are_not_found() {
    let commands: Vec<WebhookCommand> = vec![
        UpdateWebhook::default().into(),
        RotateSecret { secret: secret(2), overlap: Duration::from_secs(60), now: t(1) }.into(),
        EnableWebhook { now: t(1) }.into(),
        DisableWebhook { by: DisabledBy::Owner, reason: String::new(), now: t(1) }.into(),
        DeleteWebhook { now: t(1) }.into(),
        RequestTestEvent {
            test_id: TestEventId::from_uuid(uuid::Uuid::from_u128(9)),
            event: EventType::Interested,
            now: t(1),
        }
        .into(),
    ];
    for command in commands {
        let e = given_nothing::<WebhookState>().when(|s| decide(s, command, &growth())).then_error("webhook_not_found");
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }
}

#[test]
fn commands_on_a_deleted_webhook_are_refused_but_deleting_again_is_a_no_op() {
    let history = [created(wh(1), "acc_7", BOTH, 0), deleted(5)];
    let commands: Vec<WebhookCommand> = vec![
        UpdateWebhook { description: Some(Some("x".into())), ..UpdateWebhook::default() }.into(),
        RotateSecret { secret: secret(2), overlap: Duration::from_secs(60), now: t(6) }.into(),
        EnableWebhook { now: t(6) }.into(),
        DisableWebhook { by: DisabledBy::Auto, reason: "failing".into(), now: t(6) }.into(),
        RequestTestEvent {
            test_id: TestEventId::from_uuid(uuid::Uuid::from_u128(9)),
            event: EventType::Declined,
            now: t(6),
        }
        .into(),
    ];
    for command in commands {
        let e = given::<WebhookState>(history.clone())
            .when(|s| decide(s, command, &growth()))
            .then_error("webhook_deleted");
        assert_eq!(e.kind(), ErrorKind::Gone);
    }
    given::<WebhookState>(history).when(|s| decide(s, DeleteWebhook { now: t(7) }, &growth())).then_no_events();
}

#[test]
fn delete_records_the_deletion() {
    given::<WebhookState>(existing())
        .when(|s| decide(s, DeleteWebhook { now: t(4) }, &ctx(Some(Plan::Starter), 1)))
        .then_expect(vec![deleted(4)]);
}

// ---- secrets ----

#[test]
fn rotate_bumps_the_version_and_keeps_the_old_secret_for_the_overlap() {
    let rotate = RotateSecret { secret: secret(2), overlap: Duration::from_secs(24 * 3600), now: t(100) };
    given::<WebhookState>(existing()).when(|s| decide(s, rotate, &growth())).then_expect(vec![WebhookSecretRotated {
        webhook_id: wh(1),
        secret: secret(2),
        secret_version: 2,
        previous_valid_until: t(100 + 24 * 3600),
        recorded_at: t(100),
    }
    .into()]);
}

#[test]
fn rotate_refuses_an_overlap_over_7_days_and_a_malformed_secret() {
    let long = RotateSecret { secret: secret(2), overlap: Duration::from_secs(7 * 24 * 3600 + 1), now: t(1) };
    given::<WebhookState>(existing()).when(|s| decide(s, long, &growth())).then_invalid_field("overlap");
    let bad = RotateSecret { secret: Secret::new("whsec_".into()), overlap: Duration::ZERO, now: t(1) };
    given::<WebhookState>(existing()).when(|s| decide(s, bad, &growth())).then_error("invalid_secret");
}

#[test]
fn after_rotations_the_current_and_the_last_previous_secret_sign_until_the_overlap_ends() {
    let rotated = |n: u8, version: u32, at: i64, until: i64| -> DomainEvent {
        WebhookSecretRotated {
            webhook_id: wh(1),
            secret: secret(n),
            secret_version: version,
            previous_valid_until: t(until),
            recorded_at: t(at),
        }
        .into()
    };
    let state = fold(&[created(wh(1), "acc_7", BOTH, 0), rotated(2, 2, 10, 110), rotated(3, 3, 20, 120)]);
    let webhook = state.active().expect("active");
    assert_eq!(webhook.secrets.current, secret(3));
    assert_eq!(webhook.secrets.version, 3);
    let previous = webhook.secrets.previous.as_ref().expect("previous");
    assert_eq!((previous.secret.clone(), previous.version, previous.valid_until), (secret(2), 2, t(120)));
    assert_eq!(webhook.secrets.signing_at(t(119)).cloned().collect::<Vec<_>>(), vec![secret(3), secret(2)]);
    assert_eq!(webhook.secrets.signing_at(t(120)).cloned().collect::<Vec<_>>(), vec![secret(3)]);
}

#[test]
fn secrets_encode_their_bytes_as_whsec_base64_and_decode_back() {
    let s = Secret::from_bytes(b"0123456789abcdef01234567");
    assert_eq!(s.expose(), "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3");
    assert_eq!(s.key_bytes().expect("valid"), b"0123456789abcdef01234567");
    assert_eq!(Secret::parse(s.expose()), Ok(s.clone()));
    assert_eq!(Secret::parse("whsec_AAAA").map_err(|e| e.code()), Err("invalid_secret"));
    assert_eq!(format!("{s:?}"), "Secret(…)");
}

// ---- enable and disable ----

#[test]
fn disable_records_who_and_why() {
    let cmd = DisableWebhook { by: DisabledBy::Owner, reason: " maintenance ".into(), now: t(3) };
    given::<WebhookState>(existing()).when(|s| decide(s, cmd, &growth())).then_expect(vec![disabled(
        DisabledBy::Owner,
        "maintenance",
        3,
    )]);
    let auto = DisableWebhook { by: DisabledBy::Auto, reason: "failing for 7 days".into(), now: t(4) };
    given::<WebhookState>(existing()).when(|s| decide(s, auto, &growth())).then_expect(vec![disabled(
        DisabledBy::Auto,
        "failing for 7 days",
        4,
    )]);
}

#[test]
fn disable_without_a_reason_says_who_disabled_it() {
    let cmd = DisableWebhook { by: DisabledBy::Owner, reason: "  ".into(), now: t(3) };
    given::<WebhookState>(existing()).when(|s| decide(s, cmd, &growth())).then_expect(vec![disabled(
        DisabledBy::Owner,
        "disabled by the owner",
        3,
    )]);
}

#[test]
fn disable_refuses_a_reason_over_1000_characters() {
    let cmd = DisableWebhook { by: DisabledBy::Owner, reason: "r".repeat(1001), now: t(3) };
    given::<WebhookState>(existing()).when(|s| decide(s, cmd, &growth())).then_invalid_field("reason");
}

#[test]
fn enable_and_disable_are_idempotent() {
    given::<WebhookState>(existing()).when(|s| decide(s, EnableWebhook { now: t(1) }, &growth())).then_no_events();
    let mut history = existing();
    history.push(disabled(DisabledBy::Auto, "failing", 1));
    for by in [DisabledBy::Owner, DisabledBy::Auto] {
        let again = DisableWebhook { by, reason: "again".into(), now: t(2) };
        given::<WebhookState>(history.clone()).when(|s| decide(s, again, &growth())).then_no_events();
    }
    given::<WebhookState>(history)
        .when(|s| decide(s, EnableWebhook { now: t(3) }, &growth()))
        .then_expect(vec![WebhookEnabled { webhook_id: wh(1), recorded_at: t(3) }.into()]);
}

// ---- test events ----

fn test_cmd(event: EventType) -> RequestTestEvent {
    RequestTestEvent { test_id: TestEventId::from_uuid(uuid::Uuid::from_u128(9)), event, now: t(5) }
}

#[test]
fn a_test_event_of_either_kind_goes_to_an_enabled_webhook_on_a_webhook_plan() {
    // Subscribed to declined only, yet a test of interested is allowed: the owner asked for it.
    given::<WebhookState>([created(wh(1), "acc_7", &[EventType::Declined], 0)])
        .when(|s| decide(s, test_cmd(EventType::Interested), &growth()))
        .then_expect(vec![TestEventRequested {
            webhook_id: wh(1),
            account_id: acc("acc_7"),
            test_id: TestEventId::from_uuid(uuid::Uuid::from_u128(9)),
            event: EventType::Interested,
            recorded_at: t(5),
        }
        .into()]);
}

#[test]
fn a_test_event_is_refused_for_a_disabled_webhook_or_a_starter_account() {
    let mut history = existing();
    history.push(disabled(DisabledBy::Owner, "off", 1));
    let e = given::<WebhookState>(history)
        .when(|s| decide(s, test_cmd(EventType::Declined), &growth()))
        .then_error("webhook_disabled");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    given::<WebhookState>(existing())
        .when(|s| decide(s, test_cmd(EventType::Declined), &ctx(Some(Plan::Starter), 1)))
        .then_error("plan_not_eligible");
}

// ---- the fold ----

#[test]
fn fold_until_gives_the_state_as_it_was_at_a_time() {
    let updated: DomainEvent = WebhookUpdated {
        webhook_id: wh(1),
        url: "https://v2.example.com/".into(),
        events: vec![EventType::Interested],
        description: Some("v2".into()),
        format: Default::default(),
        recorded_at: t(20),
    }
    .into();
    let history =
        vec![created(wh(1), "acc_7", BOTH, 10), updated, disabled(DisabledBy::Auto, "failing", 30), deleted(40)];

    assert_eq!(fold_until(&history, t(9)), WebhookState::None);

    let at_10 = fold_until(&history, t(10));
    let webhook = at_10.active().expect("created at 10");
    assert_eq!((webhook.url.as_str(), webhook.events.as_slice()), ("https://hooks.example.com/in", BOTH));
    assert!(webhook.is_enabled());

    let at_25 = fold_until(&history, t(25));
    let webhook = at_25.active().expect("still there");
    assert_eq!(webhook.url, "https://v2.example.com/");
    assert_eq!(webhook.description.as_deref(), Some("v2"));
    assert_eq!(webhook.updated_at, t(20));
    assert!(webhook.subscribes_to(EventType::Interested) && !webhook.subscribes_to(EventType::Declined));

    let at_30 = fold_until(&history, t(30));
    assert_eq!(
        at_30.active().expect("disabled, not deleted").status,
        WebhookStatus::Disabled { by: DisabledBy::Auto, reason: "failing".into(), since: t(30) }
    );

    match fold_until(&history, t(1000)) {
        WebhookState::Deleted { webhook, deleted_at } => {
            assert_eq!(deleted_at, t(40));
            assert_eq!(webhook.url, "https://v2.example.com/");
        }
        other => panic!("expected deleted, got {other:?}"),
    }
}

#[test]
fn the_serialised_state_never_shows_a_secret() {
    let rotated: DomainEvent = WebhookSecretRotated {
        webhook_id: wh(1),
        secret: secret(2),
        secret_version: 2,
        previous_valid_until: t(100),
        recorded_at: t(1),
    }
    .into();
    let state = fold(&[created(wh(1), "acc_7", BOTH, 0), rotated]);
    let json = serde_json::to_value(&state).expect("serialises");
    let text = json.to_string();
    assert!(!text.contains(secret(1).expose()) && !text.contains(secret(2).expose()), "{text}");
    assert_eq!(json["state"], "active");
    assert_eq!(json["status"]["status"], "enabled");
    assert_eq!(
        json["secrets"],
        serde_json::json!({"version": 2, "previous": {"version": 1, "valid_until": "2026-11-28T09:01:40Z"}})
    );
}

// ---- format ----

fn created_format(events: &[DomainEvent]) -> WebhookFormat {
    match events {
        [DomainEvent::WebhookCreated(e)] => e.format,
        other => panic!("expected one WebhookCreated, got {other:?}"),
    }
}

fn updated_format(events: &[DomainEvent]) -> WebhookFormat {
    match events {
        [DomainEvent::WebhookUpdated(e)] => e.format,
        other => panic!("expected one WebhookUpdated, got {other:?}"),
    }
}

#[test]
fn create_chooses_the_chat_format_of_a_known_chat_url_unless_one_is_given() {
    let create = |url: &str, format: Option<WebhookFormat>| {
        let cmd = CreateWebhook { url: url.into(), format, ..create_cmd() };
        created_format(&decide(&WebhookState::None, cmd, &growth()).expect("created"))
    };
    assert_eq!(create("https://hooks.example.com/in", None), WebhookFormat::Standard);
    assert_eq!(create("https://hooks.slack.com/services/T0/B0/x", None), WebhookFormat::Slack);
    assert_eq!(create("https://discord.com/api/webhooks/1/t", None), WebhookFormat::Discord);
    assert_eq!(create("https://a.webhook.office.com/webhookb2/x", None), WebhookFormat::Teams);
    // An explicit format always wins, standard included.
    assert_eq!(
        create("https://hooks.slack.com/services/T0/B0/x", Some(WebhookFormat::Standard)),
        WebhookFormat::Standard
    );
    assert_eq!(create("https://hooks.example.com/in", Some(WebhookFormat::Teams)), WebhookFormat::Teams);
}

#[test]
fn update_sets_the_format_and_a_new_chat_url_brings_its_own_unless_one_is_given() {
    let patch = |format, url: Option<&str>| UpdateWebhook {
        format,
        url: url.map(Into::into),
        now: t(5),
        ..UpdateWebhook::default()
    };
    let state = fold(&existing());
    let decided = |p| decide(&state, p, &growth()).expect("decided");
    assert_eq!(updated_format(&decided(patch(Some(WebhookFormat::Discord), None))), WebhookFormat::Discord);
    assert_eq!(
        updated_format(&decided(patch(None, Some("https://hooks.slack.com/services/T/B/x")))),
        WebhookFormat::Slack
    );
    let explicit = patch(Some(WebhookFormat::Standard), Some("https://hooks.slack.com/services/T/B/x"));
    assert_eq!(updated_format(&decided(explicit)), WebhookFormat::Standard);
    // The same format again changes nothing.
    assert!(decided(patch(Some(WebhookFormat::Standard), None)).is_empty());

    // The same Slack URL sent again keeps the standard format chosen for it.
    let mut explicit_standard = existing();
    let to_slack = patch(Some(WebhookFormat::Standard), Some("https://hooks.slack.com/services/T/B/x"));
    explicit_standard.extend(decide(&state, to_slack, &growth()).expect("decided"));
    let explicit_standard = fold(&explicit_standard);
    let again = patch(None, Some("https://hooks.slack.com/services/T/B/x"));
    assert!(decide(&explicit_standard, again, &growth()).expect("decided").is_empty(), "nothing changes");

    // A webhook on Slack moved to a URL that is no chat webhook keeps its format.
    let mut on_slack = existing();
    on_slack.extend(decide(&state, patch(Some(WebhookFormat::Slack), None), &growth()).expect("decided"));
    let on_slack = fold(&on_slack);
    let moved = decide(&on_slack, patch(None, Some("https://relay.example.com/slack")), &growth()).expect("decided");
    assert_eq!(updated_format(&moved), WebhookFormat::Slack);
    assert_eq!(on_slack.active().map(|w| w.format), Some(WebhookFormat::Slack));
}

#[test]
fn events_written_before_formats_existed_read_as_standard() {
    let created = br#"{"webhook_id":"wh_00000000000000000000000000000001","account_id":"acc_7","url":"https://hooks.slack.com/services/T/B/x","events":["declined"],"description":null,"secret":"whsec_BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=","secret_version":1,"recorded_at":"2026-11-28T09:00:00Z"}"#;
    let updated = br#"{"webhook_id":"wh_00000000000000000000000000000001","url":"https://discord.com/api/webhooks/1/t","events":["declined"],"description":null,"recorded_at":"2026-11-28T10:00:00Z"}"#;
    let events = [
        DomainEvent::decode("WebhookCreated", created).expect("an old WebhookCreated decodes"),
        DomainEvent::decode("WebhookUpdated", updated).expect("an old WebhookUpdated decodes"),
    ];
    // Standard, whatever the URL: that is what these webhooks received when the events were written.
    assert_eq!(fold(&events[..1]).active().map(|w| w.format), Some(WebhookFormat::Standard));
    assert_eq!(fold(&events).active().map(|w| w.format), Some(WebhookFormat::Standard));
}
