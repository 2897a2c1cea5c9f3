//! Core memory blocks: labelled text with a size limit, compiled into the agent's system message every step.
//!
//! A block belongs to an organisation and may be attached to several agents (a shared block); each agent sees it under
//! its label, and a label is unique among one agent's blocks.

use chrono::{DateTime, Utc};

use crate::ValidationError;
use crate::id::{AgentId, BlockId};
use crate::text::{char_len, check_max_chars};

/// A block label: `^[a-z][a-z0-9_]{0,63}$`, e.g. `persona`, `human`, `task_notes`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockLabel(String);

impl BlockLabel {
    pub fn parse(field: &str, text: &str) -> Result<Self, ValidationError> {
        let mut chars = text.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && text.len() <= 64;
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(ValidationError::new(
                field,
                format!(
                    "`{text}` is not a valid block label: use a lowercase letter followed by up to 63 lowercase \
                     letters, digits or underscores"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlockLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

crate::bounded::bounded_u32!(
    /// A block's size limit in characters: `1..=BlockLimit::MAX`, default 5000.
    BlockLimit, max = 1_000_000, default = 5_000
);

/// Longest block description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;

/// A block value that exceeds its limit. Not a `ValidationError`: the value is well-formed, it just does not fit, and
/// clients (and models) are told both sizes so they can shorten it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("block `{label}` holds at most {limit} characters; the new value has {requested}")]
pub struct LimitExceeded {
    pub label: String,
    pub limit: u32,
    pub requested: usize,
}

/// Checks that `value` fits in `limit`.
pub fn check_fits(label: &BlockLabel, value: &str, limit: BlockLimit) -> Result<(), LimitExceeded> {
    let requested = char_len(value);
    if requested > limit.get() as usize {
        return Err(LimitExceeded { label: label.to_string(), limit: limit.get(), requested });
    }
    Ok(())
}

/// Checks an optional description's length.
pub fn check_description(field: &str, description: &str) -> Result<(), ValidationError> {
    check_max_chars(field, description, MAX_DESCRIPTION_CHARS)
}

/// A stored block.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub id: BlockId,
    pub label: BlockLabel,
    pub value: String,
    pub limit: BlockLimit,
    pub description: Option<String>,
    pub read_only: bool,
    /// Starts at 1; every change bumps it. Clients use it with `If-Match`.
    pub version: i64,
    /// The agents this block is attached to, in attachment order.
    pub agent_ids: Vec<AgentId>,
    /// True for blocks created on their own (`POST /v1/blocks`); they outlive the agents they are attached to.
    pub standalone: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A block to create. Its value is already known to fit its limit when built through `NewBlock::new`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBlock {
    pub label: BlockLabel,
    pub value: String,
    pub limit: BlockLimit,
    pub description: Option<String>,
    pub read_only: bool,
}

impl NewBlock {
    pub fn new(
        label: BlockLabel,
        value: String,
        limit: BlockLimit,
        description: Option<String>,
        read_only: bool,
    ) -> Result<Self, LimitExceeded> {
        check_fits(&label, &value, limit)?;
        Ok(Self { label, value, limit, description, read_only })
    }
}

/// A partial update of a block. The store re-checks the limit against the merged result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockPatch {
    pub value: Option<String>,
    pub limit: Option<BlockLimit>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub read_only: Option<bool>,
}

impl BlockPatch {
    pub fn is_empty(&self) -> bool {
        self.value.is_none() && self.limit.is_none() && self.description.is_none() && self.read_only.is_none()
    }

    /// Applies the patch to `block`, checking the limit; returns whether anything changed.
    pub fn apply_to(&self, block: &mut Block) -> Result<bool, LimitExceeded> {
        let value = self.value.as_deref().unwrap_or(&block.value);
        let limit = self.limit.unwrap_or(block.limit);
        check_fits(&block.label, value, limit)?;
        let mut changed = false;
        if let Some(v) = &self.value {
            changed |= *v != block.value;
            block.value.clone_from(v);
        }
        if let Some(l) = self.limit {
            changed |= l != block.limit;
            block.limit = l;
        }
        if let Some(d) = &self.description {
            changed |= *d != block.description;
            block.description.clone_from(d);
        }
        if let Some(r) = self.read_only {
            changed |= r != block.read_only;
            block.read_only = r;
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_label(text: &str, ok: bool) {
        assert_eq!(BlockLabel::parse("label", text).is_ok(), ok, "{text}");
    }

    #[test]
    fn labels() {
        check_label("persona", true);
        check_label("a", true);
        check_label("task_notes_2", true);
        check_label(&"a".repeat(64), true);
        check_label(&"a".repeat(65), false);
        check_label("", false);
        check_label("Persona", false);
        check_label("2human", false);
        check_label("_x", false);
        check_label("hu-man", false);
        check_label("hümän", false);
    }

    #[test]
    fn limit_counts_characters_not_bytes() {
        let label = BlockLabel::parse("label", "human").unwrap_or_else(|_| unreachable!());
        let limit = BlockLimit::parse("limit", 3).unwrap_or_default();
        assert!(check_fits(&label, "ééé", limit).is_ok());
        let err = check_fits(&label, "éééé", limit).unwrap_err();
        assert_eq!((err.limit, err.requested), (3, 4));
    }
}
