//! The OpenAI-compatible chat completions client (`POST {base_url}/chat/completions`), used for OpenAI itself and
//! for every server that copies its wire format (Ollama, vLLM, llama.cpp, LM Studio, OpenRouter …). It maps the
//! provider-neutral [`ChatRequest`] onto the request body, reads the answer back, streamed (server-sent events through
//! [`crate::sse`], tool-call arguments reassembled by `index`) or not, into a [`ChatResponse`], and classifies HTTP
//! errors into [`LlmError`]. Retries live in [`crate::retry`].

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

use crate::chat::{
    ChatMessage, ChatModel, ChatRequest, ChatResponse, Delta, DeltaSink, FinishReason, RawToolCall, TokenUsage,
    ToolChoice,
};
use crate::error::LlmError;
use crate::failure::{error_chain, forward, is_context_length, retry_after, truncate};
use crate::sse;

/// Longest wait for a TCP (and TLS) connection, whatever the call timeout: a server that does not accept within
/// this is down, and failing fast lets the retry policy try again.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one OpenAI-compatible endpoint. Cheap to share: one connection pool per client.
pub struct OpenAiClient {
    http: reqwest::Client,
    endpoint: String,
    api_key: Option<String>,
    timeout: Duration,
    provider_label: &'static str,
}

impl std::fmt::Debug for OpenAiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is never printed, only whether there is one.
        f.debug_struct("OpenAiClient")
            .field("provider", &self.provider_label)
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl OpenAiClient {
    /// A client for `base_url` (such as `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`; a trailing `/`
    /// is ignored). `api_key`, when set, is sent as `Authorization: Bearer`. `timeout` bounds a whole non-streaming
    /// call; a streaming call gets it for the response headers and again for each gap between events, so a long
    /// answer that keeps arriving is not cut off. `provider_label` (`openai`, `ollama` …) names the provider in
    /// transport errors.
    pub fn new(
        base_url: String,
        api_key: Option<String>,
        timeout: Duration,
        provider_label: &'static str,
    ) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .tls_backend_rustls()
            .connect_timeout(timeout.min(CONNECT_TIMEOUT))
            .build()
            .map_err(|error| LlmError::Transport(format!("could not build the HTTP client: {error}")))?;
        let endpoint = format!("{}/chat/completions", base_url.trim_end_matches('/'));
        Ok(Self { http, endpoint, api_key, timeout, provider_label })
    }

    async fn send(&self, body: &Value, stream: bool) -> Result<reqwest::Response, LlmError> {
        let mut builder = self.http.post(&self.endpoint).json(body);
        if let Some(key) = &self.api_key {
            builder = builder.bearer_auth(key);
        }
        let response = if stream {
            builder = builder.header(reqwest::header::ACCEPT, "text/event-stream");
            tokio::time::timeout(self.timeout, builder.send()).await.map_err(|_| LlmError::Timeout(self.timeout))?
        } else {
            builder.timeout(self.timeout).send().await
        };
        let response = response.map_err(|error| self.transport_error(&error))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry_after(response.headers());
        let text = response.text().await.unwrap_or_default();
        Err(classify(status.as_u16(), &text, retry_after))
    }

    fn transport_error(&self, error: &reqwest::Error) -> LlmError {
        if error.is_timeout() {
            LlmError::Timeout(self.timeout)
        } else {
            // reqwest's error text names the URL but never the headers, so the key cannot leak here.
            LlmError::Transport(format!("{}: {}", self.provider_label, error_chain(error)))
        }
    }

    async fn complete(&self, body: &Value) -> Result<ChatResponse, LlmError> {
        let response = self.send(body, false).await?;
        let bytes = response.bytes().await.map_err(|error| self.transport_error(&error))?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|error| LlmError::Malformed(format!("the response is not JSON ({error}): {}", excerpt(&bytes))))?;
        parse_completion(&value)
    }

    async fn stream(&self, body: &Value, sink: &DeltaSink) -> Result<ChatResponse, LlmError> {
        let response = self.send(body, true).await?;
        if is_json(response.headers()) {
            // Some compatible servers ignore `stream: true` and answer in one piece.
            let bytes = response.bytes().await.map_err(|error| self.transport_error(&error))?;
            let value: Value = serde_json::from_slice(&bytes).map_err(|error| {
                LlmError::Malformed(format!("the response is not JSON ({error}): {}", excerpt(&bytes)))
            })?;
            let answer = parse_completion(&value)?;
            if let Some(reasoning) = &answer.reasoning {
                forward(sink, Delta::Reasoning(reasoning.clone()));
            }
            if !answer.content.is_empty() {
                forward(sink, Delta::Content(answer.content.clone()));
            }
            return Ok(answer);
        }
        let mut events = std::pin::pin!(sse::events(response));
        let mut assembly = StreamAssembly::default();
        loop {
            let next =
                tokio::time::timeout(self.timeout, events.next()).await.map_err(|_| LlmError::Timeout(self.timeout))?;
            let Some(event) = next else { break };
            let data = event?.data;
            let data = data.trim();
            if data.is_empty() {
                continue;
            }
            if data == "[DONE]" {
                assembly.done = true;
                break;
            }
            let chunk: Value = serde_json::from_str(data).map_err(|error| {
                LlmError::Malformed(format!("a stream chunk is not JSON ({error}): {}", excerpt(data.as_bytes())))
            })?;
            assembly.apply(&chunk, sink)?;
        }
        assembly.finish()
    }
}

#[async_trait]
impl ChatModel for OpenAiClient {
    async fn chat(&self, request: &ChatRequest, sink: Option<&DeltaSink>) -> Result<ChatResponse, LlmError> {
        let body = request_body(request, sink.is_some());
        match sink {
            Some(sink) => self.stream(&body, sink).await,
            None => self.complete(&body).await,
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

// ---------------------------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------------------------

/// The JSON body for `request`.
pub(crate) fn request_body(request: &ChatRequest, stream: bool) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("messages".into(), Value::Array(messages(request)));
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": { "name": tool.name, "description": tool.description, "parameters": tool.parameters },
                })
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        let tool_choice = match &request.tool_choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::Required => json!("required"),
            ToolChoice::None => json!("none"),
            ToolChoice::Tool(name) => json!({ "type": "function", "function": { "name": name } }),
        };
        body.insert("tool_choice".into(), tool_choice);
    }
    if let Some(max_tokens) = request.max_tokens {
        // `max_tokens` rather than `max_completion_tokens`: every compatible server understands it.
        body.insert("max_tokens".into(), json!(max_tokens));
    }
    if stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    Value::Object(body)
}

/// The system prompt as a leading `system` message (none when it is empty), then the conversation. Tool results are sent verbatim: the
/// runtime has already written any error wording into the text, and the wire format has no error flag.
fn messages(request: &ChatRequest) -> Vec<Value> {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        messages.push(json!({ "role": "system", "content": request.system }));
    }
    for message in &request.messages {
        messages.push(match message {
            ChatMessage::User { content } => json!({ "role": "user", "content": content }),
            ChatMessage::Assistant { content, tool_calls } if tool_calls.is_empty() => {
                json!({ "role": "assistant", "content": content })
            }
            ChatMessage::Assistant { content, tool_calls } => {
                let content = if content.is_empty() { Value::Null } else { json!(content) };
                let tool_calls: Vec<Value> = tool_calls
                    .iter()
                    .map(|call| {
                        json!({
                            "id": call.id,
                            "type": "function",
                            "function": { "name": call.name, "arguments": call.arguments },
                        })
                    })
                    .collect();
                json!({ "role": "assistant", "content": content, "tool_calls": tool_calls })
            }
            ChatMessage::Tool { tool_call_id, content, .. } => {
                json!({ "role": "tool", "tool_call_id": tool_call_id, "content": content })
            }
        });
    }
    messages
}

// ---------------------------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------------------------

/// Reads a non-streaming `chat.completion` body.
fn parse_completion(value: &Value) -> Result<ChatResponse, LlmError> {
    if let Some(error) = value.get("error").filter(|error| !error.is_null()) {
        return Err(body_error(error));
    }
    let choice = value["choices"]
        .get(0)
        .ok_or_else(|| LlmError::Malformed(format!("the response has no choices: {}", excerpt_value(value))))?;
    let message = &choice["message"];
    let mut tool_calls = Vec::new();
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let name = call["function"]["name"].as_str().unwrap_or_default();
        if name.is_empty() {
            return Err(LlmError::Malformed(format!("a tool call has no name: {call}")));
        }
        tool_calls.push(RawToolCall {
            id: call["id"].as_str().filter(|id| !id.is_empty()).map_or_else(generated_id, str::to_owned),
            name: name.to_owned(),
            arguments: arguments_text(&call["function"]["arguments"]),
        });
    }
    let finish_reason = finish_reason(choice["finish_reason"].as_str(), !tool_calls.is_empty());
    Ok(ChatResponse {
        content: text_of(&message["content"]),
        reasoning: reasoning_of(message).filter(|reasoning| !reasoning.is_empty()).map(str::to_owned),
        tool_calls,
        finish_reason,
        usage: usage_of(&value["usage"]),
        model: value["model"].as_str().map(str::to_owned),
    })
}

/// Message text: a string, or the `text` of an array of content parts (some servers send parts); `null` is empty.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts.iter().filter_map(|part| part["text"].as_str()).collect(),
        _ => String::new(),
    }
}

/// Reasoning text: `reasoning_content` (DeepSeek, vLLM, llama.cpp) or `reasoning` (OpenRouter, Ollama). Servers that
/// send both send the same text, so only one is taken.
fn reasoning_of(message: &Value) -> Option<&str> {
    message["reasoning_content"].as_str().or_else(|| message["reasoning"].as_str())
}

/// The argument text as the model wrote it; a server that sends an object instead of a string gets it serialised.
fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An id for a tool call the server sent without one, so the runtime can still pair the result with it. Random, so
/// ids stay unique across the turns of a conversation.
fn generated_id() -> String {
    format!("call_{:016x}", rand::random::<u64>())
}

fn finish_reason(reason: Option<&str>, has_tool_calls: bool) -> FinishReason {
    if has_tool_calls {
        return FinishReason::ToolCalls;
    }
    match reason {
        Some("stop") | None => FinishReason::Stop,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        Some("length") => FinishReason::Length,
        Some(_) => FinishReason::Other,
    }
}

/// `usage` when reported; `None` when absent or `null`.
fn usage_of(usage: &Value) -> Option<TokenUsage> {
    let prompt_tokens = usage["prompt_tokens"].as_u64();
    let completion_tokens = usage["completion_tokens"].as_u64();
    (prompt_tokens.is_some() || completion_tokens.is_some()).then(|| TokenUsage {
        prompt_tokens: prompt_tokens.unwrap_or(0),
        completion_tokens: completion_tokens.unwrap_or(0),
    })
}

/// A tool call being reassembled from stream fragments.
#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// The answer being reassembled from `chat.completion.chunk`s.
#[derive(Debug, Default)]
struct StreamAssembly {
    content: String,
    reasoning: String,
    /// By the `index` the server gives each call.
    calls: BTreeMap<u64, PartialCall>,
    finish_reason: Option<String>,
    usage: Option<TokenUsage>,
    model: Option<String>,
    /// Whether any chunk carried a choice.
    any_choice: bool,
    /// Whether `data: [DONE]` arrived.
    done: bool,
}

impl StreamAssembly {
    /// Folds one chunk in, forwarding text fragments as they come.
    fn apply(&mut self, chunk: &Value, sink: &DeltaSink) -> Result<(), LlmError> {
        if let Some(error) = chunk.get("error").filter(|error| !error.is_null()) {
            return Err(body_error(error));
        }
        if let Some(model) = chunk["model"].as_str() {
            self.model = Some(model.to_owned());
        }
        if let Some(usage) = usage_of(&chunk["usage"]) {
            self.usage = Some(usage);
        }
        let Some(choice) = chunk["choices"].get(0) else { return Ok(()) };
        self.any_choice = true;
        let delta = &choice["delta"];
        if let Some(reasoning) = reasoning_of(delta).filter(|text| !text.is_empty()) {
            self.reasoning.push_str(reasoning);
            forward(sink, Delta::Reasoning(reasoning.to_owned()));
        }
        let content = text_of(&delta["content"]);
        if !content.is_empty() {
            self.content.push_str(&content);
            forward(sink, Delta::Content(content));
        }
        for (position, fragment) in delta["tool_calls"].as_array().into_iter().flatten().enumerate() {
            self.apply_call(position, fragment);
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(reason.to_owned());
        }
        Ok(())
    }

    /// Folds in one tool-call fragment: the first for an index carries id and name, later ones more arguments.
    fn apply_call(&mut self, position: usize, fragment: &Value) {
        let id = fragment["id"].as_str().filter(|id| !id.is_empty());
        let index = match fragment["index"].as_u64() {
            Some(index) => index,
            // Without an index (a few servers), a new id starts a new call and anything else continues the last.
            None => match (id, self.calls.last_key_value()) {
                (Some(id), Some((&last, call))) if call.id == id => last,
                (None, Some((&last, _))) => last,
                _ => self.calls.last_key_value().map_or(position as u64, |(&last, _)| last + 1),
            },
        };
        let call = self.calls.entry(index).or_default();
        if let Some(id) = id.filter(|_| call.id.is_empty()) {
            call.id = id.to_owned();
        }
        if let Some(name) = fragment["function"]["name"].as_str().filter(|_| call.name.is_empty()) {
            call.name = name.to_owned();
        }
        call.arguments.push_str(&arguments_text(&fragment["function"]["arguments"]));
    }

    /// The assembled answer. A stream that stopped with neither a finish reason nor `[DONE]` was cut off (worth
    /// retrying); one that never carried a choice has no answer.
    fn finish(self) -> Result<ChatResponse, LlmError> {
        if self.finish_reason.is_none() && !self.done {
            return Err(LlmError::Transport("the stream ended before the answer was complete".into()));
        }
        if !self.any_choice {
            return Err(LlmError::Malformed("the stream carried no answer".into()));
        }
        let mut tool_calls = Vec::with_capacity(self.calls.len());
        for call in self.calls.into_values() {
            if call.name.is_empty() {
                return Err(LlmError::Malformed(format!("a streamed tool call has no name (id {:?})", call.id)));
            }
            let id = if call.id.is_empty() { generated_id() } else { call.id };
            tool_calls.push(RawToolCall { id, name: call.name, arguments: call.arguments });
        }
        Ok(ChatResponse {
            finish_reason: finish_reason(self.finish_reason.as_deref(), !tool_calls.is_empty()),
            content: self.content,
            reasoning: (!self.reasoning.is_empty()).then_some(self.reasoning),
            tool_calls,
            usage: self.usage,
            model: self.model,
        })
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/// Classifies an HTTP error from its status and body.
pub(crate) fn classify(status: u16, body: &str, retry_after: Option<Duration>) -> LlmError {
    let parsed = serde_json::from_str::<Value>(body).ok();
    let error = parsed.as_ref().map(|value| &value["error"]);
    let message = match error {
        // `{"error": {"message": …}}` (OpenAI and most), `{"error": "…"}` (some), else the body itself.
        Some(Value::Object(object)) => object.get("message").and_then(Value::as_str).map(str::to_owned),
        Some(Value::String(text)) => Some(text.clone()),
        _ => None,
    };
    let message = truncate(message.unwrap_or_else(|| body.trim().to_owned()));
    let code = error.and_then(|error| error["code"].as_str());
    match status {
        429 => LlmError::RateLimited { status, message, retry_after },
        400 | 413 if code == Some("context_length_exceeded") || is_context_length(&message) => {
            LlmError::ContextLength { message }
        }
        500..=599 => LlmError::Server { status, message, retry_after },
        _ => LlmError::Rejected { status, message },
    }
}

/// An `error` object inside a 200 answer (some compatible servers report failures that way, also mid-stream). A
/// numeric HTTP-like `code` is classified as that status; otherwise context-length wording is recognised and
/// anything else is an unreadable answer.
fn body_error(error: &Value) -> LlmError {
    let message = match error {
        Value::String(text) => text.clone(),
        _ => error["message"].as_str().map_or_else(|| error.to_string(), str::to_owned),
    };
    let message = truncate(message);
    let status = error["code"].as_u64().and_then(|code| u16::try_from(code).ok()).filter(|c| (400..600).contains(c));
    match status {
        Some(status) => classify(status, &json!({ "error": { "message": message } }).to_string(), None),
        None if error["code"] == "context_length_exceeded" || is_context_length(&message) => {
            LlmError::ContextLength { message }
        }
        None => LlmError::Malformed(format!("the provider reported an error: {message}")),
    }
}

fn excerpt(bytes: &[u8]) -> String {
    truncate(String::from_utf8_lossy(bytes).into_owned())
}

fn excerpt_value(value: &Value) -> String {
    truncate(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ToolSpec;
    use crate::failure::MAX_ERROR_MESSAGE;
    use reqwest::header::HeaderValue;
    use std::time::SystemTime;
    use tokio::sync::mpsc;

    #[test]
    fn the_request_body_maps_every_message_kind() {
        let request = ChatRequest {
            model: "gpt-test".into(),
            system: "sys".into(),
            messages: vec![
                ChatMessage::User { content: "hi".into() },
                ChatMessage::Assistant {
                    content: String::new(),
                    tool_calls: vec![RawToolCall { id: "c1".into(), name: "f".into(), arguments: "{\"a\":".into() }],
                },
                ChatMessage::Tool {
                    tool_call_id: "c1".into(),
                    name: "f".into(),
                    content: "bad".into(),
                    is_error: true,
                },
                ChatMessage::Assistant { content: String::new(), tool_calls: vec![] },
            ],
            tools: vec![ToolSpec { name: "f".into(), description: "d".into(), parameters: json!({"type": "object"}) }],
            tool_choice: ToolChoice::Tool("f".into()),
            max_tokens: Some(7),
        };
        let body = request_body(&request, true);
        assert_eq!(
            body["messages"],
            json!([
                { "role": "system", "content": "sys" },
                { "role": "user", "content": "hi" },
                { "role": "assistant", "content": null, "tool_calls": [
                    { "id": "c1", "type": "function", "function": { "name": "f", "arguments": "{\"a\":" } },
                ] },
                { "role": "tool", "tool_call_id": "c1", "content": "bad" },
                { "role": "assistant", "content": "" },
            ])
        );
        assert_eq!(body["tool_choice"], json!({ "type": "function", "function": { "name": "f" } }));
        assert_eq!(body["max_tokens"], 7);
        assert_eq!(body["stream_options"]["include_usage"], true);

        let bare = ChatRequest { tools: vec![], max_tokens: None, ..request };
        let body = request_body(&bare, false);
        for absent in ["tools", "tool_choice", "max_tokens", "stream", "stream_options"] {
            assert!(body.get(absent).is_none(), "{absent} is omitted");
        }
    }

    #[test]
    fn errors_are_classified_from_status_code_and_wording() {
        let body = r#"{"error":{"message":"slow","type":"rate_limit_error"}}"#;
        let limited = classify(429, body, Some(Duration::from_secs(2)));
        let expected =
            LlmError::RateLimited { status: 429, message: "slow".into(), retry_after: Some(Duration::from_secs(2)) };
        assert_eq!(limited, expected);
        let by_code = classify(400, r#"{"error":{"message":"no","code":"context_length_exceeded"}}"#, None);
        assert!(matches!(by_code, LlmError::ContextLength { .. }));
        let by_wording = classify(413, r#"{"error":"the prompt is too long for this model"}"#, None);
        assert!(matches!(by_wording, LlmError::ContextLength { .. }));
        assert!(matches!(
            classify(400, r#"{"error":{"message":"bad"}}"#, None),
            LlmError::Rejected { status: 400, .. }
        ));
        let html = format!("<html>{}</html>", "x".repeat(2000));
        let LlmError::Server { status: 502, message, .. } = classify(502, &html, None) else { panic!() };
        assert_eq!(message.chars().count(), MAX_ERROR_MESSAGE + 1);
        assert!(matches!(body_error(&json!({ "message": "busy", "code": 503 })), LlmError::Server { status: 503, .. }));
        assert!(matches!(body_error(&json!({ "message": "odd" })), LlmError::Malformed(_)));
    }

    #[test]
    fn retry_after_reads_milliseconds_seconds_and_dates() {
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_str(value).unwrap());
            }
            map
        };
        assert_eq!(retry_after(&headers(&[("retry-after", "3")])), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&headers(&[("retry-after", "1.5")])), Some(Duration::from_millis(1500)));
        let both = headers(&[("retry-after", "3"), ("retry-after-ms", "250")]);
        assert_eq!(retry_after(&both), Some(Duration::from_millis(250)));
        let past = headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]);
        assert_eq!(retry_after(&past), Some(Duration::ZERO));
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let wait = retry_after(&headers(&[("retry-after", &future)])).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120), "{wait:?}");
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn stream_assembly_joins_calls_by_index_and_refuses_cut_off_streams() {
        let (sink, mut deltas) = mpsc::unbounded_channel();
        let mut assembly = StreamAssembly::default();
        let chunks = [
            json!({ "choices": [{ "delta": { "role": "assistant", "content": "" } }] }),
            json!({ "choices": [{ "delta": { "reasoning": "hm" } }] }),
            json!({ "choices": [{ "delta": { "tool_calls": [
                { "index": 0, "id": "a", "function": { "name": "f", "arguments": "{\"x\"" } },
                { "index": 1, "id": "b", "function": { "name": "g", "arguments": "" } },
            ] } }] }),
            json!({ "choices": [{ "delta": { "tool_calls": [{ "index": 1, "function": { "arguments": "{}" } }] } }] }),
            json!({ "choices": [{ "delta": { "tool_calls": [{ "index": 0, "function": { "arguments": ":1}" } }] } }] }),
        ];
        for chunk in &chunks {
            assembly.apply(chunk, &sink).unwrap();
        }
        assert_eq!(deltas.try_recv().unwrap(), Delta::Reasoning("hm".into()));
        assert!(deltas.try_recv().is_err(), "empty content is not forwarded");

        let cut_off = StreamAssembly { calls: BTreeMap::new(), ..Default::default() };
        assert!(matches!(cut_off.finish(), Err(LlmError::Transport(_))));
        assembly.done = true;
        let answer = assembly.finish().unwrap();
        assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
        assert_eq!(answer.reasoning.as_deref(), Some("hm"));
        let calls: Vec<_> =
            answer.tool_calls.iter().map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str())).collect();
        assert_eq!(calls, vec![("a", "f", "{\"x\":1}"), ("b", "g", "{}")]);
    }

    #[test]
    fn a_completion_without_ids_or_finish_reason_still_reads() {
        let value = json!({ "choices": [{ "message": { "content": [{ "type": "text", "text": "hi" }], "tool_calls": [
            { "function": { "name": "f", "arguments": { "x": 1 } } },
        ] } }] });
        let answer = parse_completion(&value).unwrap();
        assert_eq!(answer.content, "hi");
        assert!(answer.tool_calls[0].id.starts_with("call_"));
        assert_eq!((answer.tool_calls[0].name.as_str(), answer.tool_calls[0].arguments.as_str()), ("f", "{\"x\":1}"));
        assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
        assert_eq!(answer.usage, None);
        assert!(matches!(parse_completion(&json!({ "choices": [] })), Err(LlmError::Malformed(_))));
    }
}
