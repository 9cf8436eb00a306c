//! Whether a webhook's deliveries may go out now, as its actor last heard from the
//! dispatcher: the rules of a webhook that is off (disabled, deleted, off plan).
//!
//! - a delivery that comes due is attempted while the webhook is active and has a target,
//!   waits while the dispatcher has not said yet (a retry restored at start), and is given
//!   up otherwise;
//! - when an active webhook is turned off, everything it owes that is not in flight is given
//!   up at once, not when it comes due; so is every routed event before that point in the
//!   log that it takes on later (read back after its backlog overflowed), even if it is on
//!   again by then: those are given up as its backlog was at that moment.
//!
//! Pure, like the rest of the delivery rules: the actor keeps a [`Switch`], tells it what
//! the dispatcher said, and does what it answers.

use crate::Position;

/// What a delivery owed an attempt comes to now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owing {
    /// Attempt it (a routed event: it is owed its first attempt).
    Attempt,
    /// Not yet: the dispatcher has not said whether the webhook is active.
    Wait,
    /// Give it up without an attempt ([`give_up`](super::give_up)): the webhook is off.
    GiveUp,
}

/// What a description of the webhook changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turned {
    /// An active webhook was turned off: give up now everything owed and not in flight.
    Off,
    /// A webhook not known to be active is: its auto-disable period may have run out
    /// meanwhile, so it is checked again.
    On,
    Unchanged,
}

/// A webhook's on and off, as its actor last heard of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Switch {
    /// `None` until the dispatcher has said (a restored retry waits for that).
    pub active: Option<bool>,
    /// Where in the log the webhook was last turned off: routed events before it that are
    /// taken on later are given up, as the backlog was at that moment.
    pub off_at: Option<Position>,
}

impl Switch {
    /// As the dispatcher described the webhook when the actor started (`None`: not yet).
    pub fn new(active: Option<bool>) -> Self {
        Switch { active, off_at: None }
    }

    /// Deliveries may go to it now.
    pub fn is_active(&self) -> bool {
        self.active == Some(true)
    }

    /// The dispatcher says the webhook is `active` (or not) as of log position `at`.
    pub fn set(&mut self, active: bool, at: Option<Position>) -> Turned {
        let was_active = self.is_active();
        self.active = Some(active);
        match (was_active, active) {
            (true, false) => {
                self.off_at = self.off_at.max(at);
                Turned::Off
            }
            (false, true) => Turned::On,
            _ => Turned::Unchanged,
        }
    }

    /// The webhook is deleted, and routing has passed its deletion at `at`: off for good,
    /// and what it owes is given up.
    pub fn retire(&mut self, at: Position) {
        self.active = Some(false);
        self.off_at = self.off_at.max(Some(at));
    }

    /// The actor disabled the webhook itself (auto-disable): nothing more is attempted.
    /// What it owes is given up as it comes due; routed events are not (the dispatcher's
    /// word that it is off follows from the log).
    pub fn disabled(&mut self) {
        self.active = Some(false);
    }

    /// A routed event at `position` is taken on.
    pub fn take_on(&self, position: Position) -> Owing {
        if self.off_at.is_some_and(|off| position < off) {
            Owing::GiveUp
        } else {
            Owing::Attempt
        }
    }

    /// A delivery comes due; `has_target`: the webhook has an endpoint to send to.
    pub fn due(&self, has_target: bool) -> Owing {
        match self.active {
            None => Owing::Wait,
            Some(true) if has_target => Owing::Attempt,
            Some(_) => Owing::GiveUp,
        }
    }
}
