//! Agent File shapes: the import response, and what the import and export need to know about this server (engram's
//! built-in tools, the model providers it can call).

use engram_agentfile::BuiltinTool;
use engram_runtime::tools::Builtin;
use serde::Serialize;
use utoipa::ToSchema;

use crate::wire::agent::AgentBody;

/// The model providers engram can call (those `engram_llm::Providers::chat_model` knows).
pub const MODEL_PROVIDERS: [&str; 3] = ["openai", "anthropic", "ollama"];

/// The agents an import created.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResponse {
    /// The new agents' ids, in the file's order.
    pub agent_ids: Vec<String>,
    pub agents: Vec<AgentBody>,
    /// What was mapped differently or not at all (kept in the agent's metadata under `agentfile`), one sentence
    /// each, starting with the JSON path it is about.
    pub warnings: Vec<String>,
}

/// engram's built-in tools as the Agent File crate needs them.
pub fn builtin_tools() -> Vec<BuiltinTool> {
    Builtin::ALL
        .into_iter()
        .map(|tool| {
            let spec = tool.spec();
            BuiltinTool {
                name: spec.name,
                description: spec.description,
                parameters: spec.parameters,
                terminal: tool.is_terminal(),
            }
        })
        .collect()
}
