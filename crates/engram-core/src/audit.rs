//! Audit events: one per mutation of agent state, written in the same transaction as the change.
//!
//! Events never hold content, only salted commitments to it (see [`crate::commitment`]), so the log can be kept,
//! exported and verified after the content itself has been erased. `seq` is gap-free per organisation.

use chrono::{DateTime, Utc};

use crate::id::{AgentId, RunId, StepId};
use crate::org::OrgId;

/// Who caused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    ApiKey,
    Agent,
    System,
    Operator,
    /// A client of engram's MCP server. Its id is the API key's id over HTTP (`local` in local mode) and the
    /// client's self-declared name (`clientInfo.name` from `initialize`) over stdio.
    Mcp,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Agent => "agent",
            Self::System => "system",
            Self::Operator => "operator",
            Self::Mcp => "mcp",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::ApiKey, Self::Agent, Self::System, Self::Operator, Self::Mcp].into_iter().find(|k| k.as_str() == text)
    }
}

/// The actor of an event: its kind and an id meaningful for that kind (an API key's public id, an agent id, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: String,
}

/// What kind of change an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    AgentCreate,
    AgentUpdate,
    AgentDelete,
    BlockCreate,
    BlockUpdate,
    BlockDelete,
    BlockAttach,
    BlockDetach,
    PassageInsert,
    PassageDelete,
    MessageAppend,
    /// Compaction moved a message out of the context window (it stays in recall).
    MessageEvict,
}

impl Action {
    pub const ALL: [Action; 12] = [
        Self::AgentCreate,
        Self::AgentUpdate,
        Self::AgentDelete,
        Self::BlockCreate,
        Self::BlockUpdate,
        Self::BlockDelete,
        Self::BlockAttach,
        Self::BlockDetach,
        Self::PassageInsert,
        Self::PassageDelete,
        Self::MessageAppend,
        Self::MessageEvict,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AgentCreate => "agent.create",
            Self::AgentUpdate => "agent.update",
            Self::AgentDelete => "agent.delete",
            Self::BlockCreate => "block.create",
            Self::BlockUpdate => "block.update",
            Self::BlockDelete => "block.delete",
            Self::BlockAttach => "block.attach",
            Self::BlockDetach => "block.detach",
            Self::PassageInsert => "passage.insert",
            Self::PassageDelete => "passage.delete",
            Self::MessageAppend => "message.append",
            Self::MessageEvict => "message.evict",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// The kind of object an event targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Agent,
    Block,
    Passage,
    Message,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Block => "block",
            Self::Passage => "passage",
            Self::Message => "message",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Agent, Self::Block, Self::Passage, Self::Message].into_iter().find(|k| k.as_str() == text)
    }
}

/// The object an event targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: TargetKind,
    pub id: String,
}

/// A version of an object and the commitment to its content at that version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionHash {
    pub version: i64,
    pub content_hash: String,
}

/// One recorded mutation.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub seq: i64,
    pub org_id: OrgId,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: Action,
    pub target: Target,
    /// The agent the change concerns, when there is one (for a shared block: the agent it was attached to or
    /// detached from, else none).
    pub agent_id: Option<AgentId>,
    pub run_id: Option<RunId>,
    pub step_id: Option<StepId>,
    pub request_id: Option<String>,
    pub before: Option<VersionHash>,
    pub after: Option<VersionHash>,
}

/// The provenance every write carries into the store: whose organisation, who acts, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteContext {
    pub org: OrgId,
    pub actor: Actor,
    pub run_id: Option<RunId>,
    pub step_id: Option<StepId>,
    pub request_id: Option<String>,
}
