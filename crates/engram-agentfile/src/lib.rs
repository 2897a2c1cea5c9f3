//! engram-agentfile: the Agent File (`.af`) format, read into engram's domain types and written back from them.
//!
//! Agent File is an open JSON format for stateful agents: system prompt, memory blocks, tools, tool rules, model
//! settings and the message history with the ids of the messages in the context window. Everything here is pure (no
//! I/O): the server hands in the bytes of a file and gets an [`engram_core::import::AgentsImport`] for the store, or
//! hands in agents and their messages and gets the JSON of a file.
//!
//! - [`parse_import`]: untrusted bytes → limits checked before any recursion ([`Limits`]), a double-encoded file
//!   unwrapped, every field read with its JSON path ([`AgentFileError`] names it), ids resolved, labels and values
//!   checked, and what engram cannot use kept in the agent's metadata under [`KEPT_KEY`] with a warning.
//! - [`render_export`]: agents → a file with the format's structure (`agents`, `blocks`, `tools`, `groups`, …),
//!   giving back what the import kept and writing secrets as null.
//!
//! Dependencies point inward: the server depends on this crate, this crate on `engram-core` only.

mod error;
mod export;
mod import;
mod kept;
mod limits;
mod obj;

pub use error::AgentFileError;
pub use export::{ExportAgent, render_export};
pub use import::{AgentFileImport, ImportOptions, parse_import};
pub use kept::KEPT_KEY;
pub use limits::{Limits, MAX_MESSAGE_CHARS};

/// One of engram's built-in tools as the format needs it: the import maps file tools with these names onto them (and
/// honours tool rules that match their behaviour); the export describes them with their schema.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltinTool {
    pub name: String,
    pub description: String,
    /// The JSON Schema of the arguments.
    pub parameters: serde_json::Value,
    /// Whether the run ends once the tool has run (`send_message`).
    pub terminal: bool,
}
