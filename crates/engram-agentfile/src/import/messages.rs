//! An agent's history: `messages` (roles system, user, assistant and tool; `content` as text or parts; assistant
//! `tool_calls` with their ids and argument text; tool results by `tool_call_id` and `tool_returns`) and the window,
//! `in_context_message_ids`.
//!
//! The window is taken exactly as the file marks it, with one mapping: when its first message is a system message,
//! that message is the file's compiled system prompt (base instructions with the memory blocks rendered in), which
//! engram builds afresh on every step from the agent's `system` and its blocks, so it is not stored as a message; its
//! text stands in for a missing `system`. The other in-context messages must follow the order of `messages`. A tool
//! message holding several results becomes one engram message per result. Other system messages are notices.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use engram_core::message::{NewMessage, Role, ToolCall, ToolStatus};
use engram_core::text::check_max_chars;
use serde_json::{Map, Value};

use super::Warnings;
use crate::error::{AgentFileError, index, join};
use crate::kept::meaningful;
use crate::limits::MAX_MESSAGE_CHARS;
use crate::obj::Obj;

/// Marks a message engram exported from a compaction summary (the format has no such role).
pub(crate) const ROLE_MARKER: &str = "engram_role";

/// The history as engram stores it, and the compiled system prompt the window started with, if any.
#[derive(Debug, Default)]
pub(super) struct History {
    pub messages: Vec<NewMessage>,
    pub system_prompt: Option<String>,
}

/// Fields the export writes anew, so they are not reported as lost.
const REGENERATED: [&str; 3] = ["type", "agent_id", "model"];

/// What was dropped while reading, reported once per agent.
#[derive(Debug, Default)]
struct Notes {
    /// Fields with values engram has no place for, with how many messages had them.
    unused: BTreeMap<String, usize>,
    /// Content parts of kinds engram does not store.
    parts: BTreeMap<String, usize>,
}

/// One message of the file.
#[derive(Debug)]
struct FileMessage {
    id: Option<String>,
    /// A plain system message (not an exported summary): the compiled system prompt when it opens the window.
    system: bool,
    text: String,
    stored: Vec<NewMessage>,
}

pub(super) fn parse(
    values: Vec<Value>,
    window: Vec<String>,
    agent_path: &str,
    messages_left: &mut usize,
    warnings: &mut Warnings,
) -> Result<History, AgentFileError> {
    let list_field = join(agent_path, "messages");
    let mut notes = Notes::default();
    let mut parsed = Vec::with_capacity(values.len());
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for (j, value) in values.into_iter().enumerate() {
        let path = index(&list_field, j);
        let message = parse_message(value, &path, &mut notes)?;
        *messages_left = messages_left.checked_sub(message.stored.len()).ok_or_else(|| {
            AgentFileError::invalid(&list_field, "the file holds more messages than engram imports at once")
        })?;
        if let Some(id) = &message.id
            && by_id.insert(id.clone(), j).is_some()
        {
            return Err(AgentFileError::invalid(format!("{path}.id"), format!("another message has the id `{id}`")));
        }
        parsed.push(message);
    }

    let window_field = join(agent_path, "in_context_message_ids");
    let mut in_context = vec![false; parsed.len()];
    let mut prompt: Option<usize> = None;
    let mut last: Option<usize> = None;
    for (k, id) in window.iter().enumerate() {
        let field = index(&window_field, k);
        let &j = by_id.get(id).ok_or_else(|| {
            AgentFileError::invalid(&field, format!("names message `{id}`, which is not among the agent's messages"))
        })?;
        if in_context[j] || prompt == Some(j) {
            return Err(AgentFileError::invalid(&field, format!("names message `{id}` a second time")));
        }
        if k == 0 && parsed[j].system {
            prompt = Some(j);
            continue;
        }
        if last.is_some_and(|l| j < l) {
            return Err(AgentFileError::invalid(
                &field,
                format!("message `{id}` comes earlier in `messages` than the one before it in the window"),
            ));
        }
        last = Some(j);
        in_context[j] = true;
    }

    let mut history = History::default();
    for (j, message) in parsed.into_iter().enumerate() {
        if prompt == Some(j) {
            history.system_prompt = Some(message.text);
            continue;
        }
        for mut stored in message.stored {
            stored.in_context = in_context[j];
            history.messages.push(stored);
        }
    }
    report(&history.messages, &notes, &list_field, warnings);
    Ok(history)
}

/// Warns about dropped fields and parts, and tool results whose call is not in the history.
fn report(messages: &[NewMessage], notes: &Notes, field: &str, warnings: &mut Warnings) {
    let counted = |map: &BTreeMap<String, usize>| {
        map.iter().map(|(name, n)| format!("`{name}` ({n})")).collect::<Vec<_>>().join(", ")
    };
    if !notes.unused.is_empty() {
        warnings.add(field, format!("engram does not keep these message fields: {}", counted(&notes.unused)));
    }
    if !notes.parts.is_empty() {
        warnings.add(field, format!("engram does not keep these content parts: {}", counted(&notes.parts)));
    }
    let mut calls: HashSet<&str> = HashSet::new();
    let mut orphans = 0;
    for message in messages {
        calls.extend(message.tool_calls.iter().map(|c| c.id.as_str()));
        if message.role == Role::Tool && !calls.contains(message.tool_call_id.as_deref().unwrap_or("")) {
            orphans += 1;
        }
    }
    if orphans > 0 {
        warnings.add(
            field,
            format!("{orphans} tool result(s) answer a call that is not in the history; they are kept but never sent"),
        );
    }
}

fn parse_message(value: Value, path: &str, notes: &mut Notes) -> Result<FileMessage, AgentFileError> {
    let mut obj = Obj::new(value, path)?;
    let id = obj.string("id")?;
    let role_field = obj.field("role");
    let role_text = obj.string("role")?.ok_or_else(|| AgentFileError::invalid(&role_field, "is required"))?;
    let mut role = match role_text.as_str() {
        "system" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        other => {
            return Err(AgentFileError::invalid(
                &role_field,
                format!("`{other}` is not a role engram can import (system, user, assistant, tool)"),
            ));
        }
    };
    let marker_field = obj.field(ROLE_MARKER);
    match obj.string(ROLE_MARKER)?.as_deref() {
        None => {}
        Some("summary") => role = Role::Summary,
        Some(other) => {
            return Err(AgentFileError::invalid(&marker_field, format!("`{other}` is not an engram role (summary)")));
        }
    }
    let time_field = obj.field("created_at");
    let created_at = obj.string("created_at")?.map(|t| parse_time(&time_field, &t)).transpose()?;
    let (text, reasoning) = content(&mut obj, notes)?;

    let calls_field = obj.field("tool_calls");
    let calls = obj.list("tool_calls")?;
    if !calls.is_empty() && role != Role::Assistant {
        return Err(AgentFileError::invalid(&calls_field, "only assistant messages carry tool calls"));
    }
    let tool_calls =
        calls.into_iter().enumerate().map(|(k, c)| tool_call(c, &index(&calls_field, k))).collect::<Result<_, _>>()?;
    let base = NewMessage {
        run_id: None,
        step_id: None,
        role,
        content: text.clone(),
        reasoning,
        tool_calls,
        tool_call_id: None,
        tool_status: None,
        in_context: false,
        created_at,
    };
    let stored = if role == Role::Tool { tool_results(&mut obj, base, notes)? } else { vec![base] };
    for key in REGENERATED {
        obj.take(key);
    }
    for (key, value) in obj.into_rest() {
        if meaningful(&value) {
            *notes.unused.entry(key).or_default() += 1;
        }
    }
    Ok(FileMessage { id, system: role == Role::System, text, stored })
}

/// The message's text and reasoning: `content` as a string or as parts (`text`, `reasoning`), or a legacy `text`.
fn content(obj: &mut Obj, notes: &mut Notes) -> Result<(String, Option<String>), AgentFileError> {
    let field = obj.field("content");
    let legacy = obj.string("text")?;
    let (mut texts, mut reasonings) = (Vec::new(), Vec::new());
    match obj.take("content") {
        None => texts.extend(legacy),
        Some(Value::String(text)) => texts.push(text),
        Some(Value::Array(parts)) => {
            for (k, part) in parts.into_iter().enumerate() {
                let mut part = Obj::new(part, &index(&field, k))?;
                match part.string("type")?.as_deref().unwrap_or("text") {
                    "text" => texts.push(part.string("text")?.unwrap_or_default()),
                    "reasoning" => match part.string("reasoning")? {
                        Some(reasoning) => reasonings.push(reasoning),
                        None => reasonings.extend(part.string("text")?),
                    },
                    other => *notes.parts.entry(other.to_owned()).or_default() += 1,
                }
            }
        }
        Some(_) => return Err(AgentFileError::invalid(&field, "must be text or a list of content parts")),
    }
    let text = texts.join("\n");
    check_max_chars(&field, &text, MAX_MESSAGE_CHARS)?;
    let reasoning = Some(reasonings.join("\n")).filter(|r| !r.is_empty());
    if let Some(reasoning) = &reasoning {
        check_max_chars(&field, reasoning, MAX_MESSAGE_CHARS)?;
    }
    Ok((text, reasoning))
}

/// An assistant's tool call: `id`, `function.name` and `function.arguments` (JSON text; text that is not a JSON
/// object is kept as it is, as engram keeps a model's malformed arguments).
fn tool_call(value: Value, path: &str) -> Result<ToolCall, AgentFileError> {
    let mut obj = Obj::new(value, path)?;
    let id_field = obj.field("id");
    let id = obj
        .string("id")?
        .filter(|id| !id.is_empty())
        .ok_or_else(|| AgentFileError::invalid(&id_field, "is required: a tool result names its call by this id"))?;
    let function_field = obj.field("function");
    let mut function =
        obj.object("function")?.ok_or_else(|| AgentFileError::invalid(&function_field, "is required"))?;
    let name_field = function.field("name");
    let name = function
        .string("name")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| AgentFileError::invalid(&name_field, "is required"))?;
    let arguments = match function.take("arguments") {
        None => Value::Object(Map::new()),
        Some(Value::String(raw)) => match serde_json::from_str::<Value>(&raw) {
            Ok(parsed) if parsed.is_object() => parsed,
            _ => Value::String(raw),
        },
        Some(object @ Value::Object(_)) => object,
        Some(_) => {
            return Err(AgentFileError::invalid(function.field("arguments"), "must be the arguments as JSON text"));
        }
    };
    Ok(ToolCall { id, name, arguments })
}

/// A tool message as engram stores it: one message per result. With one result (or none), the message's text is the
/// result (or, when empty, the result's `func_response`); with several, each `func_response` is one message.
fn tool_results(obj: &mut Obj, base: NewMessage, notes: &mut Notes) -> Result<Vec<NewMessage>, AgentFileError> {
    let call_field = obj.field("tool_call_id");
    let call_id = obj.string("tool_call_id")?;
    let returns_field = obj.field("tool_returns");
    let mut returns = Vec::new();
    for (k, value) in obj.list("tool_returns")?.into_iter().enumerate() {
        returns.push(tool_return(value, &index(&returns_field, k), notes)?);
    }
    let result = |content: String, call_id: String, status: ToolStatus| NewMessage {
        content,
        tool_call_id: Some(call_id),
        tool_status: Some(status),
        ..base.clone()
    };
    if returns.len() <= 1 {
        let first = returns.pop();
        let call_id = call_id.or_else(|| first.as_ref().and_then(|r| r.call_id.clone())).ok_or_else(|| {
            AgentFileError::invalid(&call_field, "is required: a tool result names the call it answers")
        })?;
        let (response, status) = first.map_or((None, ToolStatus::Ok), |r| (r.response, r.status));
        let content = if base.content.is_empty() { response.unwrap_or_default() } else { base.content.clone() };
        return Ok(vec![result(content, call_id, status)]);
    }
    returns
        .into_iter()
        .enumerate()
        .map(|(k, r)| {
            let call_id = r.call_id.ok_or_else(|| {
                AgentFileError::invalid(format!("{}.tool_call_id", index(&returns_field, k)), "is required")
            })?;
            Ok(result(r.response.unwrap_or_default(), call_id, r.status))
        })
        .collect()
}

/// One entry of `tool_returns`.
struct Return {
    call_id: Option<String>,
    status: ToolStatus,
    response: Option<String>,
}

fn tool_return(value: Value, path: &str, notes: &mut Notes) -> Result<Return, AgentFileError> {
    let mut obj = Obj::new(value, path)?;
    let call_id = obj.string("tool_call_id")?;
    let status = match obj.string("status")? {
        Some(status) if status.eq_ignore_ascii_case("error") => ToolStatus::Error,
        _ => ToolStatus::Ok,
    };
    let response_field = obj.field("func_response");
    let response = match obj.take("func_response") {
        None => None,
        Some(Value::String(text)) => Some(text),
        Some(other) => Some(other.to_string()),
    };
    if let Some(response) = &response {
        check_max_chars(&response_field, response, MAX_MESSAGE_CHARS)?;
    }
    for (key, value) in obj.into_rest() {
        if meaningful(&value) {
            *notes.unused.entry(format!("tool_returns.{key}")).or_default() += 1;
        }
    }
    Ok(Return { call_id, status, response })
}

/// An RFC 3339 time, or one without an offset (taken as UTC).
fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, AgentFileError> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
        .ok_or_else(|| AgentFileError::invalid(field, format!("`{text}` is not a time (RFC 3339)")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn history(messages: Value, window: &[&str]) -> Result<(History, Vec<String>), AgentFileError> {
        let mut warnings = Warnings::default();
        let values = messages.as_array().cloned().unwrap_or_default();
        let window = window.iter().map(|s| (*s).to_owned()).collect();
        let history = parse(values, window, "agents[0]", &mut 100, &mut warnings)?;
        Ok((history, warnings.0))
    }

    #[test]
    fn a_tool_message_with_several_results_becomes_one_message_each() {
        let messages = json!([
            {"id": "a", "role": "assistant", "content": [{"type": "reasoning", "reasoning": "Two lookups."}],
             "tool_calls": [{"id": "c1", "function": {"name": "x", "arguments": "{\"q\": 1}"}},
                            {"id": "c2", "function": {"name": "y", "arguments": "not json"}}]},
            {"id": "t", "role": "tool", "content": [{"type": "text", "text": "both"}],
             "tool_returns": [{"tool_call_id": "c1", "status": "success", "func_response": "one"},
                              {"tool_call_id": "c2", "status": "error", "func_response": {"e": 1}, "stdout": ["log"]}]}
        ]);
        let (history, warnings) = history(messages, &["a", "t"]).unwrap();
        let stored = &history.messages;
        assert_eq!(stored.len(), 3);
        assert_eq!(stored[0].reasoning.as_deref(), Some("Two lookups."));
        assert_eq!(stored[0].tool_calls[0].arguments, json!({"q": 1}));
        assert_eq!(stored[0].tool_calls[1].arguments, json!("not json"), "malformed arguments are kept as text");
        let results: Vec<_> =
            stored[1..].iter().map(|m| (m.tool_call_id.as_deref(), m.content.as_str(), m.tool_status)).collect();
        assert_eq!(
            results,
            [(Some("c1"), "one", Some(ToolStatus::Ok)), (Some("c2"), "{\"e\":1}", Some(ToolStatus::Error))]
        );
        assert!(stored.iter().all(|m| m.in_context));
        assert_eq!(
            warnings,
            ["agents[0].messages: engram does not keep these message fields: `tool_returns.stdout` (1)"]
        );
    }

    #[test]
    fn the_window_opens_with_the_system_prompt_wherever_it_is_stored() {
        let messages = json!([
            {"id": "old", "role": "system", "content": "the first compiled prompt"},
            {"id": "u", "role": "user", "content": "hi", "created_at": "2025-10-31T22:56:56.4591"},
            {"id": "new", "role": "system", "content": "the latest compiled prompt"},
            {"id": "r", "role": "tool", "tool_call_id": "nowhere", "content": "orphan"}
        ]);
        let (history, warnings) = history(messages, &["new", "u", "r"]).unwrap();
        assert_eq!(history.system_prompt.as_deref(), Some("the latest compiled prompt"));
        let stored: Vec<_> = history.messages.iter().map(|m| (m.role, m.in_context)).collect();
        assert_eq!(stored, [(Role::System, false), (Role::User, true), (Role::Tool, true)]);
        assert_eq!(
            history.messages[1].created_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-10-31T22:56:56.459100+00:00")
        );
        assert!(warnings[0].contains("1 tool result(s) answer a call that is not in the history"), "{warnings:?}");
    }

    #[test]
    fn the_window_must_follow_the_history() {
        let messages = json!([{"id": "a", "role": "user"}, {"id": "b", "role": "assistant", "content": "x"}]);
        let err = history(messages.clone(), &["b", "a"]).unwrap_err();
        assert_eq!(err.field(), Some("agents[0].in_context_message_ids[1]"));
        let err = history(json!([{"id": "a", "role": "user"}, {"id": "a", "role": "user"}]), &[]).unwrap_err();
        assert_eq!(err.field(), Some("agents[0].messages[1].id"));
        let err = history(json!([{"id": "a", "role": "user", "created_at": "yesterday"}]), &[]).unwrap_err();
        assert_eq!(err.field(), Some("agents[0].messages[0].created_at"));
        let err = history(json!([{"id": "a", "role": "user", "engram_role": "boss"}]), &[]).unwrap_err();
        assert_eq!(err.field(), Some("agents[0].messages[0].engram_role"));
        let (summary, _) = history(json!([{"role": "user", "engram_role": "summary", "content": "s"}]), &[]).unwrap();
        assert_eq!(summary.messages[0].role, Role::Summary);
    }
}
