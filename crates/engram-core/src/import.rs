//! Importing whole agents at once (from an Agent File): what a store creates in one transaction. Blocks that several
//! of the imported agents use are created once, standalone, and attached to each; every agent comes with its
//! configuration, its own blocks (in the order it sees them) and its message history with the in-context flags.
//!
//! `engram-agentfile` builds an [`AgentsImport`] from a file; `Store::import_agents` writes it. [`AgentsImport::check`]
//! holds the rules the types alone cannot express, so every backend refuses the same inputs.

use std::collections::HashSet;

use crate::ValidationError;
use crate::agent::AgentConfig;
use crate::block::{BlockLabel, NewBlock};
use crate::message::NewMessage;

/// Agents to create together, with the blocks they share.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentsImport {
    /// Blocks used by more than one of the agents: created standalone (they outlive any one agent, like blocks made
    /// with `POST /v1/blocks`) and attached to each agent that lists them.
    pub shared_blocks: Vec<NewBlock>,
    pub agents: Vec<AgentImport>,
}

/// One agent to create.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentImport {
    pub config: AgentConfig,
    /// The agent's blocks in the order it sees them.
    pub blocks: Vec<ImportedBlock>,
    /// The whole history, oldest first, with `in_context` and `created_at` set as the file said. Imported messages
    /// belong to no run.
    pub messages: Vec<NewMessage>,
}

/// A block of an imported agent.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportedBlock {
    /// A block made with this agent (deleted with it unless attached elsewhere later).
    New(NewBlock),
    /// The shared block at this index of [`AgentsImport::shared_blocks`].
    Shared(usize),
}

impl AgentsImport {
    /// The label a block of an agent will have, if it names an existing shared block.
    pub fn label_of<'a>(&'a self, block: &'a ImportedBlock) -> Option<&'a BlockLabel> {
        match block {
            ImportedBlock::New(new) => Some(&new.label),
            ImportedBlock::Shared(index) => self.shared_blocks.get(*index).map(|b| &b.label),
        }
    }

    /// Checks what the types cannot: at least one agent; every shared index names a shared block and every shared
    /// block is used by at least two agents; an agent sees each shared block once and each label once; imported
    /// messages belong to no run. Fields are named like `agents[1].blocks[2]`.
    pub fn check(&self) -> Result<(), ValidationError> {
        if self.agents.is_empty() {
            return Err(ValidationError::new("agents", "an import needs at least one agent"));
        }
        let mut users = vec![0_usize; self.shared_blocks.len()];
        for (a, agent) in self.agents.iter().enumerate() {
            let mut labels: HashSet<&BlockLabel> = HashSet::new();
            let mut shared: HashSet<usize> = HashSet::new();
            for (b, block) in agent.blocks.iter().enumerate() {
                let field = format!("agents[{a}].blocks[{b}]");
                let label = self.label_of(block).ok_or_else(|| {
                    ValidationError::new(&field, "names a shared block that is not part of the import")
                })?;
                if let ImportedBlock::Shared(index) = block {
                    if !shared.insert(*index) {
                        return Err(ValidationError::new(&field, "attaches the same shared block twice"));
                    }
                    users[*index] += 1;
                }
                if !labels.insert(label) {
                    return Err(ValidationError::new(
                        &field,
                        format!("the agent would have two blocks labelled `{label}`; labels must be unique per agent"),
                    ));
                }
            }
            if let Some(m) = agent.messages.iter().position(|m| m.run_id.is_some() || m.step_id.is_some()) {
                return Err(ValidationError::new(
                    format!("agents[{a}].messages[{m}]"),
                    "imported messages belong to no run",
                ));
            }
        }
        if let Some(index) = users.iter().position(|n| *n < 2) {
            return Err(ValidationError::new(
                format!("shared_blocks[{index}]"),
                "a shared block must be used by at least two of the imported agents",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::{AgentName, Metadata, ModelRef};
    use crate::block::BlockLimit;
    use crate::message::Role;

    fn block(label: &str) -> NewBlock {
        let label = BlockLabel::parse("label", label).unwrap_or_else(|_| unreachable!());
        NewBlock::new(label, String::new(), BlockLimit::default(), None, false).unwrap_or_else(|_| unreachable!())
    }

    fn agent(blocks: Vec<ImportedBlock>) -> AgentImport {
        let config = AgentConfig {
            name: AgentName::parse("name", "a").unwrap_or_else(|_| unreachable!()),
            system: String::new(),
            model: None,
            embedding: ModelRef::parse("embedding", "local/x").unwrap_or_else(|_| unreachable!()),
            context_window: 32_000,
            tools: Vec::new(),
            tags: Vec::new(),
            metadata: Metadata::default(),
        };
        AgentImport { config, blocks, messages: vec![NewMessage::text(Role::User, "hi")] }
    }

    fn field(import: &AgentsImport) -> String {
        import.check().map(|()| String::new()).unwrap_or_else(|e| e.field)
    }

    #[test]
    fn checks_shared_indexes_labels_and_use() {
        let shared = ImportedBlock::Shared(0);
        let ok = AgentsImport {
            shared_blocks: vec![block("team")],
            agents: vec![agent(vec![shared.clone(), ImportedBlock::New(block("human"))]), agent(vec![shared.clone()])],
        };
        assert_eq!(field(&ok), "");

        let mut dangling = ok.clone();
        dangling.agents[1].blocks = vec![ImportedBlock::Shared(7)];
        assert_eq!(field(&dangling), "agents[1].blocks[0]");

        let mut twice = ok.clone();
        twice.agents[1].blocks = vec![shared.clone(), shared.clone()];
        assert_eq!(field(&twice), "agents[1].blocks[1]");

        let mut clash = ok.clone();
        clash.agents[0].blocks.push(ImportedBlock::New(block("team")));
        assert_eq!(field(&clash), "agents[0].blocks[2]");

        let mut lonely = ok.clone();
        lonely.agents[1].blocks.clear();
        assert_eq!(field(&lonely), "shared_blocks[0]");

        let empty = AgentsImport { shared_blocks: Vec::new(), agents: Vec::new() };
        assert_eq!(field(&empty), "agents");
    }
}
