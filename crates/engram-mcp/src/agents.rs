//! Which agent an MCP connection acts on: found by id or by name, or (for `engram mcp` over stdio) created on first
//! use with the default `persona` and `human` blocks.

use engram_core::ValidationError;
use engram_core::agent::{
    Agent, AgentConfig, AgentFilter, AgentName, DEFAULT_CONTEXT_WINDOW, Metadata, ModelRef, NewAgent, ToolName,
};
use engram_core::audit::{Actor, ActorKind, WriteContext};
use engram_core::block::{BlockLabel, BlockLimit, NewBlock};
use engram_core::defaults::{DEFAULT_SYSTEM, DEFAULT_TOOLS};
use engram_core::id::AgentId;
use engram_core::org::OrgId;
use engram_core::page::{PageLimit, PageRequest};
use engram_store::{Store, StoreError};

use crate::error::McpError;

/// The blocks an agent created by `engram mcp` starts with: label and what the block is for.
const DEFAULT_BLOCKS: [(&str, &str); 2] = [
    ("persona", "Who the assistant is: its role, personality and how it should behave."),
    ("human", "What the assistant knows about the user: name, preferences, projects and context."),
];

/// Finds the agent that `id_or_name` names in `org`: an agent id (`agent_…`), else an agent name, which must name
/// exactly one agent.
pub async fn resolve_agent(store: &dyn Store, org: &OrgId, id_or_name: &str) -> Result<Agent, McpError> {
    let text = id_or_name.trim();
    if let Ok(id) = AgentId::parse("agent", text) {
        return match store.get_agent(org, id).await {
            Ok(agent) => Ok(agent),
            Err(StoreError::NotFound { .. }) => Err(McpError::AgentNotFound(text.to_owned())),
            Err(error) => Err(error.into()),
        };
    }
    let name = AgentName::parse("agent", text)?;
    find_by_name(store, org, &name).await?.ok_or_else(|| McpError::AgentNotFound(text.to_owned()))
}

/// The agent named `name` in `org`, created with the defaults (no model: a memory-only agent; the `persona` and
/// `human` blocks, empty; `embedding`) when there is none. Returns the agent and whether it was created now.
///
/// The creation is recorded as the local operator's, like any change made by whoever runs engram on the machine:
/// it happens before any MCP client has connected.
pub async fn open_or_create_agent(
    store: &dyn Store,
    org: &OrgId,
    name: &str,
    embedding: &ModelRef,
) -> Result<(Agent, bool), McpError> {
    let name = AgentName::parse("agent", name.trim())?;
    if let Some(agent) = find_by_name(store, org, &name).await? {
        return Ok((agent, false));
    }
    let ctx = WriteContext {
        org: org.clone(),
        actor: Actor { kind: ActorKind::Operator, id: "local".to_owned() },
        run_id: None,
        step_id: None,
        request_id: None,
    };
    let agent = store.create_agent(&ctx, default_agent(name, embedding)?).await?;
    Ok((agent, true))
}

async fn find_by_name(store: &dyn Store, org: &OrgId, name: &AgentName) -> Result<Option<Agent>, McpError> {
    let filter = AgentFilter { name: Some(name.as_str().to_owned()), tag: None };
    // Two rows are enough to tell one agent from several.
    let page = PageRequest { limit: PageLimit::parse("limit", 2)?, after: None };
    let mut agents = store.list_agents(org, &filter, &page).await?.items;
    match agents.len() {
        0 => Ok(None),
        1 => Ok(agents.pop()),
        _ => {
            let count = store.list_agents(org, &filter, &PageRequest::default()).await?.items.len();
            Err(McpError::AmbiguousAgent { name: name.as_str().to_owned(), count })
        }
    }
}

fn default_agent(name: AgentName, embedding: &ModelRef) -> Result<NewAgent, ValidationError> {
    let tools = DEFAULT_TOOLS.iter().map(|t| ToolName::parse("tools", t)).collect::<Result<_, _>>()?;
    let mut blocks = Vec::new();
    for (label, description) in DEFAULT_BLOCKS {
        let label = BlockLabel::parse("label", label)?;
        // An empty value fits every limit.
        let block = NewBlock::new(label, String::new(), BlockLimit::default(), Some(description.to_owned()), false)
            .map_err(|e| ValidationError::new("blocks", e.to_string()))?;
        blocks.push(block);
    }
    let config = AgentConfig {
        name,
        system: DEFAULT_SYSTEM.to_owned(),
        model: None,
        embedding: embedding.clone(),
        context_window: DEFAULT_CONTEXT_WINDOW,
        tools,
        tags: Vec::new(),
        metadata: Metadata::default(),
    };
    Ok(NewAgent { config, blocks, block_ids: Vec::new() })
}
