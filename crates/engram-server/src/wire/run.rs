//! Shapes of the agent loop's endpoints: sending messages, run results and records, SSE events, the context
//! breakdown, compaction and the tool catalogue.

use chrono::{DateTime, Utc};
use engram_core::ValidationError;
use engram_core::run::{Run, Step, Usage};
use engram_core::text::{check_max_chars, check_not_blank};
use engram_runtime::context::ContextBreakdown;
use engram_runtime::{RunSummary, SendRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::wire::message::MessageBody;

/// Longest user message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 100_000;
/// Most messages in one send.
pub const MAX_MESSAGES: usize = 100;

/// A message from the user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InputMessage {
    /// Only `user` messages can be sent.
    pub role: String,
    pub content: String,
}

/// Send messages to an agent and run it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessagesRequest {
    pub messages: Vec<InputMessage>,
    /// Most model calls this run may make (default 20, at most 100).
    pub max_steps: Option<i64>,
    /// Reply as server-sent events (also chosen by `Accept: text/event-stream`).
    pub stream: Option<bool>,
    /// Queue behind a running run of the agent (default) instead of failing with 409 `agent_busy`.
    pub wait: Option<bool>,
}

impl SendMessagesRequest {
    /// Checks the request; `stream` is decided by the handler (body flag or `Accept`).
    pub fn into_domain(self, max_steps_limit: u32, stream: bool) -> Result<SendRequest, ValidationError> {
        if self.messages.is_empty() || self.messages.len() > MAX_MESSAGES {
            return Err(ValidationError::new(
                "messages",
                format!("must hold between 1 and {MAX_MESSAGES} messages, got {}", self.messages.len()),
            ));
        }
        let mut messages = Vec::with_capacity(self.messages.len());
        for (i, message) in self.messages.into_iter().enumerate() {
            if message.role != "user" {
                return Err(ValidationError::new(
                    format!("messages[{i}].role"),
                    format!("only `user` messages can be sent, got `{}`", message.role),
                ));
            }
            let field = format!("messages[{i}].content");
            check_not_blank(&field, &message.content)?;
            check_max_chars(&field, &message.content, MAX_MESSAGE_CHARS)?;
            messages.push(message.content);
        }
        let max_steps = match self.max_steps {
            None => None,
            Some(n) if (1..=i64::from(max_steps_limit)).contains(&n) => Some(n as u32),
            Some(n) => {
                return Err(ValidationError::new(
                    "max_steps",
                    format!("must be between 1 and {max_steps_limit}, got {n}"),
                ));
            }
        };
        Ok(SendRequest {
            messages,
            max_steps,
            wait: self.wait.unwrap_or(true),
            stream: stream || self.stream == Some(true),
        })
    }
}

/// Token usage of a run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageBody {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// Model calls made.
    pub steps: u32,
}

impl UsageBody {
    pub fn new(usage: Usage, steps: u32) -> Self {
        Self {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.total_tokens(),
            steps,
        }
    }
}

/// What a run did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunResponse {
    pub run_id: String,
    /// Only the messages this run created, in order.
    pub messages: Vec<MessageBody>,
    /// `end_turn`, `terminal_tool`, `max_steps`, `no_progress`, `cancelled`, `context_overflow` or `llm_error`.
    pub stop_reason: String,
    pub usage: UsageBody,
    /// Why the run stopped early, for `context_overflow` and `llm_error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RunResponse {
    pub fn new(summary: &RunSummary, messages: Vec<MessageBody>) -> Self {
        Self {
            run_id: summary.run_id.to_string(),
            messages,
            stop_reason: summary.stop_reason.as_str().to_owned(),
            usage: UsageBody::new(summary.usage, summary.steps),
            error: summary.error.clone(),
        }
    }
}

/// The answer to an asynchronous send.
#[derive(Debug, Serialize, ToSchema)]
pub struct AsyncRunResponse {
    pub run_id: String,
}

/// One model call of a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepBody {
    pub id: String,
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub duration_ms: u64,
}

impl From<&Step> for StepBody {
    fn from(step: &Step) -> Self {
        Self {
            id: step.id.to_string(),
            model: step.model.clone(),
            prompt_tokens: step.usage.prompt_tokens,
            completion_tokens: step.usage.completion_tokens,
            duration_ms: step.duration_ms,
        }
    }
}

/// A run of the agent loop.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunBody {
    pub id: String,
    pub agent_id: String,
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    pub status: String,
    pub stop_reason: Option<String>,
    /// Why the run failed, when it did.
    pub error: Option<String>,
    pub usage: UsageBody,
    pub steps: Vec<StepBody>,
    /// A cancellation was requested and the run has not stopped yet.
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<Run> for RunBody {
    fn from(run: Run) -> Self {
        Self {
            id: run.id.to_string(),
            agent_id: run.agent_id.to_string(),
            status: run.status.as_str().to_owned(),
            stop_reason: run.stop_reason.map(|s| s.as_str().to_owned()),
            error: run.error,
            usage: UsageBody::new(run.usage, run.steps.len() as u32),
            steps: run.steps.iter().map(StepBody::from).collect(),
            cancel_requested: run.cancel_requested && !run.status.is_finished(),
            created_at: run.created_at,
            completed_at: run.completed_at,
        }
    }
}

/// Where the tokens of the agent's next model call go; the parts add up to `total_tokens`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContextBody {
    pub context_window: u32,
    pub total_tokens: u64,
    /// Base instructions and memory statistics.
    pub system_tokens: u64,
    pub core_memory_tokens: u64,
    pub tool_schema_tokens: u64,
    pub summary_tokens: u64,
    pub message_tokens: u64,
    pub messages_in_context: u64,
    pub recall_messages: u64,
    pub archival_passages: u64,
    /// `o200k_base`, `cl100k_base` (exact, OpenAI models) or `estimate` (others; errs high).
    pub tokenizer: String,
}

impl From<ContextBreakdown> for ContextBody {
    fn from(b: ContextBreakdown) -> Self {
        Self {
            context_window: b.context_window,
            total_tokens: b.total_tokens,
            system_tokens: b.system_tokens,
            core_memory_tokens: b.core_memory_tokens,
            tool_schema_tokens: b.tool_schema_tokens,
            summary_tokens: b.summary_tokens,
            message_tokens: b.message_tokens,
            messages_in_context: b.messages_in_context,
            recall_messages: b.recall_messages,
            archival_passages: b.archival_passages,
            tokenizer: b.tokenizer.to_owned(),
        }
    }
}

/// The result of a compaction.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompactResponse {
    pub evicted: usize,
    pub summary_message_id: String,
}

/// A tool agents can call.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolBody {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    #[schema(value_type = Object)]
    pub parameters: Value,
    /// `builtin`.
    pub kind: String,
    /// The run ends after this tool runs.
    pub terminal: bool,
}

/// The tool catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolsResponse {
    pub items: Vec<ToolBody>,
}
