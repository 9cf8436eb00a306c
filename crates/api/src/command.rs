//! The API's side of the one command path ([`packhooks_command`]): every route that changes
//! something runs its command through [`run`], and its failures become API errors here.

pub use packhooks_command::{holds_key, read_events, run, Command, CommandError, Key, Ran};

use crate::ApiError;

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Domain(e) => ApiError::Domain(e),
            CommandError::Store(e) => e.into(),
            CommandError::KeyReused => ApiError::IdempotencyKeyReused,
            other => ApiError::internal(other),
        }
    }
}
