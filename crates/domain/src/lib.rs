//! The packhooks domain, as pure functions.
//!
//! Commands go through `decide(&State, Command) -> Result<Vec<Event>, DomainError>`, and state
//! is folded with `evolve(State, &Event) -> State`. Nothing here does I/O or reads a clock:
//! time, ids and secrets arrive inside the commands, so every rule is testable given/when/then.

pub mod account;
pub mod clock;
pub mod delivery;
pub mod error;
pub mod events;
pub mod ids;
pub mod ip_policy;
pub mod payload;
pub mod registry;
pub mod submission;
pub mod webhook;

#[cfg(test)]
mod testkit;

pub use error::{DomainError, ErrorKind};
pub use events::{DomainEvent, EventMetadata};
pub use ids::*;
