//! An agent's history as the format writes it. The window opens with the compiled system prompt (engram builds it on
//! every step; here: the agent's `system` and its rendered core memory blocks), followed by the in-context messages.
//! A tool result carries `tool_returns`; a compaction summary, which the format has no role for, is a user message
//! marked `"engram_role": "summary"` so that engram reads it back as a summary.

use engram_core::agent::Agent;
use engram_core::message::{Message, Role, ToolStatus};
use engram_core::prompt::render_core_memory;
use serde_json::{Value, json};

use super::time;
use crate::import::ROLE_MARKER;

/// The messages of one agent and its window, with ids `message-N` from `next_id` on.
pub(super) fn render(
    agent: &Agent,
    messages: &[Message],
    agent_id: &str,
    next_id: &mut usize,
) -> (Vec<Value>, Vec<Value>) {
    let model = agent.config.model.as_ref().map(|m| m.model().to_owned());
    let mut id = || {
        let id = format!("message-{}", *next_id);
        *next_id += 1;
        id
    };
    let mut out = Vec::with_capacity(messages.len() + 1);
    let mut window = Vec::new();

    let prompt_id = id();
    let prompt = format!("{}\n\n{}", agent.config.system, render_core_memory(&agent.blocks));
    let mut system = base(&prompt_id, agent_id, &model, "system", time(agent.updated_at));
    system["content"] = parts(&prompt, None);
    out.push(system);
    window.push(json!(prompt_id));

    for message in messages {
        let message_id = id();
        let role = match message.role {
            Role::System => "system",
            Role::User | Role::Summary => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        };
        let mut value = base(&message_id, agent_id, &model, role, time(message.created_at));
        value["content"] = parts(&message.content, message.reasoning.as_deref());
        if message.role == Role::Summary {
            value[ROLE_MARKER] = json!("summary");
        }
        if !message.tool_calls.is_empty() {
            let calls: Vec<Value> = message
                .tool_calls
                .iter()
                .map(|call| {
                    let arguments = match &call.arguments {
                        Value::String(raw) => raw.clone(),
                        other => other.to_string(),
                    };
                    json!({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}})
                })
                .collect();
            value["tool_calls"] = Value::Array(calls);
        }
        if message.role == Role::Tool {
            let status = match message.tool_status {
                Some(ToolStatus::Error) => "error",
                Some(ToolStatus::Ok) | None => "success",
            };
            value["tool_call_id"] = json!(message.tool_call_id);
            value["tool_returns"] = json!([{
                "tool_call_id": message.tool_call_id,
                "status": status,
                "func_response": message.content,
                "stdout": null,
                "stderr": null,
            }]);
        }
        if message.in_context {
            window.push(json!(message_id));
        }
        out.push(value);
    }
    (out, window)
}

/// The fields every message has.
fn base(id: &str, agent_id: &str, model: &Option<String>, role: &str, created_at: String) -> Value {
    json!({
        "type": "message",
        "id": id,
        "agent_id": agent_id,
        "model": model,
        "role": role,
        "content": [],
        "tool_calls": null,
        "tool_call_id": null,
        "tool_returns": [],
        "created_at": created_at,
    })
}

/// Content parts: the text (when not empty) and the reasoning (when there is some).
fn parts(text: &str, reasoning: Option<&str>) -> Value {
    let mut parts = Vec::new();
    if let Some(reasoning) = reasoning {
        parts.push(json!({"type": "reasoning", "reasoning": reasoning}));
    }
    if !text.is_empty() {
        parts.push(json!({"type": "text", "text": text}));
    }
    Value::Array(parts)
}
