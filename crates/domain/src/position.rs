//! A place in the log's global `$all` order: the one position type of packhooks. The store
//! hands events out with it, the delivery rules and the events of a `deliveries-` stream
//! hold it (as its text, [`text`]), so nothing re-parses a position or drops one that fails.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A place in the global `$all` order.
///
/// EventStoreDB positions are (commit, prepare) pairs, opaque and sparse; the SQLite backend
/// uses a dense sequence starting at 1 with `commit == prepare`. Ordering is lexicographic.
/// Its text form ([`fmt::Display`], [`std::str::FromStr`]) is the commit alone when both are
/// the same, else `commit/prepare`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    pub commit: u64,
    pub prepare: u64,
}

impl Position {
    /// A position where commit and prepare are the same number (the SQLite backend's kind).
    pub const fn at(n: u64) -> Self {
        Position { commit: n, prepare: n }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.commit == self.prepare {
            write!(f, "{}", self.commit)
        } else {
            write!(f, "{}/{}", self.commit, self.prepare)
        }
    }
}

impl std::str::FromStr for Position {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parse = |p: &str| p.parse::<u64>().map_err(|_| format!("invalid position {s:?}"));
        match s.split_once('/') {
            Some((c, p)) => Ok(Position { commit: parse(c)?, prepare: parse(p)? }),
            None => Ok(Position::at(parse(s)?)),
        }
    }
}

/// A position stored as its text (`"7"`, `"12/11"`), as the events of a `deliveries-` stream
/// have always held it: `#[serde(with = "crate::position::text")]`. Text that is not a
/// position refuses the event rather than losing the position.
pub mod text {
    use serde::{de, Deserialize, Deserializer, Serializer};

    use super::Position;

    pub fn serialize<S: Serializer>(position: &Position, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(position)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Position, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }

    /// The same for an optional position (`null` when absent).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        use super::Position;

        pub fn serialize<S: Serializer>(position: &Option<Position>, serializer: S) -> Result<S::Ok, S::Error> {
            match position {
                Some(p) => serializer.collect_str(p),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Position>, D::Error> {
            #[derive(serde::Deserialize)]
            struct Text(#[serde(with = "super")] Position);
            Ok(Option::<Text>::deserialize(deserializer)?.map(|Text(p)| p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Held {
        #[serde(with = "text")]
        position: Position,
        #[serde(with = "text::option")]
        resume: Option<Position>,
    }

    #[test]
    fn a_position_is_held_as_the_text_events_always_stored() {
        for (held, json) in [
            (Held { position: Position::at(7), resume: None }, r#"{"position":"7","resume":null}"#),
            (
                Held { position: Position { commit: 12, prepare: 11 }, resume: Some(Position::at(3)) },
                r#"{"position":"12/11","resume":"3"}"#,
            ),
        ] {
            assert_eq!(serde_json::to_string(&held).expect("serialises"), json);
            assert_eq!(serde_json::from_str::<Held>(json).expect("reads back"), held);
        }
        let refused = serde_json::from_str::<Held>(r#"{"position":"x","resume":null}"#).expect_err("not a position");
        assert!(refused.to_string().contains("invalid position"), "{refused}");
    }

    #[test]
    fn positions_order_by_commit_then_prepare() {
        assert!(Position::at(2) < Position { commit: 2, prepare: 3 });
        assert!(Position { commit: 2, prepare: 9 } < Position::at(3));
        assert_eq!("12/11".parse(), Ok(Position { commit: 12, prepare: 11 }));
    }
}
