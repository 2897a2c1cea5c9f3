//! Path parameters parsed into typed ids. A malformed id names nothing, so it is reported as not found.

use engram_core::block::BlockLabel;
use engram_core::id::{AgentId, BlockId, PassageId};

use crate::error::ApiError;

pub fn agent_id(text: &str) -> Result<AgentId, ApiError> {
    AgentId::parse("agent_id", text).map_err(|_| ApiError::not_found("agent", text))
}

pub fn block_id(text: &str) -> Result<BlockId, ApiError> {
    BlockId::parse("block_id", text).map_err(|_| ApiError::not_found("block", text))
}

pub fn passage_id(text: &str) -> Result<PassageId, ApiError> {
    PassageId::parse("passage_id", text).map_err(|_| ApiError::not_found("passage", text))
}

pub fn label(text: &str) -> Result<BlockLabel, ApiError> {
    BlockLabel::parse("label", text).map_err(|_| ApiError::NotFound {
        kind: "block",
        message: format!("no block labelled `{text}` (and it is not a valid label)"),
    })
}
