//! The MCP tools: the agent's own built-in memory tools (same names, JSON schemas, argument checks and audited
//! write path, through `engram_runtime::tools::call_memory_tool`) plus `memory_blocks`, which reads every core
//! memory block. A tool that fails on its arguments or on the agent's state answers a result with `isError: true`
//! and the runtime's message; only a call of a tool that does not exist is a protocol error.

use std::sync::Arc;

use engram_core::message::ToolStatus;
use engram_runtime::tools::{Builtin, MEMORY_TOOLS, call_memory_tool};
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

use crate::connection::Connection;
use crate::state::McpState;

/// The read-only tool that lists every core memory block.
pub const MEMORY_BLOCKS: &str = "memory_blocks";

const MEMORY_BLOCKS_DESCRIPTION: &str = "Read all of your core memory blocks: for each, its label, value, size limit \
    in characters, description and whether it is read-only. Read them before editing them.";

/// Every tool, in a stable order: `memory_blocks` first, then the built-in memory tools in the runtime's order.
pub(crate) fn list() -> Vec<Tool> {
    let mut tools = vec![
        Tool::new(
            MEMORY_BLOCKS,
            MEMORY_BLOCKS_DESCRIPTION,
            schema_object(json!({
                "type": "object", "properties": {}, "additionalProperties": false
            })),
        )
        .with_annotations(annotations(true, false)),
    ];
    for tool in MEMORY_TOOLS {
        let spec = tool.spec();
        // Rewriting a whole block or replacing a snippet discards text; the other edits only add.
        let destructive = matches!(tool, Builtin::CoreMemoryReplace | Builtin::MemoryRethink);
        tools.push(
            Tool::new(spec.name, spec.description, schema_object(spec.parameters))
                .with_annotations(annotations(tool.is_read_only(), destructive)),
        );
    }
    tools
}

fn annotations(read_only: bool, destructive: bool) -> ToolAnnotations {
    ToolAnnotations::new().read_only(read_only).destructive(destructive).open_world(false)
}

fn schema_object(schema: Value) -> Arc<JsonObject> {
    match schema {
        Value::Object(map) => Arc::new(map),
        // The catalog's schemas are all objects; an empty object schema is the safe reading of anything else.
        _ => Arc::new(JsonObject::new()),
    }
}

/// Calls tool `name` with `arguments` for the connection's agent.
pub(crate) async fn call(
    state: &McpState,
    connection: &Connection,
    name: &str,
    arguments: Option<JsonObject>,
) -> Result<CallToolResult, ErrorData> {
    if name == MEMORY_BLOCKS {
        return Ok(memory_blocks(state, connection, arguments.as_ref()).await);
    }
    let Some(tool) = Builtin::parse(name).filter(|t| MEMORY_TOOLS.contains(t)) else {
        let names: Vec<&str> = std::iter::once(MEMORY_BLOCKS).chain(MEMORY_TOOLS.iter().map(|t| t.name())).collect();
        return Err(ErrorData::invalid_params(
            format!("unknown tool `{name}`; the tools are: {}", names.join(", ")),
            Some(json!({ "tool": name })),
        ));
    };
    // The runtime parses the model's argument text; MCP already parsed it, so it is written back as the same JSON.
    let raw_arguments = arguments.map(|a| Value::Object(a).to_string()).unwrap_or_default();
    let ctx = connection.write_ctx();
    let outcome =
        call_memory_tool(state.store.as_ref(), &state.retrieval, &ctx, connection.agent, tool, &raw_arguments).await;
    Ok(match outcome.status {
        ToolStatus::Ok => {
            if matches!(
                tool,
                Builtin::CoreMemoryAppend | Builtin::CoreMemoryReplace | Builtin::MemoryInsert | Builtin::MemoryRethink
            ) {
                state.announce_change(connection.agent);
            }
            CallToolResult::success(vec![ContentBlock::text(outcome.content)])
        }
        ToolStatus::Error => CallToolResult::error(vec![ContentBlock::text(outcome.content)]),
    })
}

async fn memory_blocks(state: &McpState, connection: &Connection, arguments: Option<&JsonObject>) -> CallToolResult {
    if let Some(unknown) = arguments.and_then(|a| a.keys().next()) {
        return CallToolResult::error(vec![ContentBlock::text(format!(
            "{MEMORY_BLOCKS} has no argument `{unknown}`; it takes no arguments"
        ))]);
    }
    match state.store.list_agent_blocks(&connection.org, connection.agent).await {
        Ok(blocks) => {
            let blocks: Vec<Value> = blocks
                .iter()
                .map(|b| {
                    json!({
                        "label": b.label.as_str(),
                        "value": b.value,
                        "limit": b.limit.get(),
                        "description": b.description,
                        "read_only": b.read_only,
                    })
                })
                .collect();
            CallToolResult::success(vec![ContentBlock::text(Value::Array(blocks).to_string())])
        }
        Err(error) => {
            tracing::warn!(%error, "memory_blocks failed in storage");
            CallToolResult::error(vec![ContentBlock::text(
                "the memory store failed to complete this call; you may try again",
            )])
        }
    }
}
