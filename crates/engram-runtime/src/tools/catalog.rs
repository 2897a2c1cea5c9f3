//! The built-in tools: their names (MemGPT's vocabulary, so imported agents map onto them), descriptions and JSON
//! schemas as the model sees them.

use engram_core::agent::ToolName;
use engram_llm::ToolSpec;
use serde_json::{Value, json};

/// A built-in tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    CoreMemoryAppend,
    CoreMemoryReplace,
    MemoryInsert,
    MemoryRethink,
    ArchivalMemoryInsert,
    ArchivalMemorySearch,
    ConversationSearch,
    SendMessage,
}

impl Builtin {
    pub const ALL: [Builtin; 8] = [
        Self::CoreMemoryAppend,
        Self::CoreMemoryReplace,
        Self::MemoryInsert,
        Self::MemoryRethink,
        Self::ArchivalMemoryInsert,
        Self::ArchivalMemorySearch,
        Self::ConversationSearch,
        Self::SendMessage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::CoreMemoryAppend => "core_memory_append",
            Self::CoreMemoryReplace => "core_memory_replace",
            Self::MemoryInsert => "memory_insert",
            Self::MemoryRethink => "memory_rethink",
            Self::ArchivalMemoryInsert => "archival_memory_insert",
            Self::ArchivalMemorySearch => "archival_memory_search",
            Self::ConversationSearch => "conversation_search",
            Self::SendMessage => "send_message",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// A terminal tool ends the run once it has run.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::SendMessage)
    }

    /// A read-only tool changes nothing, so several calls of read-only tools in one step may run concurrently.
    pub fn is_read_only(self) -> bool {
        matches!(self, Self::ArchivalMemorySearch | Self::ConversationSearch)
    }

    /// The argument names the tool accepts.
    pub(crate) fn arguments(self) -> &'static [&'static str] {
        match self {
            Self::CoreMemoryAppend => &["label", "content"],
            Self::CoreMemoryReplace => &["label", "old_content", "new_content"],
            Self::MemoryInsert => &["label", "content", "line"],
            Self::MemoryRethink => &["label", "new_value"],
            Self::ArchivalMemoryInsert => &["content", "tags"],
            Self::ArchivalMemorySearch => &["query", "tags", "top_k", "from", "to"],
            Self::ConversationSearch => &["query", "role", "from", "to", "limit"],
            Self::SendMessage => &["message"],
        }
    }

    fn description(self) -> &'static str {
        match self {
            Self::CoreMemoryAppend => {
                "Append a new line to one of your core memory blocks. Use it to remember \
                important facts about the user, yourself or the task."
            }
            Self::CoreMemoryReplace => {
                "Replace an exact snippet of a core memory block with new text. The snippet \
                must occur exactly once in the block; an empty new_content deletes it."
            }
            Self::MemoryInsert => {
                "Insert a line into a core memory block before the given line number (0 = top); \
                without a line number the text goes at the end."
            }
            Self::MemoryRethink => {
                "Rewrite a whole core memory block, e.g. to reorganise or condense it when it is \
                getting full."
            }
            Self::ArchivalMemoryInsert => {
                "Save a passage to archival memory, your unbounded long-term store. Use it \
                for facts, documents and notes you may need later. Tags help you find it again."
            }
            Self::ArchivalMemorySearch => {
                "Search archival memory by meaning and keywords. Returns the best passages \
                with their tags, time and score."
            }
            Self::ConversationSearch => {
                "Search every message of your conversation history, including messages that \
                are no longer in your context window."
            }
            Self::SendMessage => "Send a message to the user. This ends your turn.",
        }
    }

    fn parameters(self) -> Value {
        let label = json!({"type": "string", "description": "The label of the core memory block, e.g. `human`."});
        let time = |what: &str| json!({"type": "string", "description": format!("{what} (a date like 2026-05-01 or an RFC 3339 time).")});
        let (properties, required): (Value, &[&str]) = match self {
            Self::CoreMemoryAppend => (
                json!({"label": label, "content": {"type": "string", "description": "The text to append as a new line."}}),
                &["label", "content"],
            ),
            Self::CoreMemoryReplace => (
                json!({
                    "label": label,
                    "old_content": {"type": "string", "description": "The exact text to replace, quoted from the block."},
                    "new_content": {"type": "string", "description": "The replacement text; empty to delete."}
                }),
                &["label", "old_content", "new_content"],
            ),
            Self::MemoryInsert => (
                json!({
                    "label": label,
                    "content": {"type": "string", "description": "The text to insert as a line."},
                    "line": {"type": "integer", "minimum": 0, "description": "Insert before this line (0 = top); default: the end."}
                }),
                &["label", "content"],
            ),
            Self::MemoryRethink => (
                json!({"label": label, "new_value": {"type": "string", "description": "The complete new content of the block."}}),
                &["label", "new_value"],
            ),
            Self::ArchivalMemoryInsert => (
                json!({
                    "content": {"type": "string", "description": "The passage to save."},
                    "tags": {"type": "array", "items": {"type": "string"}, "description": "Optional tags."}
                }),
                &["content"],
            ),
            Self::ArchivalMemorySearch => (
                json!({
                    "query": {"type": "string", "description": "What to look for."},
                    "tags": {"type": "array", "items": {"type": "string"}, "description": "Only passages with any of these tags."},
                    "top_k": {"type": "integer", "minimum": 1, "maximum": 100, "description": "How many results (default 10)."},
                    "from": time("Only passages from this time on"),
                    "to": time("Only passages up to this time")
                }),
                &["query"],
            ),
            Self::ConversationSearch => (
                json!({
                    "query": {"type": "string", "description": "What to look for."},
                    "role": {"type": "string", "enum": ["user", "assistant", "tool", "system"], "description": "Only messages of this role."},
                    "from": time("Only messages from this time on"),
                    "to": time("Only messages up to this time"),
                    "limit": {"type": "integer", "minimum": 1, "maximum": 50, "description": "How many results (default 10)."}
                }),
                &["query"],
            ),
            Self::SendMessage => {
                (json!({"message": {"type": "string", "description": "The message to the user."}}), &["message"])
            }
        };
        json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
    }

    /// The tool as offered to the model.
    pub fn spec(self) -> ToolSpec {
        ToolSpec {
            name: self.name().to_owned(),
            description: self.description().to_owned(),
            parameters: self.parameters(),
        }
    }
}

/// The tools that read or change memory: every built-in but `send_message`, which only ends an agent's turn. These
/// are the tools engram offers to callers outside the agent loop (the MCP server).
pub const MEMORY_TOOLS: [Builtin; 7] = [
    Builtin::CoreMemoryAppend,
    Builtin::CoreMemoryReplace,
    Builtin::MemoryInsert,
    Builtin::MemoryRethink,
    Builtin::ArchivalMemoryInsert,
    Builtin::ArchivalMemorySearch,
    Builtin::ConversationSearch,
];

/// The tools an agent offers its model: its listed tools that engram knows, in the agent's order. Names engram does
/// not know (custom tools of a later release, tools from an imported file) are not offered.
pub fn agent_tools(names: &[ToolName]) -> Vec<Builtin> {
    let mut tools: Vec<Builtin> = Vec::new();
    for name in names {
        if let Some(tool) = Builtin::parse(name.as_str()).filter(|t| !tools.contains(t)) {
            tools.push(tool);
        }
    }
    tools
}
