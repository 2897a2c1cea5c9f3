//! Context paging: choosing which messages leave the window, and asking the model for a summary of them folded
//! together with the previous summary. The messages stay in recall; only their `in_context` flag changes.

use engram_core::id::MessageId;
use engram_core::message::{Message, Role};
use engram_llm::{ChatMessage, ChatModel, ChatRequest, ChatResponse, LlmError, ToolChoice};

use crate::context::raw_arguments;

/// The share of the window's message tokens each compaction level tries to evict: the first compaction about half,
/// each retry after a provider's "too long" answer more.
pub(crate) const EVICT_FRACTIONS: [f64; 3] = [0.5, 0.75, 1.0];

/// Longest excerpt of one message in the transcript given to the summariser, in characters.
const EXCERPT_CHARS: usize = 2_000;

/// Most tokens the summary may take.
pub(crate) const SUMMARY_MAX_TOKENS: u32 = 1_024;

const SUMMARISER_SYSTEM: &str = "\
You maintain the running summary of a conversation between a user and an AI assistant with long-term memory. \
Older messages are leaving the assistant's context window; your summary is all the assistant will see of them. \
Write a concise summary in the third person that folds the previous summary (if any) together with the new \
messages: facts learned about the user, decisions, open tasks, commitments, and anything the assistant would need \
to continue naturally. Keep dates and names exact. Reply with the summary text only.";

/// Chooses the oldest messages to evict so that about `fraction` of the window's message tokens leave.
///
/// Never evicts the newest user message or anything after it, and never separates a tool call from its results: a
/// cut that would fall between an assistant message and its tool results moves past the results.
pub(crate) fn choose_eviction(window: &[Message], tokens: &[u64], fraction: f64) -> Vec<MessageId> {
    let protected_from = window.iter().rposition(|m| m.role == Role::User).unwrap_or(window.len());
    let total: u64 = tokens.iter().sum();
    let target = (total as f64 * fraction).ceil() as u64;
    let mut cut = 0;
    let mut evicted_tokens = 0;
    while cut < protected_from && evicted_tokens < target {
        evicted_tokens += tokens.get(cut).copied().unwrap_or(0);
        cut += 1;
    }
    // Keep whole exchanges: tool results belong with the call before them.
    while cut < protected_from && window[cut].role == Role::Tool {
        cut += 1;
    }
    window[..cut].iter().map(|m| m.id).collect()
}

/// The transcript of `messages` as the summariser reads it.
fn transcript(previous: Option<&str>, messages: &[Message]) -> String {
    let mut out = String::new();
    match previous {
        Some(summary) => out.push_str(&format!("Previous summary:\n{summary}\n\n")),
        None => out.push_str("Previous summary: none.\n\n"),
    }
    out.push_str("Messages leaving the window:\n");
    for message in messages {
        let at = message.created_at.format("%Y-%m-%d %H:%M");
        let text = excerpt(&message.content);
        match message.role {
            Role::Assistant if !message.tool_calls.is_empty() => {
                if !text.is_empty() {
                    out.push_str(&format!("[{at}] assistant: {text}\n"));
                }
                for call in &message.tool_calls {
                    out.push_str(&format!(
                        "[{at}] assistant called {}({})\n",
                        call.name,
                        excerpt(&raw_arguments(&call.arguments))
                    ));
                }
            }
            Role::Tool => {
                let status = message.tool_status.map_or("ok", |s| s.as_str());
                out.push_str(&format!("[{at}] tool result ({status}): {text}\n"));
            }
            role => out.push_str(&format!("[{at}] {}: {text}\n", role.as_str())),
        }
    }
    out
}

fn excerpt(text: &str) -> String {
    if text.chars().count() <= EXCERPT_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(EXCERPT_CHARS).collect();
    format!("{cut} […]")
}

/// Asks `model` for the new summary.
pub(crate) async fn summarise(
    model: &dyn ChatModel,
    model_name: &str,
    previous: Option<&str>,
    evicted: &[Message],
) -> Result<ChatResponse, LlmError> {
    let request = ChatRequest {
        model: model_name.to_owned(),
        system: SUMMARISER_SYSTEM.to_owned(),
        messages: vec![ChatMessage::User { content: transcript(previous, evicted) }],
        tools: Vec::new(),
        tool_choice: ToolChoice::None,
        max_tokens: Some(SUMMARY_MAX_TOKENS),
    };
    model.chat(&request, None).await
}

/// The summary text of a response (a model that answers with nothing gets a placeholder, never an empty summary).
pub(crate) fn summary_text(response: &ChatResponse, evicted: usize) -> String {
    let text = response.content.trim();
    if text.is_empty() {
        format!("({evicted} earlier messages were moved to recall memory; no summary was written.)")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use engram_core::id::{AgentId, MessageId};
    use engram_core::message::ToolCall;

    use super::*;

    fn message(role: Role, calls: usize) -> Message {
        Message {
            id: MessageId::from_ulid(ulid::Ulid::new()),
            agent_id: AgentId::from_ulid(ulid::Ulid::new()),
            run_id: None,
            step_id: None,
            role,
            content: "x".into(),
            reasoning: None,
            tool_calls: (0..calls)
                .map(|i| ToolCall { id: format!("c{i}"), name: "t".into(), arguments: serde_json::json!({}) })
                .collect(),
            tool_call_id: None,
            tool_status: None,
            in_context: true,
            position: 0,
            created_at: Utc::now(),
        }
    }

    fn roles(window: &[Message], evicted: &[MessageId]) -> Vec<&'static str> {
        window.iter().filter(|m| evicted.contains(&m.id)).map(|m| m.role.as_str()).collect()
    }

    #[test]
    fn evicts_about_half_without_splitting_tool_exchanges() {
        let window = vec![
            message(Role::User, 0),
            message(Role::Assistant, 2),
            message(Role::Tool, 0),
            message(Role::Tool, 0),
            message(Role::Assistant, 0),
            message(Role::User, 0),
            message(Role::Assistant, 0),
            message(Role::User, 0),
        ];
        let tokens = vec![10; window.len()];
        // Half of 80 tokens is reached after the assistant's call; its two results go with it.
        let evicted = choose_eviction(&window, &tokens, 0.25);
        assert_eq!(roles(&window, &evicted), ["user", "assistant", "tool", "tool"]);
    }

    #[test]
    fn never_evicts_the_newest_user_message() {
        let window = vec![message(Role::User, 0), message(Role::Assistant, 0), message(Role::User, 0)];
        let evicted = choose_eviction(&window, &[10, 10, 1000], 1.0);
        assert_eq!(roles(&window, &evicted), ["user", "assistant"]);
        let only = vec![message(Role::User, 0), message(Role::Assistant, 1), message(Role::Tool, 0)];
        assert!(choose_eviction(&only, &[1, 1, 1], 1.0).is_empty());
    }
}
