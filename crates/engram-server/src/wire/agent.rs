//! Agent shapes: the Agent response and the create/patch requests.

use chrono::{DateTime, Utc};
use engram_core::agent::{
    Agent, AgentConfig, AgentName, AgentPatch, DEFAULT_CONTEXT_WINDOW, MAX_SYSTEM_CHARS, Metadata, ModelRef, NewAgent,
    ToolName, check_context_window, parse_tags,
};
use engram_core::block::BlockLabel;
use engram_core::defaults::{DEFAULT_SYSTEM, DEFAULT_TOOLS};
use engram_core::id::BlockId;
use engram_core::text::check_max_chars;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::wire::block::{BlockBody, CreateBlockRequest};
use crate::wire::common::double_option;

/// An agent with its core memory blocks.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentBody {
    #[schema(example = "agent_01JD0000000000000000000000")]
    pub id: String,
    pub name: String,
    pub system: String,
    /// `provider/model`; null for a memory-only agent.
    #[schema(example = "openai/gpt-4o-mini")]
    pub model: Option<String>,
    #[schema(example = "local/all-minilm-l6-v2")]
    pub embedding: String,
    pub context_window: u32,
    pub blocks: Vec<BlockBody>,
    pub tools: Vec<String>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// Bumped by every configuration change.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Agent> for AgentBody {
    fn from(a: Agent) -> Self {
        let c = a.config;
        Self {
            id: a.id.to_string(),
            name: c.name.as_str().to_owned(),
            system: c.system,
            model: c.model.map(|m| m.to_string()),
            embedding: c.embedding.to_string(),
            context_window: c.context_window,
            blocks: a.blocks.into_iter().map(BlockBody::from).collect(),
            tools: c.tools.iter().map(|t| t.as_str().to_owned()).collect(),
            tags: c.tags.iter().map(|t| t.as_str().to_owned()).collect(),
            metadata: c.metadata.into_value(),
            version: a.version,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// An agent to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentRequest {
    pub name: String,
    /// Base instructions; a default that explains the memory tools is used when absent.
    pub system: Option<String>,
    /// `provider/model`. Without it the agent is memory-only (it serves memory but cannot run).
    pub model: Option<String>,
    /// `provider/model` of the embedding model; defaults to the server's.
    pub embedding: Option<String>,
    /// Context window in tokens (default 32000).
    pub context_window: Option<i64>,
    /// Blocks created with the agent.
    pub blocks: Option<Vec<CreateBlockRequest>>,
    /// Existing (shared) blocks to attach.
    pub block_ids: Option<Vec<String>>,
    /// Tool names; defaults to the built-in memory tools.
    pub tools: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Object)]
    pub metadata: Option<serde_json::Value>,
}

impl CreateAgentRequest {
    pub fn into_domain(self, default_embedding: &ModelRef) -> Result<NewAgent, ApiError> {
        let name = AgentName::parse("name", &self.name)?;
        let system = self.system.unwrap_or_else(|| DEFAULT_SYSTEM.to_owned());
        check_max_chars("system", &system, MAX_SYSTEM_CHARS)?;
        let model = self.model.as_deref().map(|m| ModelRef::parse("model", m)).transpose()?;
        let embedding = match self.embedding.as_deref() {
            Some(e) => ModelRef::parse("embedding", e)?,
            None => default_embedding.clone(),
        };
        let context_window = match self.context_window {
            Some(n) => check_context_window("context_window", n)?,
            None => DEFAULT_CONTEXT_WINDOW,
        };
        let tools = match self.tools {
            Some(t) => parse_tools(&t)?,
            None => DEFAULT_TOOLS.iter().map(|t| ToolName::parse("tools", t)).collect::<Result<_, _>>()?,
        };
        let tags = parse_tags("tags", &self.tags.unwrap_or_default())?;
        let metadata = Metadata::parse("metadata", self.metadata.unwrap_or_default())?;
        let mut blocks = Vec::new();
        let mut labels: Vec<BlockLabel> = Vec::new();
        for (i, b) in self.blocks.unwrap_or_default().into_iter().enumerate() {
            let field = format!("blocks[{i}]");
            let block = b.into_domain(&field)?;
            if labels.contains(&block.label) {
                return Err(engram_core::ValidationError::new(
                    format!("{field}.label"),
                    format!("label `{}` is used by more than one block", block.label),
                )
                .into());
            }
            labels.push(block.label.clone());
            blocks.push(block);
        }
        let block_ids = self
            .block_ids
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, id)| BlockId::parse(&format!("block_ids[{i}]"), id))
            .collect::<Result<Vec<_>, _>>()?;
        let config = AgentConfig { name, system, model, embedding, context_window, tools, tags, metadata };
        Ok(NewAgent { config, blocks, block_ids })
    }
}

fn parse_tools(tools: &[String]) -> Result<Vec<ToolName>, engram_core::ValidationError> {
    let mut out: Vec<ToolName> = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        let tool = ToolName::parse(&format!("tools[{i}]"), t)?;
        if !out.contains(&tool) {
            out.push(tool);
        }
    }
    Ok(out)
}

/// A partial agent update: any create field except blocks. `"model": null` makes the agent memory-only.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchAgentRequest {
    pub name: Option<String>,
    pub system: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub model: Option<Option<String>>,
    pub embedding: Option<String>,
    pub context_window: Option<i64>,
    pub tools: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Object)]
    pub metadata: Option<serde_json::Value>,
}

impl PatchAgentRequest {
    pub fn into_domain(self) -> Result<AgentPatch, ApiError> {
        let system = match self.system {
            Some(s) => {
                check_max_chars("system", &s, MAX_SYSTEM_CHARS)?;
                Some(s)
            }
            None => None,
        };
        Ok(AgentPatch {
            name: self.name.as_deref().map(|n| AgentName::parse("name", n)).transpose()?,
            system,
            model: match self.model {
                Some(Some(m)) => Some(Some(ModelRef::parse("model", &m)?)),
                Some(None) => Some(None),
                None => None,
            },
            embedding: self.embedding.as_deref().map(|e| ModelRef::parse("embedding", e)).transpose()?,
            context_window: self.context_window.map(|n| check_context_window("context_window", n)).transpose()?,
            tools: self.tools.as_deref().map(parse_tools).transpose()?,
            tags: self.tags.as_deref().map(|t| parse_tags("tags", t)).transpose()?,
            metadata: self.metadata.map(|m| Metadata::parse("metadata", m)).transpose()?,
        })
    }
}
