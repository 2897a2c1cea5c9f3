//! Import: the bytes of an agent file → an [`AgentsImport`] for the store and the warnings to show the user.
//!
//! The file is decoded within its [`Limits`], then read top-down: the file's blocks and tools (each with the id other
//! objects use for it), then each agent with its blocks, tools, tool rules, model settings and history. Every id must
//! name something in the file, every label be unique per agent, every value fit its limit; the first problem refuses
//! the whole file with its JSON path. A block used by several agents becomes one shared block; a block or tool no
//! agent uses is skipped with a warning.
//!
//! [`Limits`]: crate::Limits

mod agent;
mod blocks;
mod messages;
mod tools;

use std::collections::HashSet;
use std::fmt::Display;

use engram_core::agent::ModelRef;
use engram_core::import::{AgentImport, AgentsImport, ImportedBlock};
use serde_json::{Map, Value};

use crate::BuiltinTool;
use crate::error::{AgentFileError, index};
use crate::kept::{meaningful, prune, redact};
use crate::limits::{Limits, decode};
use crate::obj::Obj;

use agent::{BlockRef, FileParts, ParsedAgent};

pub(crate) use messages::ROLE_MARKER;

/// What the import needs to know about the server it imports into.
pub struct ImportOptions<'a> {
    pub limits: Limits,
    /// engram's built-in tools: file tools with these names become the agent's tools.
    pub builtins: &'a [BuiltinTool],
    /// The embedding model of agents whose file names none this server can use.
    pub default_embedding: ModelRef,
    /// Whether this server can embed with a model (configured provider, loaded local model).
    pub embedding_usable: &'a (dyn Fn(&ModelRef) -> bool + Send + Sync),
    /// The model providers engram can call (`openai`, `anthropic`, `ollama`); a model of another provider is
    /// imported as the file names it, with a warning.
    pub model_providers: &'a [&'a str],
}

impl std::fmt::Debug for ImportOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportOptions")
            .field("limits", &self.limits)
            .field("builtins", &self.builtins.len())
            .field("default_embedding", &self.default_embedding)
            .field("model_providers", &self.model_providers)
            .finish_non_exhaustive()
    }
}

/// A file ready to store, and what the user should know about how it was mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentFileImport {
    pub import: AgentsImport,
    /// One sentence each, starting with the JSON path it is about.
    pub warnings: Vec<String>,
}

/// Collected warnings.
#[derive(Debug, Default)]
pub(crate) struct Warnings(Vec<String>);

impl Warnings {
    pub fn add(&mut self, field: &str, message: impl Display) {
        let field = if field.is_empty() { "body" } else { field };
        self.0.push(format!("{field}: {message}"));
    }
}

/// Reads an agent file (plain or encoded twice) into what the store creates.
pub fn parse_import(bytes: &[u8], options: &ImportOptions<'_>) -> Result<AgentFileImport, AgentFileError> {
    let mut file = Obj::new(decode(bytes, &options.limits)?, "")?;
    let mut warnings = Warnings::default();
    let agent_values = file.list("agents")?;
    if agent_values.is_empty() {
        return Err(AgentFileError::invalid("agents", "the file holds no agents; there is nothing to import"));
    }
    if agent_values.len() > options.limits.max_agents {
        return Err(AgentFileError::invalid(
            "agents",
            format!(
                "the file holds {} agents; at most {} are imported at once",
                agent_values.len(),
                options.limits.max_agents
            ),
        ));
    }
    let file_blocks = blocks::parse_file_blocks(file.list("blocks")?, &mut warnings)?;
    let file_tools = tools::parse_file_tools(file.list("tools")?, options.builtins)?;
    // Written anew by every export.
    file.take("created_at");
    let sections = file_sections(file.into_rest(), &mut warnings);

    let parts = FileParts { blocks: &file_blocks, tools: &file_tools, sections: &sections };
    let mut used_tools = vec![false; file_tools.items.len()];
    let mut messages_left = options.limits.max_messages;
    let mut parsed = Vec::with_capacity(agent_values.len());
    let mut ids = HashSet::new();
    for (i, value) in agent_values.into_iter().enumerate() {
        let agent = agent::parse(value, i, &parts, options, &mut used_tools, &mut messages_left, &mut warnings)?;
        if let Some(id) = &agent.id
            && !ids.insert(id.clone())
        {
            return Err(AgentFileError::invalid(
                format!("{}.id", index("agents", i)),
                format!("another agent has the id `{id}`"),
            ));
        }
        parsed.push(agent);
    }
    tools::warn_unmapped(&file_tools, &used_tools, &mut warnings);
    let import = assemble(parsed, &file_blocks, &mut warnings);
    import.check()?;
    Ok(AgentFileImport { import, warnings: warnings.0 })
}

/// The top-level sections engram does not map (`groups`, `files`, `sources`, `mcp_servers`, `skills`, `metadata`
/// and any other), kept with each agent. Only the file's own `metadata` goes without a warning.
fn file_sections(rest: Map<String, Value>, warnings: &mut Warnings) -> Map<String, Value> {
    let mut sections = Value::Object(prune(rest));
    let mut secrets = Vec::new();
    redact(&mut sections, "", &mut secrets);
    for path in secrets {
        warnings.add(&path, "secret values are not imported");
    }
    let Value::Object(sections) = sections else { return Map::new() };
    let sections = prune(sections);
    for (key, value) in &sections {
        if key != "metadata" && meaningful(value) {
            warnings.add(key, "engram does not use this section; it is kept in each imported agent's metadata");
        }
    }
    sections
}

/// Turns the parsed agents into the store's input: file blocks used by one agent become that agent's own, those used
/// by several become shared, unused ones are skipped.
fn assemble(parsed: Vec<ParsedAgent>, file_blocks: &blocks::FileBlocks, warnings: &mut Warnings) -> AgentsImport {
    let mut users = vec![0_usize; file_blocks.items.len()];
    for agent in &parsed {
        for block in &agent.blocks {
            if let BlockRef::File(i) = block {
                users[*i] += 1;
            }
        }
    }
    let mut shared_blocks = Vec::new();
    let mut shared_index = vec![None; file_blocks.items.len()];
    for (i, file_block) in file_blocks.items.iter().enumerate() {
        match users[i] {
            0 => warnings.add(
                &file_block.path,
                format!("no agent uses block `{}`; it was not imported", file_block.block.label),
            ),
            1 => {}
            _ => {
                shared_index[i] = Some(shared_blocks.len());
                shared_blocks.push(file_block.block.clone());
            }
        }
    }
    let agents = parsed
        .into_iter()
        .map(|agent| AgentImport {
            config: agent.config,
            blocks: agent
                .blocks
                .into_iter()
                .map(|block| match block {
                    BlockRef::File(i) => match shared_index[i] {
                        Some(shared) => ImportedBlock::Shared(shared),
                        None => ImportedBlock::New(file_blocks.items[i].block.clone()),
                    },
                    BlockRef::Inline(new) => ImportedBlock::New(new),
                })
                .collect(),
            messages: agent.messages,
        })
        .collect();
    AgentsImport { shared_blocks, agents }
}
