//! Typed, prefixed, time-sortable identifiers (`agent_01J…`, `block_01J…`).
//!
//! Each id wraps a ULID, so ids sort by creation time. The prefix makes an id self-describing in logs and stops a
//! block id from being accepted where an agent id is expected: parsing checks the prefix.

use std::fmt;
use std::str::FromStr;

use ulid::Ulid;

use crate::ValidationError;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Ulid);

        impl $name {
            /// The prefix this kind of id carries on the wire.
            pub const PREFIX: &'static str = $prefix;

            pub fn from_ulid(ulid: Ulid) -> Self {
                Self(ulid)
            }

            pub fn ulid(self) -> Ulid {
                self.0
            }

            /// Parses `agent_…`-style text; `field` names the input for the error.
            pub fn parse(field: &str, text: &str) -> Result<Self, ValidationError> {
                let rest = text
                    .strip_prefix($prefix)
                    .and_then(|r| r.strip_prefix('_'))
                    .ok_or_else(|| ValidationError::new(field, format!("must be an id starting with `{}_`", $prefix)))?;
                Ulid::from_string(rest)
                    .map(Self)
                    .map_err(|_| ValidationError::new(field, format!("`{text}` is not a valid {} id", $prefix)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, self.0)
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse("id", s)
            }
        }
    };
}

typed_id!(
    /// Identifies an agent.
    AgentId, "agent"
);
typed_id!(
    /// Identifies a core memory block.
    BlockId, "block"
);
typed_id!(
    /// Identifies a message in recall memory.
    MessageId, "msg"
);
typed_id!(
    /// Identifies an archival passage.
    PassageId, "psg"
);
typed_id!(
    /// Identifies a run (one user request processed by the agent loop).
    RunId, "run"
);
typed_id!(
    /// Identifies one step of a run (one model call and its tool calls).
    StepId, "step"
);
typed_id!(
    /// Identifies a registered tool.
    ToolId, "tool"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_prefix() {
        let id = AgentId::from_ulid(Ulid::from_parts(1_700_000_000_000, 42));
        let text = id.to_string();
        assert!(text.starts_with("agent_"));
        assert_eq!(AgentId::parse("agent_id", &text), Ok(id));
        let err = BlockId::parse("block_id", &text).unwrap_err();
        assert_eq!(err.field, "block_id");
        assert!(AgentId::parse("x", "agent_notaulid").is_err());
        assert!(AgentId::parse("x", "agent01ARZ3NDEKTSV4RRFFQ69G5FAV").is_err());
    }

    #[test]
    fn ids_sort_by_time() {
        let a = PassageId::from_ulid(Ulid::from_parts(1, u128::MAX >> 48));
        let b = PassageId::from_ulid(Ulid::from_parts(2, 0));
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
    }
}
