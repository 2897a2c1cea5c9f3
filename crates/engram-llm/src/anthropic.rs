//! The Anthropic Messages client (`POST {base}/v1/messages`): maps the provider-neutral [`ChatRequest`] onto
//! Anthropic's request shape (top-level `system`, strictly alternating `user`/`assistant` messages made of content
//! blocks, tool results as `tool_result` blocks in a user message) and reads the answer back, streamed
//! (server-sent events through [`crate::sse`]) or not, into a [`ChatResponse`]. HTTP and in-stream errors are
//! classified into [`LlmError`] here; retries live in [`crate::retry`].

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::header::HeaderValue;
use serde_json::{Map, Value, json};

use crate::chat::{
    ChatMessage, ChatModel, ChatRequest, ChatResponse, Delta, DeltaSink, FinishReason, RawToolCall, TokenUsage,
    ToolChoice,
};
use crate::error::LlmError;
use crate::failure::{error_chain, forward, is_context_length, retry_after, truncate};
use crate::sse;

/// The API version every request declares.
const API_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by Anthropic; this is sent when the request sets none.
const DEFAULT_MAX_TOKENS: u32 = 4096;
/// The user turn put in front of a conversation that does not start with one, since Anthropic requires the first
/// message to be the user's (and at least one message).
const CONTINUATION: &str = "(conversation continues)";

/// A client of one Anthropic Messages endpoint.
pub struct AnthropicClient {
    http: reqwest::Client,
    endpoint: String,
    /// The `x-api-key` value, marked sensitive so HTTP-level debug output hides it.
    api_key: Option<HeaderValue>,
    timeout: Duration,
}

impl std::fmt::Debug for AnthropicClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is never printed, only whether there is one.
        f.debug_struct("AnthropicClient")
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl AnthropicClient {
    /// A client for `base_url` (such as `https://api.anthropic.com`, without `/v1`). `timeout` bounds a whole
    /// non-streaming call; a streaming call gets it for the response headers and again for each gap between events,
    /// so a long answer that keeps arriving is not cut off.
    pub fn new(base_url: String, api_key: Option<String>, timeout: Duration) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .tls_backend_rustls()
            .connect_timeout(timeout)
            .build()
            .map_err(|error| LlmError::Transport(format!("could not build the HTTP client: {error}")))?;
        let endpoint = format!("{}/v1/messages", base_url.trim_end_matches('/'));
        let api_key = match api_key {
            Some(key) => {
                let mut value = HeaderValue::from_str(&key).map_err(|_| {
                    LlmError::NotConfigured("the Anthropic API key holds characters a header cannot carry".to_owned())
                })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self { http, endpoint, api_key, timeout })
    }

    async fn send(&self, body: &Value, stream: bool) -> Result<reqwest::Response, LlmError> {
        let mut builder = self.http.post(&self.endpoint).header("anthropic-version", API_VERSION).json(body);
        if let Some(key) = &self.api_key {
            builder = builder.header("x-api-key", key.clone());
        }
        let response = if stream {
            builder = builder.header(reqwest::header::ACCEPT, "text/event-stream");
            tokio::time::timeout(self.timeout, builder.send()).await.map_err(|_| LlmError::Timeout(self.timeout))?
        } else {
            builder.timeout(self.timeout).send().await
        };
        let response = response.map_err(|error| self.transport_error(&error))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        // The error body is read under the timeout too: a stalled error must not hang the call.
        let text =
            tokio::time::timeout(self.timeout, response.text()).await.ok().and_then(Result::ok).unwrap_or_default();
        Err(classify(status, error_message(&text), retry_after))
    }

    fn transport_error(&self, error: &reqwest::Error) -> LlmError {
        if error.is_timeout() {
            LlmError::Timeout(self.timeout)
        } else {
            // reqwest's error text names the URL but never the headers, so the key cannot leak here.
            LlmError::Transport(error_chain(error))
        }
    }

    async fn complete(&self, body: &Value) -> Result<ChatResponse, LlmError> {
        let response = self.send(body, false).await?;
        let bytes = response.bytes().await.map_err(|error| self.transport_error(&error))?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|error| LlmError::Malformed(format!("the response is not JSON: {error}")))?;
        parse_message(&value)
    }

    async fn stream(&self, body: &Value, sink: &DeltaSink) -> Result<ChatResponse, LlmError> {
        let response = self.send(body, true).await?;
        let mut events = std::pin::pin!(sse::events(response));
        let mut assembly = StreamAssembly::default();
        loop {
            let next =
                tokio::time::timeout(self.timeout, events.next()).await.map_err(|_| LlmError::Timeout(self.timeout))?;
            let Some(event) = next else { break };
            let event = event?;
            if event.data.trim().is_empty() {
                continue;
            }
            let data: Value = serde_json::from_str(&event.data)
                .map_err(|error| LlmError::Malformed(format!("a stream event is not JSON: {error}")))?;
            if assembly.apply(&data, sink)? {
                break;
            }
        }
        assembly.finish()
    }
}

#[async_trait]
impl ChatModel for AnthropicClient {
    async fn chat(&self, request: &ChatRequest, sink: Option<&DeltaSink>) -> Result<ChatResponse, LlmError> {
        let body = request_body(request, sink.is_some());
        match sink {
            Some(sink) => self.stream(&body, sink).await,
            None => self.complete(&body).await,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------------------------

/// The JSON body for `request`.
pub(crate) fn request_body(request: &ChatRequest, stream: bool) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("max_tokens".into(), json!(request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)));
    if !request.system.is_empty() {
        body.insert("system".into(), json!(request.system));
    }
    body.insert("messages".into(), Value::Array(messages(&request.messages)));
    if !request.tools.is_empty() {
        let tools = request
            .tools
            .iter()
            .map(|tool| json!({"name": tool.name, "description": tool.description, "input_schema": tool.parameters}))
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        let choice = match &request.tool_choice {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::Required => json!({"type": "any"}),
            ToolChoice::None => json!({"type": "none"}),
            ToolChoice::Tool(name) => json!({"type": "tool", "name": name}),
        };
        body.insert("tool_choice".into(), choice);
    }
    if stream {
        body.insert("stream".into(), Value::Bool(true));
    }
    Value::Object(body)
}

/// The conversation as Anthropic messages. Anthropic wants roles to alternate, starting with `user`, so consecutive
/// messages of one role are merged into one message of several blocks (tool results and the user text after them
/// become one `user` message), and a conversation that does not start with the user gets a short placeholder user
/// turn. Empty text is left out (Anthropic rejects empty text blocks), and in a user message the `tool_result`
/// blocks come before any text, as Anthropic requires.
fn messages(conversation: &[ChatMessage]) -> Vec<Value> {
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in conversation {
        let (role, blocks) = match message {
            ChatMessage::User { content } => ("user", text_block(content).into_iter().collect()),
            ChatMessage::Assistant { content, tool_calls } => {
                let mut blocks: Vec<Value> = text_block(content).into_iter().collect();
                blocks.extend(tool_calls.iter().map(|call| {
                    json!({"type": "tool_use", "id": call.id, "name": call.name, "input": tool_input(&call.arguments)})
                }));
                ("assistant", blocks)
            }
            ChatMessage::Tool { tool_call_id, content, is_error, .. } => {
                let mut block = json!({"type": "tool_result", "tool_use_id": tool_call_id});
                if !content.is_empty() {
                    block["content"] = json!(content);
                }
                if *is_error {
                    block["is_error"] = Value::Bool(true);
                }
                ("user", vec![block])
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    if turns.first().is_none_or(|(role, _)| *role != "user") {
        turns.insert(0, ("user", vec![json!({"type": "text", "text": CONTINUATION})]));
    }
    turns
        .into_iter()
        .map(|(role, mut blocks)| {
            if role == "user" {
                // A stable sort: tool results first, each group in its original order.
                blocks.sort_by_key(|block| block["type"] != "tool_result");
            }
            let content = match blocks.as_slice() {
                [block] if block["type"] == "text" => block["text"].clone(),
                _ => Value::Array(blocks),
            };
            json!({"role": role, "content": content})
        })
        .collect()
}

fn text_block(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({"type": "text", "text": text}))
}

/// A tool call's raw argument text as the `input` object Anthropic requires. Arguments that are not a JSON object
/// become `{}`: the runtime has already answered such a call with an error result, which the model still sees.
fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(input)) => Value::Object(input),
        _ => json!({}),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------------------------

/// A complete (non-streaming) message body.
fn parse_message(value: &Value) -> Result<ChatResponse, LlmError> {
    if value["type"] == "error" {
        return Err(stream_error(&value["error"]));
    }
    let blocks = value["content"]
        .as_array()
        .ok_or_else(|| LlmError::Malformed("the response has no `content` array".to_owned()))?;
    let mut content = String::new();
    let mut reasoning: Option<String> = None;
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => content.push_str(block["text"].as_str().unwrap_or_default()),
            Some("thinking") => {
                reasoning.get_or_insert_default().push_str(block["thinking"].as_str().unwrap_or_default());
            }
            Some("tool_use") => tool_calls.push(RawToolCall {
                id: string_field(block, "id")?,
                name: string_field(block, "name")?,
                arguments: input_text(&block["input"]),
            }),
            // Redacted thinking, server tool blocks and future types carry nothing the runtime uses.
            _ => {}
        }
    }
    let mut usage = UsageCounts::default();
    usage.read(&value["usage"]);
    Ok(ChatResponse {
        content,
        reasoning: reasoning.filter(|text| !text.is_empty()),
        tool_calls,
        finish_reason: finish_reason(value["stop_reason"].as_str()),
        usage: usage.into_usage(),
        model: value["model"].as_str().map(str::to_owned),
    })
}

fn string_field(block: &Value, field: &str) -> Result<String, LlmError> {
    block[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| LlmError::Malformed(format!("a `{}` block has no `{field}`", block["type"])))
}

/// A `tool_use` input as raw argument text. A JSON string is taken as the argument text itself (the scripted server
/// sends malformed arguments that way); anything else is serialised.
fn input_text(input: &Value) -> String {
    match input {
        Value::String(text) => text.clone(),
        Value::Null => "{}".to_owned(),
        other => other.to_string(),
    }
}

fn finish_reason(stop_reason: Option<&str>) -> FinishReason {
    match stop_reason {
        Some("end_turn" | "stop_sequence") => FinishReason::Stop,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("max_tokens") => FinishReason::Length,
        _ => FinishReason::Other,
    }
}

/// Token counts as they arrive: the prompt counts every input kind, cached or not.
#[derive(Debug, Default)]
struct UsageCounts {
    prompt: Option<u64>,
    completion: Option<u64>,
}

impl UsageCounts {
    /// Takes the counts a `usage` object reports (later reports replace earlier ones).
    fn read(&mut self, usage: &Value) {
        let inputs = ["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"];
        if usage["input_tokens"].is_u64() {
            self.prompt = Some(inputs.iter().filter_map(|field| usage[*field].as_u64()).sum());
        }
        if let Some(output) = usage["output_tokens"].as_u64() {
            self.completion = Some(output);
        }
    }

    /// `None` when nothing (or only zeros) was reported: zero tokens is no measurement.
    fn into_usage(self) -> Option<TokenUsage> {
        let usage = TokenUsage {
            prompt_tokens: self.prompt.unwrap_or_default(),
            completion_tokens: self.completion.unwrap_or_default(),
        };
        (usage != TokenUsage::default()).then_some(usage)
    }
}

/// One content block of a streamed message, by its `index`.
#[derive(Debug)]
enum StreamBlock {
    Text(String),
    Thinking(String),
    /// `json` holds the `partial_json` fragments concatenated verbatim; `start_input` what `content_block_start` said.
    ToolUse {
        id: String,
        name: String,
        json: String,
        start_input: Value,
    },
    Other,
}

/// A streamed message being put together from its events.
#[derive(Debug, Default)]
struct StreamAssembly {
    blocks: BTreeMap<u64, StreamBlock>,
    usage: UsageCounts,
    stop_reason: Option<String>,
    model: Option<String>,
    stopped: bool,
}

impl StreamAssembly {
    /// Applies one event's data; `Ok(true)` once the message is complete.
    fn apply(&mut self, data: &Value, sink: &DeltaSink) -> Result<bool, LlmError> {
        match data["type"].as_str() {
            Some("message_start") => {
                let message = &data["message"];
                self.model = message["model"].as_str().map(str::to_owned);
                self.usage.read(&message["usage"]);
            }
            Some("content_block_start") => {
                let index = index_of(data)?;
                let block = &data["content_block"];
                let stream_block = match block["type"].as_str() {
                    Some("text") => StreamBlock::Text(block["text"].as_str().unwrap_or_default().to_owned()),
                    Some("thinking") => {
                        StreamBlock::Thinking(block["thinking"].as_str().unwrap_or_default().to_owned())
                    }
                    Some("tool_use") => StreamBlock::ToolUse {
                        id: string_field(block, "id")?,
                        name: string_field(block, "name")?,
                        json: String::new(),
                        start_input: block["input"].clone(),
                    },
                    _ => StreamBlock::Other,
                };
                // Text that arrives with the start event is forwarded like any delta.
                match &stream_block {
                    StreamBlock::Text(text) if !text.is_empty() => forward(sink, Delta::Content(text.clone())),
                    StreamBlock::Thinking(text) if !text.is_empty() => forward(sink, Delta::Reasoning(text.clone())),
                    _ => {}
                }
                self.blocks.insert(index, stream_block);
            }
            Some("content_block_delta") => {
                let index = index_of(data)?;
                let delta = &data["delta"];
                let piece = |field: &str| delta[field].as_str().unwrap_or_default().to_owned();
                match (self.blocks.get_mut(&index), delta["type"].as_str()) {
                    (Some(StreamBlock::Text(text)), Some("text_delta")) => {
                        let piece = piece("text");
                        text.push_str(&piece);
                        forward(sink, Delta::Content(piece));
                    }
                    (Some(StreamBlock::Thinking(text)), Some("thinking_delta")) => {
                        let piece = piece("thinking");
                        text.push_str(&piece);
                        forward(sink, Delta::Reasoning(piece));
                    }
                    (Some(StreamBlock::ToolUse { json, .. }), Some("input_json_delta")) => {
                        json.push_str(&piece("partial_json"));
                    }
                    (None, _) => {
                        return Err(LlmError::Malformed(format!("a delta for block {index}, which never started")));
                    }
                    // Signatures, citations and deltas of unknown kinds are not kept.
                    _ => {}
                }
            }
            Some("message_delta") => {
                if let Some(reason) = data["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(reason.to_owned());
                }
                self.usage.read(&data["usage"]);
            }
            Some("message_stop") => {
                self.stopped = true;
                return Ok(true);
            }
            Some("error") => return Err(stream_error(&data["error"])),
            // `ping`, `content_block_stop` and event types added later.
            _ => {}
        }
        Ok(false)
    }

    /// The response, once the stream has ended. A stream cut off before the model said why it stopped is a transport
    /// failure (worth retrying), not an answer.
    fn finish(self) -> Result<ChatResponse, LlmError> {
        if !self.stopped && self.stop_reason.is_none() {
            return Err(LlmError::Transport("the stream ended before the message was complete".to_owned()));
        }
        let mut content = String::new();
        let mut reasoning: Option<String> = None;
        let mut tool_calls = Vec::new();
        for block in self.blocks.into_values() {
            match block {
                StreamBlock::Text(text) => content.push_str(&text),
                StreamBlock::Thinking(text) => reasoning.get_or_insert_default().push_str(&text),
                StreamBlock::ToolUse { id, name, json, start_input } => {
                    // The fragments are kept verbatim even when they do not parse; the runtime judges them.
                    let arguments = if json.trim().is_empty() { input_text(&start_input) } else { json };
                    tool_calls.push(RawToolCall { id, name, arguments });
                }
                StreamBlock::Other => {}
            }
        }
        Ok(ChatResponse {
            content,
            reasoning: reasoning.filter(|text| !text.is_empty()),
            tool_calls,
            finish_reason: finish_reason(self.stop_reason.as_deref()),
            usage: self.usage.into_usage(),
            model: self.model,
        })
    }
}

fn index_of(data: &Value) -> Result<u64, LlmError> {
    data["index"].as_u64().ok_or_else(|| LlmError::Malformed(format!("a `{}` event has no index", data["type"])))
}

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/// The message of an error body: `error.message` of Anthropic's shape, else the body text, cut to a sane length.
fn error_message(body: &str) -> String {
    let parsed = serde_json::from_str::<Value>(body).ok();
    let message = match parsed.as_ref().and_then(|value| value["error"]["message"].as_str()) {
        Some(message) => message.to_owned(),
        None => body.trim().to_owned(),
    };
    truncate(message)
}

/// Classifies an HTTP error status.
fn classify(status: u16, message: String, retry_after: Option<Duration>) -> LlmError {
    match status {
        429 => LlmError::RateLimited { status, message, retry_after },
        400 | 413 if is_context_length(&message) => LlmError::ContextLength { message },
        500..=599 => LlmError::Server { status, message, retry_after },
        _ => LlmError::Rejected { status, message },
    }
}

/// Classifies the `error` object of an `error` stream event (or an error body), by the status its type implies.
fn stream_error(error: &Value) -> LlmError {
    let status = match error["type"].as_str() {
        Some("invalid_request_error") => 400,
        Some("authentication_error") => 401,
        Some("permission_error") => 403,
        Some("not_found_error") => 404,
        Some("request_too_large") => 413,
        Some("rate_limit_error") => 429,
        Some("overloaded_error") => 529,
        Some("timeout_error") => 504,
        // `api_error` and anything unknown: the provider failed.
        _ => 500,
    };
    let message = match error["message"].as_str() {
        Some(message) => truncate(message.to_owned()),
        None => truncate(error.to_string()),
    };
    classify(status, message, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ToolSpec;
    use crate::failure::MAX_ERROR_MESSAGE;

    fn call(id: &str, arguments: &str) -> RawToolCall {
        RawToolCall { id: id.into(), name: "search".into(), arguments: arguments.into() }
    }

    fn result(id: &str, content: &str, is_error: bool) -> ChatMessage {
        ChatMessage::Tool { tool_call_id: id.into(), name: "search".into(), content: content.into(), is_error }
    }

    fn user(text: &str) -> ChatMessage {
        ChatMessage::User { content: text.into() }
    }

    #[test]
    fn tool_results_and_following_text_merge_into_one_user_message() {
        let conversation = [
            user("find otters"),
            ChatMessage::Assistant {
                content: "Looking.".into(),
                tool_calls: vec![call("toolu_1", r#"{"q":"otters"}"#), call("toolu_2", "{broken")],
            },
            result("toolu_1", "3 hits", false),
            user("also seals"),
            result("toolu_2", "bad arguments", true),
        ];
        let expected = json!([
            {"role": "user", "content": "find otters"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Looking."},
                {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {"q": "otters"}},
                {"type": "tool_use", "id": "toolu_2", "name": "search", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "3 hits"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "bad arguments", "is_error": true},
                {"type": "text", "text": "also seals"},
            ]},
        ]);
        assert_eq!(Value::Array(messages(&conversation)), expected);
    }

    #[test]
    fn a_conversation_starts_with_the_user_and_empty_text_is_dropped() {
        let conversation = [
            ChatMessage::Assistant { content: "Hello again.".into(), tool_calls: vec![] },
            user(""),
            ChatMessage::Assistant { content: String::new(), tool_calls: vec![] },
            user("hi"),
        ];
        let expected = json!([
            {"role": "user", "content": CONTINUATION},
            {"role": "assistant", "content": "Hello again."},
            {"role": "user", "content": "hi"},
        ]);
        assert_eq!(Value::Array(messages(&conversation)), expected);
        assert_eq!(Value::Array(messages(&[])), json!([{"role": "user", "content": CONTINUATION}]));
    }

    #[test]
    fn request_body_defaults_and_tool_choice() {
        let mut request = ChatRequest {
            model: "claude-x".into(),
            system: String::new(),
            messages: vec![user("hi")],
            tools: Vec::new(),
            tool_choice: ToolChoice::Required,
            max_tokens: None,
        };
        let body = request_body(&request, false);
        assert_eq!(
            body,
            json!({"model": "claude-x", "max_tokens": 4096, "messages": [{"role": "user", "content": "hi"}]})
        );

        request.tools.push(ToolSpec { name: "search".into(), description: "Search.".into(), parameters: json!({}) });
        request.max_tokens = Some(10);
        let choices = [
            (ToolChoice::Auto, json!({"type": "auto"})),
            (ToolChoice::Required, json!({"type": "any"})),
            (ToolChoice::None, json!({"type": "none"})),
            (ToolChoice::Tool("search".into()), json!({"type": "tool", "name": "search"})),
        ];
        for (choice, expected) in choices {
            request.tool_choice = choice;
            let body = request_body(&request, true);
            assert_eq!(body["tool_choice"], expected);
            assert_eq!(body["max_tokens"], 10);
            assert_eq!(body["stream"], true);
            assert_eq!(body["tools"][0], json!({"name": "search", "description": "Search.", "input_schema": {}}));
        }
    }

    #[test]
    fn http_errors_are_classified() {
        let context = error_message(
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 9 tokens > 8 maximum"}}"#,
        );
        assert!(matches!(classify(400, context, None), LlmError::ContextLength { .. }));
        assert!(matches!(classify(400, "max_tokens: bad".into(), None), LlmError::Rejected { status: 400, .. }));
        assert!(matches!(classify(529, "Overloaded".into(), None), LlmError::Server { status: 529, .. }));
        assert_eq!(error_message(&"x".repeat(2000)).chars().count(), MAX_ERROR_MESSAGE + 1);
        assert_eq!(error_message("  <html>oops</html>\n"), "<html>oops</html>");
    }

    #[test]
    fn stream_error_events_are_classified() {
        let overloaded = stream_error(&json!({"type": "overloaded_error", "message": "Overloaded"}));
        assert_eq!(overloaded, LlmError::Server { status: 529, message: "Overloaded".into(), retry_after: None });
        let limited = stream_error(&json!({"type": "rate_limit_error", "message": "slow"}));
        assert!(matches!(limited, LlmError::RateLimited { status: 429, .. }));
        assert!(matches!(stream_error(&json!({"type": "api_error"})), LlmError::Server { status: 500, .. }));
        let context = stream_error(&json!({"type": "invalid_request_error", "message": "prompt is too long"}));
        assert!(matches!(context, LlmError::ContextLength { .. }));
        let auth = stream_error(&json!({"type": "authentication_error", "message": "bad key"}));
        assert!(matches!(auth, LlmError::Rejected { status: 401, .. }));
    }

    #[test]
    fn stream_assembly_stops_on_error_events_and_refuses_cut_off_streams() {
        let (sink, _receiver) = tokio::sync::mpsc::unbounded_channel();
        let mut assembly = StreamAssembly::default();
        let start = json!({"type": "message_start", "message": {"model": "m", "usage": {"input_tokens": 3}}});
        assert_eq!(assembly.apply(&start, &sink), Ok(false));
        let error = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        assert!(matches!(assembly.apply(&error, &sink), Err(LlmError::Server { status: 529, .. })));
        assert!(matches!(assembly.finish(), Err(LlmError::Transport(_))));

        let mut assembly = StreamAssembly::default();
        let orphan = json!({"type": "content_block_delta", "index": 4, "delta": {"type": "text_delta", "text": "x"}});
        assert!(matches!(assembly.apply(&orphan, &sink), Err(LlmError::Malformed(_))));
    }

    #[test]
    fn usage_adds_cache_tokens_and_ignores_zeros() {
        let mut usage = UsageCounts::default();
        usage.read(&json!({"input_tokens": 5, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 20}));
        usage.read(&json!({"output_tokens": 7}));
        assert_eq!(usage.into_usage(), Some(TokenUsage { prompt_tokens: 35, completion_tokens: 7 }));
        let mut zeros = UsageCounts::default();
        zeros.read(&json!({"input_tokens": 0, "output_tokens": 0}));
        assert_eq!(zeros.into_usage(), None);
    }
}
