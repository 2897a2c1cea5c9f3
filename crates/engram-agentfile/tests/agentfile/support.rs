//! Shared test support: the options the server would pass, the samples, what a sample's JSON says to expect, and a
//! stand-in for the store that turns an import into agents and messages (pure, so export can be tested here).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use engram_agentfile::{AgentFileImport, BuiltinTool, ImportOptions, Limits, parse_import};
use engram_core::agent::{Agent, ModelRef};
use engram_core::block::{Block, NewBlock};
use engram_core::id::{AgentId, BlockId, MessageId};
use engram_core::import::{AgentsImport, ImportedBlock};
use engram_core::message::Message;
use serde_json::{Value, json};

/// engram's built-in tool names (the runtime's catalog); `send_message` ends the run.
pub const BUILTINS: [&str; 8] = [
    "core_memory_append",
    "core_memory_replace",
    "memory_insert",
    "memory_rethink",
    "archival_memory_insert",
    "archival_memory_search",
    "conversation_search",
    "send_message",
];

pub fn builtins() -> Vec<BuiltinTool> {
    BUILTINS
        .iter()
        .map(|name| BuiltinTool {
            name: (*name).to_owned(),
            description: format!("The {name} tool."),
            parameters: json!({"type": "object", "properties": {}}),
            terminal: *name == "send_message",
        })
        .collect()
}

pub const DEFAULT_EMBEDDING: &str = "local/all-minilm-l6-v2";

fn usable(_: &ModelRef) -> bool {
    false
}

/// Imports `bytes` as a server with no usable embedding provider but the default would.
pub fn import(bytes: &[u8]) -> Result<AgentFileImport, engram_agentfile::AgentFileError> {
    import_with(bytes, Limits::default())
}

pub fn import_with(bytes: &[u8], limits: Limits) -> Result<AgentFileImport, engram_agentfile::AgentFileError> {
    let builtins = builtins();
    let options = ImportOptions {
        limits,
        builtins: &builtins,
        default_embedding: ModelRef::parse("embedding", DEFAULT_EMBEDDING).unwrap(),
        embedding_usable: &usable,
        model_providers: &["openai", "anthropic", "ollama"],
    };
    parse_import(bytes, &options)
}

/// Every `*.af` sample, by file name, in name order.
pub fn samples() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/samples");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "af"))
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap()))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "the samples are missing from {}", dir.display());
    files
}

/// The document of a file, unwrapping a second encoding.
pub fn document(bytes: &[u8]) -> Value {
    match serde_json::from_slice(bytes).unwrap() {
        Value::String(inner) => serde_json::from_str(&inner).unwrap(),
        value => value,
    }
}

/// What a file's JSON says one agent should become.
#[derive(Debug, PartialEq)]
pub struct Expected {
    pub name: String,
    /// `(label, value)` in the agent's order.
    pub blocks: Vec<(String, String)>,
    /// Messages engram stores: a tool message per result, without the compiled system prompt opening the window.
    pub messages: usize,
    /// In-context messages engram stores.
    pub window: usize,
}

/// Reads the expectations straight from the JSON, independently of the importer.
pub fn expected(doc: &Value) -> Vec<Expected> {
    let blocks = doc["blocks"].as_array().cloned().unwrap_or_default();
    doc["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|agent| {
            let messages = agent["messages"].as_array().cloned().unwrap_or_default();
            let stored = |m: &Value| match m["tool_returns"].as_array() {
                Some(returns) if m["role"] == "tool" && returns.len() > 1 => returns.len(),
                _ => 1,
            };
            let window: Vec<&Value> = agent["in_context_message_ids"].as_array().unwrap().iter().collect();
            let find = |id: &Value| messages.iter().find(|m| m["id"] == *id).unwrap();
            let prompt = window.first().is_some_and(|id| find(id)["role"] == "system");
            let total: usize = messages.iter().map(stored).sum::<usize>() - usize::from(prompt);
            let in_window: usize = window.iter().skip(usize::from(prompt)).map(|id| stored(find(id))).sum();
            let agent_blocks = agent["block_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| {
                    let block = blocks.iter().find(|b| b["id"] == *id).unwrap();
                    (block["label"].as_str().unwrap().to_owned(), block["value"].as_str().unwrap().to_owned())
                })
                .collect();
            Expected {
                name: agent["name"].as_str().unwrap().to_owned(),
                blocks: agent_blocks,
                messages: total,
                window: in_window,
            }
        })
        .collect()
}

fn ulid(n: usize) -> String {
    format!("01ARZ3NDEKTSV4RRFF{n:08}")
}

pub fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z").unwrap().with_timezone(&Utc)
}

/// What a store would hold after `import`: agents with their blocks (shared ones shared) and their messages.
pub fn store(import: &AgentsImport) -> Vec<(Agent, Vec<Message>)> {
    let mut next = 0;
    let mut id = || {
        next += 1;
        ulid(next)
    };
    let block = |new: &NewBlock, id: String| Block {
        id: BlockId::parse("id", &format!("block_{id}")).unwrap(),
        label: new.label.clone(),
        value: new.value.clone(),
        limit: new.limit,
        description: new.description.clone(),
        read_only: new.read_only,
        version: 1,
        agent_ids: Vec::new(),
        standalone: false,
        created_at: at(),
        updated_at: at(),
    };
    let shared: Vec<Block> = import.shared_blocks.iter().map(|b| block(b, id())).collect();
    import
        .agents
        .iter()
        .map(|agent| {
            let agent_id = AgentId::parse("id", &format!("agent_{}", id())).unwrap();
            let blocks = agent
                .blocks
                .iter()
                .map(|b| match b {
                    ImportedBlock::New(new) => block(new, id()),
                    ImportedBlock::Shared(i) => shared[*i].clone(),
                })
                .collect();
            let messages = agent
                .messages
                .iter()
                .enumerate()
                .map(|(position, m)| Message {
                    id: MessageId::parse("id", &format!("msg_{}", id())).unwrap(),
                    agent_id,
                    run_id: None,
                    step_id: None,
                    role: m.role,
                    content: m.content.clone(),
                    reasoning: m.reasoning.clone(),
                    tool_calls: m.tool_calls.clone(),
                    tool_call_id: m.tool_call_id.clone(),
                    tool_status: m.tool_status,
                    in_context: m.in_context,
                    position: position as i64 + 1,
                    created_at: m.created_at.unwrap_or_else(at),
                })
                .collect();
            let agent = Agent {
                id: agent_id,
                config: agent.config.clone(),
                blocks,
                version: 1,
                created_at: at(),
                updated_at: at(),
            };
            (agent, messages)
        })
        .collect()
}
