//! The built-in tools the agent calls: core memory edits, archival insert and search, conversation search and
//! `send_message`. A tool never fails the run: every problem (bad arguments, unknown block, a limit, a storage error)
//! comes back to the model as an error result that says how to fix the call.

mod archival;
mod args;
mod catalog;
mod core_memory;
mod recall;

use engram_core::audit::WriteContext;
use engram_core::id::AgentId;
use engram_core::message::ToolStatus;
use engram_store::{Store, StoreError};

pub use catalog::{Builtin, MEMORY_TOOLS, agent_tools};

/// What a tool call produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    /// The result text the model reads.
    pub content: String,
    pub status: ToolStatus,
    /// The run ends after this call.
    pub terminal: bool,
}

impl ToolOutcome {
    pub(crate) fn ok(content: impl Into<String>) -> Self {
        Self { content: content.into(), status: ToolStatus::Ok, terminal: false }
    }

    pub(crate) fn error(content: impl Into<String>) -> Self {
        Self { content: content.into(), status: ToolStatus::Error, terminal: false }
    }
}

/// What a tool may touch: the store, on behalf of one agent, with the run and step as provenance.
pub(crate) struct ToolEnv<'a> {
    pub store: &'a dyn Store,
    pub retrieval: &'a crate::retrieval::Retrieval,
    pub ctx: &'a WriteContext,
    pub agent: AgentId,
}

/// Runs the tool `name` with the model's raw argument text. `offered` are the tools the model was given.
pub(crate) async fn execute(env: &ToolEnv<'_>, offered: &[Builtin], name: &str, raw_arguments: &str) -> ToolOutcome {
    let Some(tool) = Builtin::parse(name).filter(|t| offered.contains(t)) else {
        let names: Vec<&str> = offered.iter().map(|t| t.name()).collect();
        return ToolOutcome::error(format!(
            "there is no tool named `{name}`; the tools you can call are: {}",
            names.join(", ")
        ));
    };
    let args = match args::Args::parse(tool.name(), raw_arguments, tool.arguments()) {
        Ok(args) => args,
        Err(message) => return ToolOutcome::error(message),
    };
    let result = match tool {
        Builtin::CoreMemoryAppend | Builtin::CoreMemoryReplace | Builtin::MemoryInsert | Builtin::MemoryRethink => {
            core_memory::run(env, tool, &args).await
        }
        Builtin::ArchivalMemoryInsert => archival::insert(env, &args).await,
        Builtin::ArchivalMemorySearch => archival::search(env, &args).await,
        Builtin::ConversationSearch => recall::search(env, &args).await,
        Builtin::SendMessage => {
            args.string("message").map(|_| ToolOutcome { terminal: true, ..ToolOutcome::ok("Sent.") })
        }
    };
    result.unwrap_or_else(ToolOutcome::error)
}

/// Runs the built-in memory tool `tool` for `agent` from outside the agent loop: the same argument checks, the same
/// code and the same audited write path as a call from the agent's model. `raw_arguments` is the JSON text of the
/// arguments, as a model sends it; `ctx` says who acts (the MCP server passes its client, with no run or step).
/// `send_message` only ends a turn of the agent's own run, so it is refused here.
pub async fn call_memory_tool(
    store: &dyn Store,
    retrieval: &crate::retrieval::Retrieval,
    ctx: &WriteContext,
    agent: AgentId,
    tool: Builtin,
    raw_arguments: &str,
) -> ToolOutcome {
    if !MEMORY_TOOLS.contains(&tool) {
        return ToolOutcome::error(format!("{} can only be called by the agent itself, during a run", tool.name()));
    }
    let env = ToolEnv { store, retrieval, ctx, agent };
    execute(&env, &[tool], tool.name(), raw_arguments).await
}

/// A storage failure as the model should read it: not its fault, try again later.
/// The tool result for a failed search or insert: storage failures as [`storage_failure`], the rest (an embedding
/// provider failing, vectors of another model) with their message, which tells the model what happened.
pub(crate) fn retrieval_failure(error: &crate::error::RuntimeError) -> String {
    match error {
        crate::error::RuntimeError::Store(e) => storage_failure(e),
        other => {
            tracing::warn!(error = %other, "a retrieval tool call failed");
            format!("the search could not run: {other}; you may try again later")
        }
    }
}

pub(crate) fn storage_failure(error: &StoreError) -> String {
    tracing::warn!(%error, "a tool call failed in storage");
    "the memory store failed to complete this call; it was not your fault, and you may try again".to_owned()
}
