//! The Anthropic Messages wire format of the scripted server: encodes a [`Reply`] as the JSON body Anthropic sends
//! for `POST /v1/messages`, as its server-sent event stream when the request asked for `stream: true`, or as its error
//! body (`{"type":"error","error":{"type","message"}}`). [`crate::server`] decides which reply to play.
//!
//! A scripted tool call's `arguments` is raw text that may be malformed. A real stream can end up malformed because
//! the input arrives as `partial_json` fragments, so streaming sends the raw text verbatim in fragments. A real
//! non-streaming answer always carries an `input` object; to let tests exercise malformed input there too, arguments
//! that do not parse as JSON are sent as a JSON *string* holding the raw text (a test-only oddity clients must
//! tolerate).

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::script::{RecordedRequest, Reply, ReplyKind, ScriptedCall};
use crate::server::{ScriptState, usage_of};

/// The message Anthropic answers when the prompt does not fit.
const CONTEXT_LENGTH_MESSAGE: &str = "prompt is too long: 250000 tokens > 200000 maximum";

/// Encodes `reply` as the scripted Anthropic server's answer to `request`.
pub(crate) fn respond(state: &ScriptState, reply: &Reply, request: &RecordedRequest) -> Response {
    match &reply.kind {
        ReplyKind::Error { status, message, retry_after } => error_response(*status, message, retry_after.as_deref()),
        ReplyKind::ContextLength => error_response(400, CONTEXT_LENGTH_MESSAGE, None),
        ReplyKind::Message { text, calls } => {
            let message = Message::new(state, reply, request, text, calls);
            if request.is_stream() { message.stream() } else { Json(message.body()).into_response() }
        }
    }
}

/// A JSON response body (axum's `Json` needs serde derive; a `Value` is all we send).
struct Json(Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], self.0.to_string()).into_response()
    }
}

/// The error `type` Anthropic uses for an HTTP status.
fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

fn error_response(status: u16, message: &str, retry_after: Option<&str>) -> Response {
    let body = json!({"type": "error", "error": {"type": error_type(status), "message": message}});
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(body)).into_response();
    if let Some(value) = retry_after.and_then(|value| HeaderValue::from_str(value).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// One content block of the answer.
enum Block {
    Thinking { thinking: String, signature: String },
    Text(String),
    ToolUse { id: String, name: String, arguments: String },
}

/// The assistant message a scripted reply becomes.
struct Message {
    id: String,
    model: Value,
    blocks: Vec<Block>,
    stop_reason: &'static str,
    /// `(input_tokens, output_tokens)`, `None` when the reply omits usage.
    usage: Option<(u64, u64)>,
}

impl Message {
    fn new(state: &ScriptState, reply: &Reply, request: &RecordedRequest, text: &str, calls: &[ScriptedCall]) -> Self {
        let id = format!("msg_scripted{:06}", state.next_id());
        let mut blocks = Vec::new();
        if let Some(thinking) = &reply.reasoning {
            let signature = format!("c2lnbmF0dXJl{}", state.next_id());
            blocks.push(Block::Thinking { thinking: thinking.clone(), signature });
        }
        if !text.is_empty() {
            blocks.push(Block::Text(text.to_owned()));
        }
        for call in calls {
            let id = call.id.clone().unwrap_or_else(|| format!("toolu_{}", state.next_id()));
            blocks.push(Block::ToolUse { id, name: call.name.clone(), arguments: call.arguments.clone() });
        }
        let stop_reason = if calls.is_empty() { "end_turn" } else { "tool_use" };
        let usage = (!reply.omit_usage).then(|| usage_of(reply, request));
        Self { id, model: request.body["model"].clone(), blocks, stop_reason, usage }
    }

    /// The non-streaming body.
    fn body(&self) -> Value {
        let content: Vec<Value> = self
            .blocks
            .iter()
            .map(|block| match block {
                Block::Thinking { thinking, signature } => {
                    json!({"type": "thinking", "thinking": thinking, "signature": signature})
                }
                Block::Text(text) => json!({"type": "text", "text": text}),
                Block::ToolUse { id, name, arguments } => {
                    // Unparseable arguments travel as a JSON string (see the module documentation).
                    let input = serde_json::from_str::<Value>(arguments).unwrap_or_else(|_| json!(arguments));
                    json!({"type": "tool_use", "id": id, "name": name, "input": input})
                }
            })
            .collect();
        let mut body = json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": self.stop_reason,
            "stop_sequence": null,
        });
        if let Some((input_tokens, output_tokens)) = self.usage {
            body["usage"] = json!({"input_tokens": input_tokens, "output_tokens": output_tokens});
        }
        body
    }

    /// The streaming body: `message_start`, a `ping`, start/delta/stop per block, `message_delta`, `message_stop`.
    fn stream(&self) -> Response {
        let (input_tokens, output_tokens) = self.usage.unwrap_or((0, 0));
        let mut events = vec![event(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": self.id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens.min(1)},
            }}),
        )];
        events.push(event("ping", json!({"type": "ping"})));
        for (index, block) in self.blocks.iter().enumerate() {
            let (start, deltas) = match block {
                Block::Thinking { thinking, signature } => {
                    let mut deltas: Vec<Value> = fragments(thinking)
                        .into_iter()
                        .map(|piece| json!({"type": "thinking_delta", "thinking": piece}))
                        .collect();
                    deltas.push(json!({"type": "signature_delta", "signature": signature}));
                    (json!({"type": "thinking", "thinking": "", "signature": ""}), deltas)
                }
                Block::Text(text) => {
                    let deltas =
                        fragments(text).into_iter().map(|piece| json!({"type": "text_delta", "text": piece})).collect();
                    (json!({"type": "text", "text": ""}), deltas)
                }
                Block::ToolUse { id, name, arguments } => {
                    let deltas = fragments(arguments)
                        .into_iter()
                        .map(|piece| json!({"type": "input_json_delta", "partial_json": piece}))
                        .collect();
                    (json!({"type": "tool_use", "id": id, "name": name, "input": {}}), deltas)
                }
            };
            events.push(event(
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": start}),
            ));
            for delta in deltas {
                events.push(event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index, "delta": delta}),
                ));
            }
            events.push(event("content_block_stop", json!({"type": "content_block_stop", "index": index})));
        }
        events.push(event(
            "message_delta",
            json!({"type": "message_delta",
                "delta": {"stop_reason": self.stop_reason, "stop_sequence": null},
                "usage": {"output_tokens": output_tokens}}),
        ));
        events.push(event("message_stop", json!({"type": "message_stop"})));
        // One body chunk per event, so clients see the stream arrive piece by piece.
        let body = Body::from_stream(futures::stream::iter(events.into_iter().map(Ok::<_, Infallible>)));
        ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], body).into_response()
    }
}

/// One server-sent event record.
fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// Splits `text` into at least three pieces where it has that many characters (more for long text, about 16
/// characters each), at character boundaries. Empty text gives one empty piece, as a real stream may send.
fn fragments(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    let count = (chars.len() / 16).clamp(3, 64).min(chars.len());
    (0..count).map(|i| chars[i * chars.len() / count..(i + 1) * chars.len() / count].iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::fragments;

    #[test]
    fn fragments_split_at_character_boundaries_and_rejoin() {
        for text in ["", "a", "ab", "abc", "{\"query\": \"naïve café ☕\"}", &"x".repeat(200)] {
            let pieces = fragments(text);
            assert_eq!(pieces.concat(), text);
            assert_eq!(pieces.len(), text.chars().count().clamp(1, 3).max((text.chars().count() / 16).min(64)));
            assert!(pieces.iter().all(|piece| !piece.is_empty()) || text.is_empty(), "{text:?} gave {pieces:?}");
        }
    }
}
