//! The one error type of engram-mcp: why an agent could not be found or opened for an MCP connection. Errors inside
//! a session are MCP errors (`rmcp::ErrorData`) or tool results with `isError`, built where they happen.

use engram_core::ValidationError;
use engram_store::StoreError;

/// Why an MCP connection could not be bound to an agent, or the server could not be served.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// No agent has this id or name in the caller's organisation.
    #[error("agent `{0}` not found: name an existing agent by its id (`agent_…`) or its name")]
    AgentNotFound(String),
    /// Several agents share this name, so it does not say which one is meant.
    #[error("{count} agents are named `{name}`; name the agent by its id (`agent_…`) instead")]
    AmbiguousAgent { name: String, count: usize },
    /// A value given for the connection is not valid (an agent name that could never exist, …).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The MCP transport failed (stdio closed during the handshake, …).
    #[error("MCP transport failed: {0}")]
    Transport(String),
}
