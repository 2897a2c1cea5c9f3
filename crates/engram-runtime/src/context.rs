//! Context compilation: the exact request the model gets on the next step, rebuilt from the store, and its token
//! breakdown. `GET /v1/agents/{id}/context` and the agent loop use the same function, so the numbers the API reports
//! are the numbers of what is sent.

use std::sync::Arc;

use engram_core::agent::Agent;
use engram_core::clock::Clock;
use engram_core::message::{Message, Role, ToolStatus};
use engram_core::org::OrgId;
use engram_core::prompt::{CompiledSystem, MemoryStats, SummaryView, compile_system};
use engram_llm::tokens::TokenCounter;
use engram_llm::{ChatMessage, ChatRequest, RawToolCall, ToolChoice};
use engram_store::{Store, StoreError};
use serde_json::Value;

use crate::token_cache::TokenCache;
use crate::tools::{Builtin, agent_tools};

/// How many archival tags the system message lists.
const TAGS_SHOWN: u32 = 20;

/// Where the tokens of the next request go. The parts add up to `total_tokens`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextBreakdown {
    pub context_window: u32,
    pub total_tokens: u64,
    /// Base instructions and memory statistics.
    pub system_tokens: u64,
    pub core_memory_tokens: u64,
    pub tool_schema_tokens: u64,
    pub summary_tokens: u64,
    pub message_tokens: u64,
    /// Messages sent after the system message.
    pub messages_in_context: u64,
    /// All messages in recall memory, in the window or not.
    pub recall_messages: u64,
    pub archival_passages: u64,
    /// The tokenizer used: `o200k_base`, `cl100k_base` or `estimate`.
    pub tokenizer: &'static str,
}

/// The next request, with what compaction needs to know about the window.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub request: ChatRequest,
    pub breakdown: ContextBreakdown,
    /// The in-context messages other than the summary, in order.
    pub window: Vec<Message>,
    /// The tokens each window message contributes (0 for a message that is not sent).
    pub window_tokens: Vec<u64>,
    /// The summary in the window, if any.
    pub summary: Option<Message>,
    pub tools: Vec<Builtin>,
}

impl Compiled {
    /// Tokens that no eviction can reduce: instructions, statistics, core memory and tool schemas.
    pub(crate) fn fixed_tokens(&self) -> u64 {
        let b = &self.breakdown;
        b.system_tokens + b.core_memory_tokens + b.tool_schema_tokens
    }
}

/// Shared inputs of compilation.
pub(crate) struct Compiler<'a> {
    pub store: &'a dyn Store,
    pub clock: &'a Arc<dyn Clock>,
    pub cache: &'a TokenCache,
}

/// The tokenizer for an agent's model (an estimate for agents without one).
pub(crate) fn counter_for(agent: &Agent) -> TokenCounter {
    match &agent.config.model {
        Some(model) => TokenCounter::for_model(model.provider(), model.model()),
        None => TokenCounter::for_model("", ""),
    }
}

/// Notices from the runtime are stored as system messages and sent as user text with this prefix, since not every
/// provider accepts system messages mid-conversation.
pub(crate) const NOTICE_PREFIX: &str = "[system notice] ";

impl Compiler<'_> {
    pub(crate) async fn compile(&self, org: &OrgId, agent: &Agent) -> Result<Compiled, StoreError> {
        let counter = counter_for(agent);
        let snapshot = self.store.load_window(org, agent.id, TAGS_SHOWN).await?;
        let (stored, counts, archival_passages, archival_tags) =
            (snapshot.messages, snapshot.counts, snapshot.archival_passages, snapshot.archival_tags);

        let summary = stored.iter().rev().find(|m| m.role == Role::Summary).cloned();
        let window: Vec<Message> = stored.into_iter().filter(|m| m.role != Role::Summary).collect();
        let stats = MemoryStats {
            recall_out_of_window: counts.total.saturating_sub(counts.in_context),
            archival_passages,
            archival_tags,
            now: self.clock.now(),
            last_compaction: summary.as_ref().map(|s| s.created_at),
        };
        let summary_view = summary.as_ref().map(|s| SummaryView { text: &s.content, created_at: s.created_at });
        let system = compile_system(&agent.config.system, &agent.blocks, &stats, summary_view.as_ref());

        let tools = agent_tools(&agent.config.tools);
        let specs: Vec<_> = tools.iter().map(|t| t.spec()).collect();
        let (messages, window_tokens, synthetic_tokens) = self.chat_messages(&counter, &window);

        let (system_tokens, core_memory_tokens, summary_tokens) = split_system(&counter, &system);
        let tool_schema_tokens = self.cache.tools_or(&tools, counter.name(), || counter.count_tools(&specs));
        let message_tokens: u64 = window_tokens.iter().sum::<u64>() + synthetic_tokens;
        let breakdown = ContextBreakdown {
            context_window: agent.config.context_window,
            total_tokens: system_tokens + core_memory_tokens + summary_tokens + tool_schema_tokens + message_tokens,
            system_tokens,
            core_memory_tokens,
            tool_schema_tokens,
            summary_tokens,
            message_tokens,
            messages_in_context: messages.len() as u64,
            recall_messages: counts.total,
            archival_passages,
            tokenizer: counter.name(),
        };
        let model = agent.config.model.as_ref().map(|m| m.model().to_owned()).unwrap_or_default();
        let request = ChatRequest {
            model,
            system: system.text(),
            messages,
            tool_choice: ToolChoice::Auto,
            tools: specs,
            max_tokens: None,
        };
        Ok(Compiled { request, breakdown, window, window_tokens, summary, tools })
    }

    /// Converts the window into chat messages, counting each. Tool results whose call is not in the window are
    /// dropped; calls whose result was never recorded (a crash) get an error result, so the model always sees
    /// whole exchanges.
    ///
    /// Returns the messages, each window message's tokens, and the tokens of the results added for open calls.
    fn chat_messages(&self, counter: &TokenCounter, window: &[Message]) -> (Vec<ChatMessage>, Vec<u64>, u64) {
        let mut messages = Vec::with_capacity(window.len());
        let mut tokens = vec![0; window.len()];
        let mut open: Vec<(String, String)> = Vec::new();
        let mut synthetic = 0;
        for (index, message) in window.iter().enumerate() {
            if message.role != Role::Tool {
                synthetic += close_open_calls(counter, &mut open, &mut messages);
            }
            let chat = match message.role {
                Role::User => ChatMessage::User { content: message.content.clone() },
                Role::System => ChatMessage::User { content: format!("{NOTICE_PREFIX}{}", message.content) },
                Role::Assistant => {
                    let tool_calls: Vec<RawToolCall> = message
                        .tool_calls
                        .iter()
                        .map(|c| RawToolCall {
                            id: c.id.clone(),
                            name: c.name.clone(),
                            arguments: raw_arguments(&c.arguments),
                        })
                        .collect();
                    open.extend(tool_calls.iter().map(|call| (call.id.clone(), call.name.clone())));
                    ChatMessage::Assistant { content: message.content.clone(), tool_calls }
                }
                Role::Tool => {
                    let call_id = message.tool_call_id.clone().unwrap_or_default();
                    let Some(position) = open.iter().position(|(id, _)| *id == call_id) else {
                        continue;
                    };
                    let (_, name) = open.remove(position);
                    ChatMessage::Tool {
                        tool_call_id: call_id,
                        name,
                        content: message.content.clone(),
                        is_error: message.tool_status == Some(ToolStatus::Error),
                    }
                }
                Role::Summary => continue,
            };
            tokens[index] = self.cache.get_or(message.id, counter.name(), || counter.count_message(&chat));
            messages.push(chat);
        }
        synthetic += close_open_calls(counter, &mut open, &mut messages);
        (messages, tokens, synthetic)
    }
}

/// Answers calls left without a recorded result; returns the tokens added.
fn close_open_calls(counter: &TokenCounter, open: &mut Vec<(String, String)>, messages: &mut Vec<ChatMessage>) -> u64 {
    let mut added = 0;
    for (id, name) in open.drain(..) {
        let message = ChatMessage::Tool {
            tool_call_id: id,
            name,
            content: "no result was recorded for this call (it was interrupted); call it again if still needed"
                .to_owned(),
            is_error: true,
        };
        added += counter.count_message(&message);
        messages.push(message);
    }
    added
}

/// The argument text to send back to the model: a string that did not parse is the model's raw text.
pub(crate) fn raw_arguments(arguments: &Value) -> String {
    match arguments {
        Value::String(raw) if serde_json::from_str::<Value>(raw).map(|v| !v.is_object()).unwrap_or(true) => raw.clone(),
        other => other.to_string(),
    }
}

/// Splits the system message's tokens into instructions+statistics, core memory and summary, so that they add up to
/// the count of the whole message as sent.
fn split_system(counter: &TokenCounter, system: &CompiledSystem) -> (u64, u64, u64) {
    let whole = counter.count_system(&system.text());
    let core = counter.count(&system.core_memory);
    let summary = if system.summary.is_empty() { 0 } else { counter.count(&system.summary) };
    (whole.saturating_sub(core + summary), core, summary)
}
