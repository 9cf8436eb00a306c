//! given/when/then tests of the delivery rules, of the state fold they rest on, and of the
//! retry schedule.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::*;
use crate::testkit::fixtures::{t, wh};
use crate::testkit::{given, given_nothing, Folded};
use crate::webhook::{DisabledBy, WebhookStatus};
use crate::{DeliveryId, DomainEvent, Position};

impl Folded for DeliveryState {
    fn evolve(self, event: &DomainEvent) -> Self {
        DeliveryState::evolve(self, event)
    }
}

const DAY: Duration = Duration::from_secs(24 * 3600);

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        delays: vec![Duration::from_secs(60), Duration::from_secs(600)],
        jitter: 0.2,
        max_retry_after: Duration::from_secs(3600),
    }
}

fn rules(retry: &RetryPolicy) -> DeliveryRules<'_> {
    DeliveryRules { retry, disable_on_gone: true, auto_disable_after: 7 * DAY }
}

const ON: WebhookNow = WebhookNow { active: true, enabled_at: None };

fn dlv(n: u128) -> DeliveryId {
    DeliveryId::from_uuid(uuid::Uuid::from_u128(n))
}

fn source(position: u64, test: bool) -> DeliverySource {
    DeliverySource {
        stream: "pack-pk_1".into(),
        revision: position,
        position: Position::at(position),
        message_id: format!("msg_{position}"),
        test,
    }
}

fn failure(status: u16) -> AttemptOutcome {
    AttemptOutcome::Failure { code: FailureCode::Status, status: Some(status), detail: String::new() }
}

const OK: AttemptOutcome = AttemptOutcome::Success { status: 200 };

/// Attempt `attempt` of delivery `n` (from the event at position `n`), at `at` seconds.
fn attempt<'a>(
    n: u64,
    src: &'a DeliverySource,
    attempt: u32,
    outcome: &'a AttemptOutcome,
    at: i64,
) -> RecordAttempt<'a> {
    RecordAttempt {
        webhook_id: wh(1),
        delivery_id: dlv(n.into()),
        source: src,
        attempt,
        outcome,
        retry_after: None,
        jitter: 0.5,
        now: t(at),
    }
}

/// The `DeliveryAttempted` the actor records for `cmd`, with the decided next attempt.
fn attempted(cmd: &RecordAttempt<'_>, next_attempt_at: Option<DateTime<Utc>>) -> DomainEvent {
    DeliveryAttempted {
        webhook_id: cmd.webhook_id,
        delivery_id: cmd.delivery_id,
        source: cmd.source.clone(),
        attempt: cmd.attempt,
        outcome: cmd.outcome.clone(),
        latency_ms: 1,
        response_body: None,
        next_attempt_at,
        recorded_at: cmd.now,
    }
    .into()
}

/// Every event an attempt comes to, as the actor appends them.
fn recorded(
    state: &DeliveryState,
    cmd: &RecordAttempt<'_>,
    webhook: WebhookNow,
    rules: &DeliveryRules<'_>,
) -> Vec<DomainEvent> {
    let decided = record_attempt(&state.health, cmd, webhook, rules);
    std::iter::once(attempted(cmd, decided.next_attempt_at)).chain(decided.then).collect()
}

fn abandoned(n: u64, src: &DeliverySource, attempts: u32, at: i64) -> DomainEvent {
    DeliveryAbandoned {
        webhook_id: wh(1),
        delivery_id: dlv(n.into()),
        source: src.clone(),
        attempts,
        recorded_at: t(at),
    }
    .into()
}

fn flagged(n: u64, at: i64) -> DomainEvent {
    WebhookFlaggedFailing { webhook_id: wh(1), delivery_id: dlv(n.into()), failing_since: t(at), recorded_at: t(at) }
        .into()
}

fn recovered(n: u64, at: i64) -> DomainEvent {
    WebhookRecovered { webhook_id: wh(1), delivery_id: dlv(n.into()), recorded_at: t(at) }.into()
}

fn checkpoint(resume: Option<u64>, pending: Vec<PendingRetry>, failing_since: Option<DateTime<Utc>>) -> DomainEvent {
    DeliveryCheckpoint {
        webhook_id: wh(1),
        resume_position: resume.map(Position::at),
        pending,
        failing_since,
        recorded_at: t(0),
    }
    .into()
}

/// A webhook that is failing since `at` seconds (delivery 1 was abandoned then).
fn failing_since(at: i64) -> Vec<DomainEvent> {
    let src = source(1, false);
    vec![abandoned(1, &src, 3, at), flagged(1, at)]
}

// ---- retry or abandon ----

#[test]
fn a_failed_attempt_is_retried_on_the_schedule_until_the_last_which_abandons_the_delivery() {
    let (retry, src, down) = (policy(), source(5, false), failure(503));
    let first = attempt(5, &src, 1, &down, 0);
    given_nothing::<DeliveryState>()
        .when(|s| Ok(recorded(s, &first, ON, &rules(&retry))))
        .then_expect(vec![attempted(&first, Some(t(60)))]);
    let second = attempt(5, &src, 2, &down, 60);
    given::<DeliveryState>([attempted(&first, Some(t(60)))])
        .when(|s| Ok(recorded(s, &second, ON, &rules(&retry))))
        .then_expect(vec![attempted(&second, Some(t(660)))]);
    let last = attempt(5, &src, 3, &down, 660);
    given::<DeliveryState>([attempted(&first, Some(t(60))), attempted(&second, Some(t(660)))])
        .when(|s| Ok(recorded(s, &last, ON, &rules(&retry))))
        .then_expect(vec![attempted(&last, None), abandoned(5, &src, 3, 660), flagged(5, 660)]);
}

#[test]
fn a_retry_honours_retry_after_up_to_its_bound() {
    let (retry, src, down) = (policy(), source(5, false), failure(429));
    let asked = RecordAttempt { retry_after: Some(Duration::from_secs(120)), ..attempt(5, &src, 1, &down, 0) };
    let decided = record_attempt(&Health::default(), &asked, ON, &rules(&retry));
    assert_eq!(decided.next_attempt_at, Some(t(120)));
}

#[test]
fn an_abandoned_delivery_of_a_webhook_already_failing_does_not_flag_it_again() {
    let (retry, src, down) = (policy(), source(9, false), failure(500));
    let last = attempt(9, &src, 3, &down, 100);
    given::<DeliveryState>(failing_since(10))
        .when(|s| Ok(recorded(s, &last, ON, &rules(&retry))))
        .then_expect(vec![attempted(&last, None), abandoned(9, &src, 3, 100)]);
}

// ---- failing or recovered ----

#[test]
fn a_success_recovers_a_failing_webhook_and_changes_nothing_for_a_healthy_one() {
    let (retry, src) = (policy(), source(9, false));
    let ok = attempt(9, &src, 1, &OK, 100);
    given::<DeliveryState>(failing_since(10))
        .when(|s| Ok(recorded(s, &ok, ON, &rules(&retry))))
        .then_expect(vec![attempted(&ok, None), recovered(9, 100)]);
    given::<DeliveryState>(failing_since(10).into_iter().chain([recovered(2, 50)]))
        .when(|s| Ok(recorded(s, &ok, ON, &rules(&retry))))
        .then_expect(vec![attempted(&ok, None)]);
    let decided = record_attempt(&Health::default(), &ok, ON, &rules(&retry));
    assert!(decided.then.is_empty() && decided.then.capacity() == 0, "the common case allocates nothing");
}

#[test]
fn health_folds_from_flags_recoveries_and_checkpoints() {
    let state = given_state(failing_since(10));
    assert_eq!(state.health.failing_since, Some(t(10)));
    let state = state.evolve(&checkpoint(Some(3), vec![], None));
    assert_eq!(state.health.failing_since, None, "a checkpoint says whether it is failing");
    let state = state.evolve(&checkpoint(Some(3), vec![], Some(t(20))));
    assert_eq!(state.health.failing_since, Some(t(20)));
    assert_eq!(state.evolve(&recovered(4, 30)).health, Health::default());
}

#[test]
fn the_health_status_is_disabled_over_failing_over_healthy() {
    let disabled = WebhookStatus::Disabled { by: DisabledBy::Auto, reason: "gone".into(), since: t(0) };
    assert_eq!(HealthStatus::of(&disabled, Some(t(1))), HealthStatus::Disabled);
    assert_eq!(HealthStatus::of(&disabled, None), HealthStatus::Disabled);
    assert_eq!(HealthStatus::of(&WebhookStatus::Enabled, Some(t(1))), HealthStatus::Failing);
    assert_eq!(HealthStatus::of(&WebhookStatus::Enabled, None), HealthStatus::Healthy);
}

// ---- disable on 410 or after the auto-disable period ----

#[test]
fn gone_abandons_after_one_attempt_and_disables_the_webhook_at_once() {
    let (retry, src, gone) = (policy(), source(5, false), failure(410));
    let first = attempt(5, &src, 1, &gone, 0);
    given_nothing::<DeliveryState>().when(|s| Ok(recorded(s, &first, ON, &rules(&retry)))).then_expect(vec![
        attempted(&first, None),
        abandoned(5, &src, 1, 0),
        flagged(5, 0),
    ]);
    let decided = record_attempt(&Health::default(), &first, ON, &rules(&retry));
    assert_eq!(decided.disable, Some(DisableReason::Gone));
    assert!(DisableReason::Gone.text().contains("410"));
}

#[test]
fn gone_is_an_ordinary_failure_when_the_settings_do_not_disable_on_it() {
    let (retry, src, gone) = (policy(), source(5, false), failure(410));
    let keep = DeliveryRules { disable_on_gone: false, ..rules(&retry) };
    let first = attempt(5, &src, 1, &gone, 0);
    let decided = record_attempt(&Health::default(), &first, ON, &keep);
    assert_eq!((decided.next_attempt_at, decided.then, decided.disable), (Some(t(60)), vec![], None));
}

#[test]
fn an_inactive_webhook_is_never_disabled_again() {
    let (retry, src, gone) = (policy(), source(5, false), failure(410));
    let first = attempt(5, &src, 1, &gone, 0);
    let off = WebhookNow { active: false, enabled_at: None };
    assert_eq!(record_attempt(&Health::default(), &first, off, &rules(&retry)).disable, None);
    let failing = given_state(failing_since(0)).health;
    assert_eq!(auto_disable_due(&failing, off, t(0) + chrono::Duration::days(30), 7 * DAY), None);
}

#[test]
fn a_webhook_failing_for_the_whole_period_is_disabled_and_not_a_moment_before() {
    let health = given_state(failing_since(0)).health;
    let period = chrono::Duration::days(7);
    assert_eq!(auto_disable_at(&health, ON, 7 * DAY), Some(t(0) + period));
    assert_eq!(auto_disable_due(&health, ON, t(0) + period - chrono::Duration::seconds(1), 7 * DAY), None);
    let due = auto_disable_due(&health, ON, t(0) + period, 7 * DAY).expect("due");
    assert_eq!(due, DisableReason::FailingTooLong { since: t(0), failing_for: 7 * DAY });
    assert!(due.text().contains("no successful delivery for 604800 s"), "{}", due.text());
    assert_eq!(auto_disable_at(&Health::default(), ON, 7 * DAY), None, "a healthy webhook is never due");
}

#[test]
fn a_failing_attempt_past_the_period_disables_the_webhook() {
    let (retry, src, down) = (policy(), source(9, false), failure(500));
    let late = attempt(9, &src, 1, &down, 8 * 24 * 3600);
    let decided = record_attempt(&given_state(failing_since(0)).health, &late, ON, &rules(&retry));
    assert!(matches!(decided.disable, Some(DisableReason::FailingTooLong { since, .. }) if since == t(0)));
    // With a zero period, the flag itself disables at once.
    let now = DeliveryRules { auto_disable_after: Duration::ZERO, ..rules(&retry) };
    let last = attempt(9, &src, 3, &down, 5);
    let decided = record_attempt(&Health::default(), &last, ON, &now);
    assert_eq!(decided.disable, Some(DisableReason::FailingTooLong { since: t(5), failing_for: Duration::ZERO }));
}

#[test]
fn enabling_a_webhook_again_starts_its_auto_disable_period_over() {
    let health = given_state(failing_since(0)).health;
    let enabled = WebhookNow { active: true, enabled_at: Some(t(8 * 24 * 3600)) };
    assert_eq!(auto_disable_at(&health, enabled, 7 * DAY), Some(t(15 * 24 * 3600)));
    assert_eq!(auto_disable_due(&health, enabled, t(9 * 24 * 3600), 7 * DAY), None);
    // An enable before the flag changes nothing: the period runs from the flag.
    let earlier = WebhookNow { active: true, enabled_at: Some(t(-100)) };
    assert_eq!(auto_disable_at(&health, earlier, 7 * DAY), Some(t(7 * 24 * 3600)));
}

#[test]
fn a_period_too_long_for_a_date_means_never() {
    let health = given_state(failing_since(0)).health;
    assert_eq!(auto_disable_at(&health, ON, Duration::from_secs(u64::MAX)), Some(DateTime::<Utc>::MAX_UTC));
}

// ---- the test-event exemption ----

#[test]
fn a_test_event_is_attempted_once_and_never_changes_the_webhooks_health() {
    let (retry, src) = (policy(), source(7, true));
    for outcome in [failure(500), failure(410)] {
        let only = attempt(7, &src, 1, &outcome, 8 * 24 * 3600);
        given::<DeliveryState>(failing_since(0))
            .when(|s| Ok(recorded(s, &only, ON, &rules(&retry))))
            .then_expect(vec![attempted(&only, None)]);
        let decided = record_attempt(&given_state(failing_since(0)).health, &only, ON, &rules(&retry));
        assert_eq!(decided.disable, None, "a test event never disables");
        given_nothing::<DeliveryState>()
            .when(|s| Ok(recorded(s, &only, ON, &rules(&retry))))
            .then_expect(vec![attempted(&only, None)]);
    }
    let ok = attempt(7, &src, 1, &OK, 10);
    given::<DeliveryState>(failing_since(0))
        .when(|s| Ok(recorded(s, &ok, ON, &rules(&retry))))
        .then_expect(vec![attempted(&ok, None)]);
}

// ---- a webhook that is off ----

#[test]
fn a_webhook_that_is_off_gives_up_what_it_owes_after_the_attempts_made() {
    let src = source(5, false);
    assert_eq!(give_up(wh(1), dlv(5), &src, 1, t(3)), abandoned(5, &src, 0, 3));
    assert_eq!(give_up(wh(1), dlv(5), &src, 3, t(3)), abandoned(5, &src, 2, 3));
    let state = given_state([give_up(wh(1), dlv(5), &src, 1, t(3))]);
    assert_eq!(state.health, Health::default(), "giving up does not flag the webhook");
}

// ---- what is owed at resume ----

fn at(n: u64) -> Position {
    Position::at(n)
}

fn given_state(events: impl IntoIterator<Item = DomainEvent>) -> DeliveryState {
    events.into_iter().fold(DeliveryState::default(), |s, e| s.evolve(&e))
}

#[test]
fn a_checkpoint_resets_what_is_owed_and_later_attempts_are_remembered() {
    let down = failure(500);
    let (s5, s9) = (source(5, false), source(9, false));
    let state = given_state([attempted(&attempt(5, &s5, 1, &down, 0), Some(t(60)))]);
    assert_eq!(state.pending.len(), 1);
    let owed = state.pending.values().cloned().collect();
    let mut state = given_state([checkpoint(Some(7), owed, None), attempted(&attempt(9, &s9, 1, &OK, 1), None)])
        .evolve(&attempted(&attempt(5, &s5, 2, &OK, 61), None));
    assert!(state.pending.is_empty(), "the retry finished the pending delivery");
    assert!(state.already_handled(at(6)) && state.already_handled(at(9)) && !state.already_handled(at(8)));
    assert_eq!(state.since_checkpoint, 2);
    assert!(!state.may_checkpoint(), "a replay has to pass 9 first");
    assert_eq!(state.replayed(at(8)), Replayed::Owed);
    assert_eq!(state.replayed(at(6)), Replayed::Skip { advance: false });
    assert_eq!(state.replayed(at(9)), Replayed::Skip { advance: true });
    assert!(state.may_checkpoint());
}

#[test]
fn a_retry_restored_from_a_checkpoint_is_owed_with_its_due_time() {
    let src = source(5, false);
    let retry = PendingRetry { delivery_id: dlv(5), source: src.clone(), attempt: 2, due_at: t(60) };
    let state = given_state([checkpoint(Some(7), vec![retry.clone()], Some(t(0)))]);
    assert_eq!(state.pending.get(&dlv(5)), Some(&retry));
    assert_eq!(state.health.failing_since, Some(t(0)));
    // Given up while owed: no longer owed, and not remembered (it is before the resume point).
    let state = state.evolve(&give_up(wh(1), dlv(5), &src, 2, t(1)));
    assert!(state.pending.is_empty() && state.attempted_after.is_empty());
}

#[test]
fn a_checkpoint_is_due_every_n_events_or_every_owed_many_once_the_replay_is_past() {
    assert!(!checkpoint_due(10, true, 20, 0, 5, 0, false));
    assert!(checkpoint_due(14, true, 20, 0, 5, 0, false));
    assert!(checkpoint_due(0, true, 20, 0, 0, 0, true), "asked for");
    assert!(!checkpoint_due(14, true, 20, 0, 5, 3, true), "more outcomes are buffered behind");
    assert!(!checkpoint_due(14, false, 20, 0, 5, 0, true), "the replay is not past every remembered position");
    assert!(!checkpoint_due(14, true, 20, 100, 5, 0, false), "100 owed: every 100 events");
    assert!(checkpoint_due(94, true, 20, 100, 5, 0, false));
}

// ---- the retry schedule ----

fn now() -> DateTime<Utc> {
    "2026-11-28T12:00:00Z".parse().unwrap()
}

#[test]
fn a_huge_delay_or_retry_after_saturates_instead_of_panicking() {
    // `RetryPolicy` is public: nothing stops a caller building one settings would refuse.
    let huge = Duration::from_secs(u64::MAX);
    let policy = RetryPolicy { max_attempts: 3, delays: vec![huge], jitter: 0.2, max_retry_after: huge };
    assert_eq!(policy.next_attempt_at(1, now(), 0.99, None), Some(DateTime::<Utc>::MAX_UTC));
    assert_eq!(policy.next_attempt_at(1, now(), 0.0, Some(huge)), Some(DateTime::<Utc>::MAX_UTC));
    let near_the_end = DateTime::<Utc>::MAX_UTC - chrono::Duration::seconds(1);
    let modest = RetryPolicy { delays: vec![Duration::from_secs(60)], ..RetryPolicy::default() };
    assert_eq!(modest.next_attempt_at(1, near_the_end, 0.5, None), Some(DateTime::<Utc>::MAX_UTC));
    // Attempt 0 (no attempt made yet) is treated as the first, not an underflow.
    assert_eq!(modest.next_attempt_at(0, now(), 0.5, None), Some(now() + chrono::Duration::seconds(60)));
}

#[test]
fn an_ordinary_retry_is_still_scheduled_as_before() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.next_attempt_at(1, now(), 0.5, None), Some(now() + chrono::Duration::seconds(60)));
    assert_eq!(policy.next_attempt_at(2, now(), 0.5, None), Some(now() + chrono::Duration::seconds(600)));
    assert_eq!(policy.next_attempt_at(3, now(), 0.5, None), None);
    let asked = policy.next_attempt_at(1, now(), 0.5, Some(Duration::from_secs(7200)));
    assert_eq!(asked, Some(now() + chrono::Duration::seconds(3600)), "capped at max_retry_after");
}

// ---- a webhook switched on and off ----

/// A switch given what the dispatcher said, in order: `Some(true|false)` for a description
/// of the webhook as of position `at`, `None` for its deletion at `at`.
fn given_switch(said: &[(Option<bool>, u64)]) -> Switch {
    said.iter().fold(Switch::new(None), |mut switch, &(active, at)| {
        match active {
            Some(active) => {
                switch.set(active, Some(Position::at(at)));
            }
            None => switch.retire(Position::at(at)),
        }
        switch
    })
}

#[test]
fn a_due_delivery_waits_for_the_dispatcher_then_is_attempted_while_active_and_given_up_while_off() {
    assert_eq!(given_switch(&[]).due(true), Owing::Wait, "a restored retry waits to hear");
    assert_eq!(given_switch(&[]).due(false), Owing::Wait);
    assert_eq!(given_switch(&[(Some(true), 1)]).due(true), Owing::Attempt);
    assert_eq!(given_switch(&[(Some(true), 1)]).due(false), Owing::GiveUp, "no endpoint to send to");
    assert_eq!(given_switch(&[(Some(false), 1)]).due(true), Owing::GiveUp);
    assert_eq!(given_switch(&[(Some(true), 1), (None, 5)]).due(true), Owing::GiveUp, "deleted");
}

#[test]
fn turning_an_active_webhook_off_gives_up_what_was_routed_before_even_once_it_is_on_again() {
    let mut switch = given_switch(&[(Some(true), 1)]);
    assert_eq!(switch.set(false, Some(Position::at(10))), Turned::Off);
    assert_eq!(switch.set(true, Some(Position::at(12))), Turned::On);
    assert_eq!(switch.due(true), Owing::Attempt);
    assert_eq!(switch.take_on(Position::at(9)), Owing::GiveUp, "routed before it was turned off");
    assert_eq!(switch.take_on(Position::at(10)), Owing::Attempt);
    assert_eq!(switch.take_on(Position::at(11)), Owing::Attempt);
    // Turned off again earlier in the log than before: the later point stays.
    assert_eq!(switch.set(false, Some(Position::at(4))), Turned::Off);
    assert_eq!(switch.off_at, Some(Position::at(10)));
}

#[test]
fn only_an_active_webhook_is_turned_off_and_only_one_not_known_active_is_turned_on() {
    let mut switch = Switch::new(None);
    assert_eq!(switch.set(false, Some(Position::at(3))), Turned::Unchanged, "off from the start");
    assert_eq!(switch.off_at, None, "never on: nothing routed to it was held back");
    assert_eq!(switch.set(true, Some(Position::at(4))), Turned::On);
    assert_eq!(switch.set(true, Some(Position::at(5))), Turned::Unchanged);
}

#[test]
fn a_retired_webhook_gives_up_what_was_routed_before_its_deletion() {
    let switch = given_switch(&[(Some(true), 1), (None, 8)]);
    assert_eq!(switch.take_on(Position::at(7)), Owing::GiveUp);
    assert_eq!(switch.due(true), Owing::GiveUp);
    assert!(!switch.is_active());
}

#[test]
fn a_webhook_the_actor_disabled_itself_gives_up_what_comes_due_but_holds_nothing_routed_back() {
    let mut switch = given_switch(&[(Some(true), 1)]);
    switch.disabled();
    assert_eq!(switch.due(true), Owing::GiveUp);
    assert_eq!(switch.take_on(Position::at(2)), Owing::Attempt, "routed events follow the dispatcher's word");
    assert_eq!(switch.set(false, Some(Position::at(6))), Turned::Unchanged, "it is off already");
    assert_eq!(switch.off_at, None);
}
