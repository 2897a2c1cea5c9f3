//! Messages: recall memory. Every user message, model reply, tool call and tool result is stored forever; the
//! `in_context` flag says whether it is currently in the agent's context window, and `position` is its order.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::ValidationError;
use crate::id::{AgentId, MessageId, RunId, StepId};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
    /// A summary of messages evicted from the window by compaction.
    Summary,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::System, Role::User, Role::Assistant, Role::Tool, Role::Summary];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Summary => "summary",
        }
    }

    pub fn parse(field: &str, text: &str) -> Result<Self, ValidationError> {
        Self::ALL.into_iter().find(|r| r.as_str() == text).ok_or_else(|| {
            ValidationError::new(field, format!("`{text}` is not a role (system, user, assistant, tool, summary)"))
        })
    }
}

/// A tool call requested by the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The provider's call id, echoed back in the tool result's `tool_call_id`.
    pub id: String,
    pub name: String,
    /// Parsed arguments. Malformed argument text from a model is kept as a JSON string so nothing is lost.
    pub arguments: Value,
}

/// Whether a tool call succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolStatus {
    Ok,
    Error,
}

impl ToolStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolStatus::Ok => "ok",
            ToolStatus::Error => "error",
        }
    }

    pub fn parse(field: &str, text: &str) -> Result<Self, ValidationError> {
        match text {
            "ok" => Ok(Self::Ok),
            "error" => Ok(Self::Error),
            _ => Err(ValidationError::new(field, format!("`{text}` is not a tool status (ok, error)"))),
        }
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub agent_id: AgentId,
    pub run_id: Option<RunId>,
    pub step_id: Option<StepId>,
    pub role: Role,
    pub content: String,
    pub reasoning: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub tool_call_id: Option<String>,
    pub tool_status: Option<ToolStatus>,
    pub in_context: bool,
    /// Order within the agent's history, starting at 1, gap-free.
    pub position: i64,
    pub created_at: DateTime<Utc>,
}

/// A message to append to an agent's history.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub run_id: Option<RunId>,
    pub step_id: Option<StepId>,
    pub role: Role,
    pub content: String,
    pub reasoning: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub tool_call_id: Option<String>,
    pub tool_status: Option<ToolStatus>,
    pub in_context: bool,
    /// Set when importing history; otherwise the store stamps the current time.
    pub created_at: Option<DateTime<Utc>>,
}

impl NewMessage {
    /// A plain message of `role` with `content`, in context.
    pub fn text(role: Role, content: impl Into<String>) -> Self {
        Self {
            run_id: None,
            step_id: None,
            role,
            content: content.into(),
            reasoning: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_status: None,
            in_context: true,
            created_at: None,
        }
    }
}

/// Sort order for message listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

impl Order {
    pub fn parse(field: &str, text: &str) -> Result<Self, ValidationError> {
        match text {
            "asc" => Ok(Self::Asc),
            "desc" => Ok(Self::Desc),
            _ => Err(ValidationError::new(field, format!("`{text}` is not an order (asc, desc)"))),
        }
    }
}

/// How to list an agent's messages: a page in position order, optionally bounded and filtered by role.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageQuery {
    pub limit: crate::page::PageLimit,
    /// Only messages after this one (in the listing's order).
    pub after: Option<MessageId>,
    /// Only messages before this one (in the listing's order).
    pub before: Option<MessageId>,
    pub order: Order,
    pub role: Option<Role>,
}
