//! Export: agents with their histories → the JSON of an agent file, in the format's structure: top-level `agents`,
//! `blocks`, `tools`, `groups`, `files`, `sources`, `mcp_servers`, `metadata` and `created_at`, objects referring to
//! each other by ids local to the file (`agent-0`, `block-0`, `tool-0`, `message-0`).
//!
//! What an import kept (see `kept`) is given back in its place, under engram's current values: an agent's unmapped
//! fields and the rest of its `llm_config`/`embedding_config`, block fields, custom tools whole, tool rules verbatim
//! and top-level sections. engram's built-in tools are described with their schemas. Secrets are written as `null`.

mod messages;

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use engram_core::agent::Agent;
use engram_core::block::Block;
use engram_core::id::BlockId;
use engram_core::message::Message;
use serde_json::{Map, Value, json};

use crate::BuiltinTool;
use crate::kept::{KEPT_KEY, Kept};

/// An agent to export with its whole history (position order, in and out of the window).
#[derive(Debug, Clone, Copy)]
pub struct ExportAgent<'a> {
    pub agent: &'a Agent,
    pub messages: &'a [Message],
}

/// The file's shared lists, filled agent by agent.
#[derive(Debug, Default)]
struct FileParts {
    blocks: Vec<Value>,
    block_ids: HashMap<BlockId, String>,
    /// Tools without their ids, and their ids: equal tools are written once.
    tools: Vec<(Value, String)>,
    sections: Map<String, Value>,
    next_message: usize,
}

/// Renders `agents` as one agent file, written at `now`.
pub fn render_export(agents: &[ExportAgent<'_>], builtins: &[BuiltinTool], now: DateTime<Utc>) -> Value {
    let mut parts = FileParts::default();
    let agents: Vec<Value> =
        agents.iter().enumerate().map(|(i, export)| render_agent(i, export, builtins, &mut parts)).collect();
    let mut file = parts.sections;
    file.insert("agents".to_owned(), Value::Array(agents));
    file.insert("blocks".to_owned(), Value::Array(parts.blocks));
    let tools = parts
        .tools
        .into_iter()
        .map(|(mut tool, id)| {
            if let Value::Object(map) = &mut tool {
                map.insert("id".to_owned(), Value::String(id));
            }
            tool
        })
        .collect();
    file.insert("tools".to_owned(), Value::Array(tools));
    for key in ["groups", "files", "sources", "mcp_servers"] {
        file.entry(key).or_insert_with(|| json!([]));
    }
    file.entry("metadata").or_insert_with(|| json!({}));
    file.insert("created_at".to_owned(), Value::String(time(now)));
    Value::Object(file)
}

/// A time as the format writes it: RFC 3339 with microseconds and `+00:00`.
pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

fn render_agent(i: usize, export: &ExportAgent<'_>, builtins: &[BuiltinTool], parts: &mut FileParts) -> Value {
    let agent = export.agent;
    let config = &agent.config;
    let kept = Kept::from_metadata(config.metadata.as_map());
    for (key, value) in &kept.file {
        parts.sections.entry(key.clone()).or_insert_with(|| value.clone());
    }
    let agent_id = format!("agent-{i}");
    let block_ids: Vec<Value> =
        agent.blocks.iter().map(|b| Value::String(block_id(b, kept.blocks.get(b.label.as_str()), parts))).collect();
    let tool_ids = tool_ids(config.tools.iter().map(|t| t.as_str()), &kept.tools, builtins, parts);
    let (messages, window) = messages::render(agent, export.messages, &agent_id, &mut parts.next_message);

    let mut out = kept.agent.clone();
    let llm_config = match &config.model {
        Some(model) => {
            let mut llm = object(out.remove("llm_config"));
            llm.insert("handle".to_owned(), json!(model.to_string()));
            llm.insert("model".to_owned(), json!(model.model()));
            llm.insert("provider_name".to_owned(), json!(model.provider()));
            llm.insert("model_endpoint_type".to_owned(), json!(model.provider()));
            llm.insert("context_window".to_owned(), json!(config.context_window));
            Value::Object(llm)
        }
        None => {
            out.remove("llm_config");
            Value::Null
        }
    };
    let mut embedding_config = object(out.remove("embedding_config"));
    embedding_config.insert("handle".to_owned(), json!(config.embedding.to_string()));
    embedding_config.insert("embedding_model".to_owned(), json!(config.embedding.model()));
    embedding_config.insert("embedding_endpoint_type".to_owned(), json!(config.embedding.provider()));
    let mut metadata = config.metadata.as_map().clone();
    metadata.remove(KEPT_KEY);

    let fields = [
        ("id", json!(agent_id)),
        ("name", json!(config.name.as_str())),
        ("system", json!(config.system)),
        ("tags", json!(config.tags.iter().map(|t| t.as_str()).collect::<Vec<_>>())),
        ("metadata", if metadata.is_empty() { Value::Null } else { Value::Object(metadata) }),
        ("model", json!(config.model.as_ref().map(ToString::to_string))),
        ("llm_config", llm_config),
        ("context_window_limit", json!(config.context_window)),
        ("embedding", json!(config.embedding.to_string())),
        ("embedding_config", Value::Object(embedding_config)),
        ("memory_blocks", json!([])),
        ("block_ids", Value::Array(block_ids)),
        ("tools", json!([])),
        ("tool_ids", Value::Array(tool_ids)),
        ("tool_rules", Value::Array(kept.tool_rules.clone())),
        ("messages", Value::Array(messages)),
        ("in_context_message_ids", Value::Array(window)),
        ("secrets", Value::Null),
        ("tool_exec_environment_variables", json!({})),
    ];
    for (key, value) in fields {
        out.insert(key.to_owned(), value);
    }
    Value::Object(out)
}

fn object(value: Option<Value>) -> Map<String, Value> {
    match value {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// The file id of `block`, adding it to the file the first time.
fn block_id(block: &Block, extras: Option<&Value>, parts: &mut FileParts) -> String {
    if let Some(id) = parts.block_ids.get(&block.id) {
        return id.clone();
    }
    let id = format!("block-{}", parts.blocks.len());
    let mut out = extras.and_then(Value::as_object).cloned().unwrap_or_default();
    let fields = [
        ("id", json!(id)),
        ("label", json!(block.label.as_str())),
        ("value", json!(block.value)),
        ("limit", json!(block.limit.get())),
        ("description", json!(block.description)),
        ("read_only", json!(block.read_only)),
    ];
    for (key, value) in fields {
        out.insert(key.to_owned(), value);
    }
    parts.blocks.push(Value::Object(out));
    parts.block_ids.insert(block.id, id.clone());
    id
}

/// The file ids of an agent's tools: each listed name as a built-in, a kept tool or (for a name engram knows nothing
/// more about) a bare stub; then kept tools no name lists (names engram cannot list as tools).
fn tool_ids<'a>(
    names: impl Iterator<Item = &'a str>,
    kept: &[Value],
    builtins: &[BuiltinTool],
    parts: &mut FileParts,
) -> Vec<Value> {
    let mut used = vec![false; kept.len()];
    let mut tools = Vec::new();
    for name in names {
        let tool = if let Some(builtin) = builtins.iter().find(|b| b.name == name) {
            builtin_tool(builtin)
        } else if let Some(k) =
            (0..kept.len()).find(|&k| !used[k] && kept[k].get("name").and_then(Value::as_str) == Some(name))
        {
            used[k] = true;
            kept[k].clone()
        } else {
            json!({"name": name, "tool_type": "external", "description": null, "json_schema": null, "source_code": null})
        };
        tools.push(tool);
    }
    tools.extend(kept.iter().zip(&used).filter(|(_, used)| !**used).map(|(tool, _)| tool.clone()));
    let mut ids: Vec<Value> = Vec::new();
    for tool in tools {
        let id = match parts.tools.iter().find(|(t, _)| *t == tool) {
            Some((_, id)) => id.clone(),
            None => {
                let id = format!("tool-{}", parts.tools.len());
                parts.tools.push((tool, id.clone()));
                id
            }
        };
        if !ids.contains(&Value::String(id.clone())) {
            ids.push(Value::String(id));
        }
    }
    ids
}

/// One of engram's built-in tools as a file tool.
fn builtin_tool(builtin: &BuiltinTool) -> Value {
    json!({
        "name": builtin.name,
        "description": builtin.description,
        "tool_type": "engram_builtin",
        "source_type": null,
        "source_code": null,
        "json_schema": {"name": builtin.name, "description": builtin.description, "parameters": builtin.parameters},
        "tags": [],
    })
}
