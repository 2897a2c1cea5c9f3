//! The provider-neutral chat types: what the runtime sends ([`ChatRequest`]) and gets back ([`ChatResponse`]), and
//! the [`ChatModel`] trait every provider implements.

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::error::LlmError;

/// A tool the model may call: its name, a description, and a JSON Schema for its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// A JSON Schema object (`{"type":"object","properties":{…},"required":[…]}`).
    pub parameters: Value,
}

/// Whether and how the model must call tools.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// The model decides (`auto`).
    #[default]
    Auto,
    /// The model must call some tool (`required` / Anthropic `any`).
    Required,
    /// The model must not call tools (`none`).
    None,
    /// The model must call this tool.
    Tool(String),
}

/// A tool call as the model produced it. `arguments` is the raw JSON text the model wrote (it may be malformed; the
/// runtime decides what to do with it).
#[derive(Debug, Clone, PartialEq)]
pub struct RawToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One message of the conversation after the system prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatMessage {
    User {
        content: String,
    },
    /// A model turn: text (possibly empty) and the tool calls it made.
    Assistant {
        content: String,
        tool_calls: Vec<RawToolCall>,
    },
    /// The result of one tool call.
    Tool {
        tool_call_id: String,
        name: String,
        content: String,
        is_error: bool,
    },
}

/// One model call.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The provider's model name (the part after `provider/`).
    pub model: String,
    /// The system prompt (OpenAI: a leading `system` message; Anthropic: the top-level `system` field).
    pub system: String,
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<ToolSpec>,
    pub tool_choice: ToolChoice,
    /// Upper bound on completion tokens; providers that require one (Anthropic) get a default when `None`.
    pub max_tokens: Option<u32>,
}

/// Token counts reported by the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// It finished its turn (`stop`, `end_turn`, `stop_sequence`).
    Stop,
    /// It asked for tools (`tool_calls`, `tool_use`).
    ToolCalls,
    /// It hit the completion token limit (`length`, `max_tokens`).
    Length,
    /// Anything else the provider reported (content filter, refusal …).
    Other,
}

/// The model's complete answer to one call.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub content: String,
    /// Reasoning text, where the provider returns it (`reasoning_content`/`reasoning` fields, Anthropic `thinking`).
    pub reasoning: Option<String>,
    pub tool_calls: Vec<RawToolCall>,
    pub finish_reason: FinishReason,
    /// `None` when the provider reported no usage.
    pub usage: Option<TokenUsage>,
    /// The model name the provider says answered.
    pub model: Option<String>,
}

/// A streamed fragment, forwarded while the response is still arriving.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    Content(String),
    Reasoning(String),
}

/// Where streamed fragments go. A closed receiver is not an error: the call completes and the response is returned.
pub type DeltaSink = mpsc::UnboundedSender<Delta>;

/// A chat model behind some provider.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// Calls the model once. With `sink`, the call streams (`stream: true`) and forwards text fragments as they
    /// arrive; the assembled response is returned either way.
    async fn chat(&self, request: &ChatRequest, sink: Option<&DeltaSink>) -> Result<ChatResponse, LlmError>;
}
