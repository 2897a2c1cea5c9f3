//! The OpenAI chat completions wire format for scripted replies: a `chat.completion` JSON body, or with
//! `"stream": true` a `text/event-stream` of `chat.completion.chunk` events in which text and tool-call arguments
//! arrive in small fragments (so clients are tested on reassembly), plus the provider's error bodies.

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::script::{RecordedRequest, Reply, ReplyKind, ScriptedCall};
use crate::server::{ScriptState, usage_of};

/// The context window the scripted model claims in its context-length error.
const CONTEXT_WINDOW: u64 = 8192;

/// Longest text fragment of a streamed chunk, in characters.
const MAX_FRAGMENT_CHARS: usize = 16;

/// Encodes `reply` as the answer to `request`.
pub(crate) fn respond(state: &ScriptState, reply: &Reply, request: &RecordedRequest) -> Response {
    match &reply.kind {
        ReplyKind::Message { text, calls } => {
            let message = Message::new(state, reply, request, text, calls);
            if request.is_stream() { message.stream(request) } else { message.json() }
        }
        ReplyKind::Error { status, message, retry_after } => error(*status, message, retry_after.as_deref()),
        ReplyKind::ContextLength => context_length(reply, request),
    }
}

/// A successful reply, with ids and usage resolved.
struct Message<'a> {
    id: String,
    created: u64,
    model: Value,
    text: &'a str,
    reasoning: Option<&'a str>,
    /// `(id, call)` pairs.
    calls: Vec<(String, &'a ScriptedCall)>,
    usage: Option<Value>,
}

impl<'a> Message<'a> {
    fn new(
        state: &ScriptState,
        reply: &'a Reply,
        request: &RecordedRequest,
        text: &'a str,
        calls: &'a [ScriptedCall],
    ) -> Self {
        // Call ids first, so the first call of a script is `call_1`.
        let calls = calls
            .iter()
            .map(|call| (call.id.clone().unwrap_or_else(|| format!("call_{}", state.next_id())), call))
            .collect();
        let id = format!("chatcmpl-scripted-{}", state.next_id());
        let usage = (!reply.omit_usage).then(|| {
            let (prompt, completion) = usage_of(reply, request);
            json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion })
        });
        Self {
            id,
            created: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            model: request.body["model"].clone(),
            text,
            reasoning: reply.reasoning.as_deref(),
            calls,
            usage,
        }
    }

    fn finish_reason(&self) -> &'static str {
        if self.calls.is_empty() { "stop" } else { "tool_calls" }
    }

    /// The non-streaming `chat.completion` body.
    fn json(&self) -> Response {
        let content = if self.text.is_empty() && !self.calls.is_empty() { Value::Null } else { json!(self.text) };
        let mut message = json!({ "role": "assistant", "content": content, "refusal": null });
        if !self.calls.is_empty() {
            let tool_calls: Vec<Value> = self
                .calls
                .iter()
                .map(|(id, call)| {
                    json!({
                        "id": id,
                        "type": "function",
                        "function": { "name": call.name, "arguments": call.arguments },
                    })
                })
                .collect();
            message["tool_calls"] = json!(tool_calls);
        }
        if let Some(reasoning) = self.reasoning {
            message["reasoning_content"] = json!(reasoning);
        }
        let mut body = json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": self.finish_reason() }],
        });
        if let Some(usage) = &self.usage {
            body["usage"] = usage.clone();
        }
        (StatusCode::OK, axum::Json(body)).into_response()
    }

    /// The streaming body: one `data:` event per chunk, each sent as its own body frame.
    fn stream(&self, request: &RecordedRequest) -> Response {
        let include_usage = request.body["stream_options"]["include_usage"].as_bool().unwrap_or(false);
        let usage = self.usage.as_ref().filter(|_| include_usage);
        let mut chunks = vec![self.chunk(json!({ "role": "assistant", "content": "" }), None, usage.is_some())];
        for fragment in self.reasoning.map(fragments).unwrap_or_default() {
            chunks.push(self.chunk(json!({ "reasoning_content": fragment }), None, usage.is_some()));
        }
        for fragment in fragments(self.text) {
            chunks.push(self.chunk(json!({ "content": fragment }), None, usage.is_some()));
        }
        for (index, (id, call)) in self.calls.iter().enumerate() {
            let first = json!({
                "index": index,
                "id": id,
                "type": "function",
                "function": { "name": call.name, "arguments": "" },
            });
            chunks.push(self.chunk(json!({ "tool_calls": [first] }), None, usage.is_some()));
            for piece in arguments_pieces(&call.arguments) {
                let delta = json!({ "tool_calls": [{ "index": index, "function": { "arguments": piece } }] });
                chunks.push(self.chunk(delta, None, usage.is_some()));
            }
        }
        chunks.push(self.chunk(json!({}), Some(self.finish_reason()), usage.is_some()));
        if let Some(usage) = usage {
            chunks.push(json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": usage,
            }));
        }
        let mut events: Vec<Bytes> = chunks.iter().map(|chunk| Bytes::from(format!("data: {chunk}\n\n"))).collect();
        events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        let body = Body::from_stream(futures::stream::iter(events.into_iter().map(Ok::<_, Infallible>)));
        let headers = [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")];
        (StatusCode::OK, headers, body).into_response()
    }

    /// One `chat.completion.chunk`; with `usage_null` it carries `"usage": null` as OpenAI sends when usage was
    /// asked for.
    fn chunk(&self, delta: Value, finish_reason: Option<&str>, usage_null: bool) -> Value {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }],
        });
        if usage_null {
            chunk["usage"] = Value::Null;
        }
        chunk
    }
}

/// Splits text into small fragments on character boundaries: at least three when the text has three characters,
/// none when it is empty.
fn fragments(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(3).clamp(1, MAX_FRAGMENT_CHARS);
    chars.chunks(size).map(|piece| piece.iter().collect()).collect()
}

/// The argument text in pieces; always at least one piece (an empty string when there are no arguments), so every
/// call has a fragment after its first.
fn arguments_pieces(arguments: &str) -> Vec<String> {
    let pieces = fragments(arguments);
    if pieces.is_empty() { vec![String::new()] } else { pieces }
}

/// The `type` OpenAI reports for an HTTP status.
fn error_type(status: u16) -> &'static str {
    match status {
        429 => "rate_limit_error",
        500..=599 => "server_error",
        _ => "invalid_request_error",
    }
}

/// The `code` OpenAI reports for an HTTP status, where it has one.
fn error_code(status: u16) -> Value {
    match status {
        401 => json!("invalid_api_key"),
        404 => json!("model_not_found"),
        429 => json!("rate_limit_exceeded"),
        500..=599 => json!("server_error"),
        _ => Value::Null,
    }
}

/// An error answer with OpenAI's body shape (shared with [`crate::embeddings`]).
pub(crate) fn error(status: u16, message: &str, retry_after: Option<&str>) -> Response {
    let status_code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "error": { "message": message, "type": error_type(status), "param": null, "code": error_code(status) },
    });
    let mut headers = HeaderMap::new();
    if let Some(value) = retry_after.and_then(|value| HeaderValue::from_str(value).ok()) {
        headers.insert(header::RETRY_AFTER, value);
    }
    (status_code, headers, axum::Json(body)).into_response()
}

fn context_length(reply: &Reply, request: &RecordedRequest) -> Response {
    let (prompt, _) = usage_of(reply, request);
    let tokens = prompt.max(CONTEXT_WINDOW + 1);
    let message = format!(
        "This model's maximum context length is {CONTEXT_WINDOW} tokens. However, your messages resulted in {tokens} \
         tokens. Please reduce the length of the messages."
    );
    let body = json!({
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        },
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_cover_the_text_in_small_pieces() {
        assert!(fragments("").is_empty());
        assert_eq!(fragments("ab"), vec!["a", "b"]);
        assert_eq!(fragments("héllo wörld"), vec!["héll", "o wö", "rld"]);
        let long = "x".repeat(100);
        let pieces = fragments(&long);
        assert!(pieces.iter().all(|p| p.len() <= MAX_FRAGMENT_CHARS));
        assert_eq!(pieces.concat(), long);
        assert_eq!(arguments_pieces(""), vec![String::new()]);
    }
}
