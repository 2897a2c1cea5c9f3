//! Block shapes: the Block response and the create/patch/attach/detach requests.

use chrono::{DateTime, Utc};
use engram_core::block::{Block, BlockLabel, BlockLimit, BlockPatch, NewBlock, check_description};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::wire::common::double_option;

/// A core memory block.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlockBody {
    #[schema(example = "block_01JD0000000000000000000000")]
    pub id: String,
    #[schema(example = "human")]
    pub label: String,
    pub value: String,
    /// Size limit in characters.
    pub limit: u32,
    pub description: Option<String>,
    /// Read-only blocks cannot be edited by the agent's memory tools (the API may still edit them).
    pub read_only: bool,
    /// Bumped by every change; send it back in `If-Match` to avoid lost updates.
    pub version: i64,
    /// Agents this block is attached to.
    pub agent_ids: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Block> for BlockBody {
    fn from(b: Block) -> Self {
        Self {
            id: b.id.to_string(),
            label: b.label.as_str().to_owned(),
            value: b.value,
            limit: b.limit.get(),
            description: b.description,
            read_only: b.read_only,
            version: b.version,
            agent_ids: b.agent_ids.iter().map(ToString::to_string).collect(),
            created_at: b.created_at,
            updated_at: b.updated_at,
        }
    }
}

/// A block to create, on its own or with an agent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBlockRequest {
    /// `^[a-z][a-z0-9_]{0,63}$`
    pub label: String,
    pub value: String,
    /// Size limit in characters (default 5000).
    pub limit: Option<i64>,
    pub description: Option<String>,
    pub read_only: Option<bool>,
}

impl CreateBlockRequest {
    /// Validates into a `NewBlock`; `field` prefixes error fields (e.g. `blocks[0]`).
    pub fn into_domain(self, field: &str) -> Result<NewBlock, ApiError> {
        let prefixed = |name: &str| if field.is_empty() { name.to_owned() } else { format!("{field}.{name}") };
        let label = BlockLabel::parse(&prefixed("label"), &self.label)?;
        let limit = match self.limit {
            Some(n) => BlockLimit::parse(&prefixed("limit"), n)?,
            None => BlockLimit::default(),
        };
        if let Some(d) = &self.description {
            check_description(&prefixed("description"), d)?;
        }
        Ok(NewBlock::new(label, self.value, limit, self.description, self.read_only.unwrap_or(false))?)
    }
}

/// A partial block update. Absent fields stay as they are; `"description": null` clears the description.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBlockRequest {
    pub value: Option<String>,
    pub limit: Option<i64>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub read_only: Option<bool>,
}

impl PatchBlockRequest {
    pub fn into_domain(self) -> Result<BlockPatch, ApiError> {
        let limit = self.limit.map(|n| BlockLimit::parse("limit", n)).transpose()?;
        if let Some(Some(d)) = &self.description {
            check_description("description", d)?;
        }
        Ok(BlockPatch { value: self.value, limit, description: self.description, read_only: self.read_only })
    }
}

/// Attach an existing block to an agent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachBlockRequest {
    pub block_id: String,
}

/// Detach the block an agent sees under `label`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetachBlockRequest {
    pub label: String,
}
