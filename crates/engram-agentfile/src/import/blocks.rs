//! Blocks of the file: the top-level `blocks` (referred to by the agents' `block_ids`) and blocks written inline in
//! an agent's `memory_blocks`. Each becomes a checked [`NewBlock`]; a label engram would refuse is rewritten to one it
//! accepts (with a warning), and the fields engram has no place for are kept per label.

use std::collections::HashMap;

use engram_core::block::{BlockLabel, BlockLimit, NewBlock, check_description};
use engram_core::text::char_len;
use serde_json::{Map, Value};

use super::Warnings;
use crate::error::{AgentFileError, index};
use crate::kept::{prune, redact};
use crate::obj::Obj;

/// A block of the top-level list.
#[derive(Debug, Clone)]
pub(super) struct FileBlock {
    pub path: String,
    pub block: NewBlock,
    /// Fields engram does not map, for the metadata of the agents that use the block.
    pub extras: Map<String, Value>,
}

/// The top-level blocks and their file ids.
#[derive(Debug, Default)]
pub(super) struct FileBlocks {
    pub items: Vec<FileBlock>,
    pub by_id: HashMap<String, usize>,
}

pub(super) fn parse_file_blocks(values: Vec<Value>, warnings: &mut Warnings) -> Result<FileBlocks, AgentFileError> {
    let mut blocks = FileBlocks::default();
    for (i, value) in values.into_iter().enumerate() {
        let path = index("blocks", i);
        let ParsedBlock { id, block, extras } = parse_block(value, &path, warnings)?;
        if let Some(id) = id
            && blocks.by_id.insert(id.clone(), i).is_some()
        {
            return Err(AgentFileError::invalid(format!("{path}.id"), format!("another block has the id `{id}`")));
        }
        blocks.items.push(FileBlock { path, block, extras });
    }
    Ok(blocks)
}

/// A block as read: its file id, the checked block and the fields kept.
pub(super) struct ParsedBlock {
    pub id: Option<String>,
    pub block: NewBlock,
    pub extras: Map<String, Value>,
}

pub(super) fn parse_block(value: Value, path: &str, warnings: &mut Warnings) -> Result<ParsedBlock, AgentFileError> {
    let mut obj = Obj::new(value, path)?;
    let id = obj.string("id")?;
    let label_field = obj.field("label");
    let label_text = obj.string("label")?.ok_or_else(|| AgentFileError::invalid(&label_field, "is required"))?;
    let label = label(&label_field, &label_text, warnings)?;
    let value_field = obj.field("value");
    let value = obj.string("value")?.unwrap_or_default();
    let limit_field = obj.field("limit");
    let limit = match obj.int("limit")? {
        Some(n) => BlockLimit::parse(&limit_field, n)?,
        // No limit in the file: engram's default, or the value's length if it is longer.
        None => BlockLimit::parse(&value_field, char_len(&value).max(BlockLimit::DEFAULT as usize) as i64)?,
    };
    let description_field = obj.field("description");
    let description = obj.string("description")?.filter(|d| !d.is_empty());
    if let Some(description) = &description {
        check_description(&description_field, description)?;
    }
    let read_only = obj.bool("read_only")?.unwrap_or(false);
    let block = NewBlock::new(label, value, limit, description, read_only)
        .map_err(|e| AgentFileError::invalid(&value_field, e.to_string()))?;
    let mut extras = Value::Object(prune(obj.into_rest()));
    let mut secrets = Vec::new();
    redact(&mut extras, path, &mut secrets);
    for secret in secrets {
        warnings.add(&secret, "secret values are not imported");
    }
    let extras = match extras {
        Value::Object(map) => prune(map),
        _ => Map::new(),
    };
    Ok(ParsedBlock { id, block, extras })
}

/// The label as engram accepts it (`^[a-z][a-z0-9_]{0,63}$`): lower case, other characters as `_`, a leading
/// non-letter prefixed with `b_`, at most 64 characters. A rewritten label is reported.
fn label(field: &str, text: &str, warnings: &mut Warnings) -> Result<BlockLabel, AgentFileError> {
    if let Ok(label) = BlockLabel::parse(field, text) {
        return Ok(label);
    }
    let mut rewritten: String =
        text.trim().chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if !rewritten.starts_with(|c: char| c.is_ascii_lowercase()) {
        rewritten.insert_str(0, "b_");
    }
    rewritten.truncate(64);
    let rewritten = rewritten.trim_end_matches('_');
    let label = BlockLabel::parse(field, rewritten).map_err(|_| {
        AgentFileError::invalid(field, format!("`{text}` cannot be made into a block label engram accepts"))
    })?;
    warnings.add(
        field,
        format!("block label `{text}` is imported as `{label}` (labels are lowercase letters, digits and `_`)"),
    );
    Ok(label)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: Value) -> Result<(NewBlock, Vec<String>), AgentFileError> {
        let mut warnings = Warnings::default();
        let parsed = parse_block(value, "blocks[0]", &mut warnings)?;
        Ok((parsed.block, warnings.0))
    }

    #[test]
    fn labels_are_rewritten_when_engram_would_refuse_them() {
        let (block, warnings) = parse(json!({"label": "Human Notes", "value": "x"})).unwrap();
        assert_eq!(block.label.as_str(), "human_notes");
        assert_eq!(warnings.len(), 1);
        assert_eq!(parse(json!({"label": "2do", "value": ""})).unwrap().0.label.as_str(), "b_2do");
        assert_eq!(parse(json!({"label": "___"})).unwrap().0.label.as_str(), "b");
        assert_eq!(parse(json!({"value": "x"})).unwrap_err().field(), Some("blocks[0].label"));
    }

    #[test]
    fn limits_and_values() {
        let (block, _) = parse(json!({"label": "human", "value": "x".repeat(6000)})).unwrap();
        assert_eq!(block.limit.get(), 6000);
        let (block, _) = parse(json!({"label": "human", "value": "x"})).unwrap();
        assert_eq!(block.limit.get(), BlockLimit::DEFAULT);
        let err = parse(json!({"label": "human", "value": "xyz", "limit": 2})).unwrap_err();
        assert_eq!(err.field(), Some("blocks[0].value"));
        assert_eq!(parse(json!({"label": "human", "limit": 0})).unwrap_err().field(), Some("blocks[0].limit"));
        assert_eq!(parse(json!({"label": "human", "limit": "5"})).unwrap_err().field(), Some("blocks[0].limit"));
        let long = json!({"label": "human", "description": "d".repeat(2001)});
        assert_eq!(parse(long).unwrap_err().field(), Some("blocks[0].description"));
    }
}
