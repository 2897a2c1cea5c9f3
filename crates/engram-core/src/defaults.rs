//! Defaults applied to agents created without them: base instructions and the built-in memory tools.

/// The built-in memory tools every new agent gets unless it names its own list.
pub const DEFAULT_TOOLS: [&str; 7] = [
    "core_memory_append",
    "core_memory_replace",
    "memory_insert",
    "memory_rethink",
    "archival_memory_insert",
    "archival_memory_search",
    "conversation_search",
];

/// Base instructions for agents created without a `system` prompt. They explain the memory hierarchy so a model
/// knows what its tools are for.
pub const DEFAULT_SYSTEM: &str = "\
You are a helpful assistant with a long-term memory that outlives this conversation.

Your memory has three tiers:
- Core memory: the labelled blocks shown below, always in view. Keep the most important facts about the user, \
yourself and the task here. Edit them with core_memory_append, core_memory_replace, memory_insert and memory_rethink. \
Each block has a size limit; summarise before it fills.
- Recall memory: every message ever exchanged, including those no longer in view. Search it with conversation_search.
- Archival memory: an unbounded store of passages. Save durable facts, documents and notes with \
archival_memory_insert and find them with archival_memory_search.

Older messages leave your context window as it fills; save what matters to core or archival memory before they do.";
