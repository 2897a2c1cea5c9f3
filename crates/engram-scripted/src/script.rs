//! Scripts: the turns a scripted model plays, the replies it gives, and the requests it records.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

/// Which wire format a scripted server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    OpenAi,
    Anthropic,
}

/// A tool call the scripted model makes. `arguments` is sent verbatim as the raw JSON text (so a test can send
/// malformed JSON); `id` defaults to a generated one (`call_N` / `toolu_N`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedCall {
    pub id: Option<String>,
    pub name: String,
    pub arguments: String,
}

/// What a reply is.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyKind {
    /// Text and zero or more tool calls (no calls: the model ends its turn).
    Message { text: String, calls: Vec<ScriptedCall> },
    /// An HTTP error with the provider's error body shape; `retry_after` becomes a `Retry-After` header.
    Error { status: u16, message: String, retry_after: Option<String> },
    /// The provider's "prompt too long" error (OpenAI: 400 `context_length_exceeded`; Anthropic: 400
    /// `invalid_request_error` "prompt is too long").
    ContextLength,
}

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub kind: ReplyKind,
    /// Reasoning text (OpenAI-compatible `reasoning_content`; Anthropic `thinking` block).
    pub reasoning: Option<String>,
    /// `(prompt_tokens, completion_tokens)`; when `None` the server reports an estimate (body bytes / 4).
    pub usage: Option<(u64, u64)>,
    /// Send no usage at all (some compatible servers do not).
    pub omit_usage: bool,
    /// Wait this long before answering (to test timeouts and cancellation).
    pub delay: Option<Duration>,
}

impl Reply {
    fn of(kind: ReplyKind) -> Self {
        Self { kind, reasoning: None, usage: None, omit_usage: false, delay: None }
    }

    /// A plain text answer that ends the turn.
    pub fn text(text: impl Into<String>) -> Self {
        Self::of(ReplyKind::Message { text: text.into(), calls: Vec::new() })
    }

    /// One tool call with well-formed JSON arguments.
    pub fn tool(name: impl Into<String>, arguments: Value) -> Self {
        Self::tools([(name.into(), arguments)])
    }

    /// Several tool calls in one turn.
    pub fn tools(calls: impl IntoIterator<Item = (String, Value)>) -> Self {
        let calls = calls
            .into_iter()
            .map(|(name, arguments)| ScriptedCall { id: None, name, arguments: arguments.to_string() })
            .collect();
        Self::of(ReplyKind::Message { text: String::new(), calls })
    }

    /// One tool call whose argument text is sent verbatim (may be malformed JSON).
    pub fn raw_tool(name: impl Into<String>, arguments: impl Into<String>) -> Self {
        let call = ScriptedCall { id: None, name: name.into(), arguments: arguments.into() };
        Self::of(ReplyKind::Message { text: String::new(), calls: vec![call] })
    }

    /// An HTTP error.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self::of(ReplyKind::Error { status, message: message.into(), retry_after: None })
    }

    /// The provider's context-length error.
    pub fn context_length() -> Self {
        Self::of(ReplyKind::ContextLength)
    }

    /// Adds text alongside the tool calls of a message reply.
    pub fn with_text(mut self, new_text: impl Into<String>) -> Self {
        if let ReplyKind::Message { text, .. } = &mut self.kind {
            *text = new_text.into();
        }
        self
    }

    /// Adds a `Retry-After` header to an error reply.
    pub fn retry_after(mut self, value: impl Into<String>) -> Self {
        if let ReplyKind::Error { retry_after, .. } = &mut self.kind {
            *retry_after = Some(value.into());
        }
        self
    }

    pub fn with_reasoning(mut self, reasoning: impl Into<String>) -> Self {
        self.reasoning = Some(reasoning.into());
        self
    }

    pub fn with_usage(mut self, prompt_tokens: u64, completion_tokens: u64) -> Self {
        self.usage = Some((prompt_tokens, completion_tokens));
        self
    }

    pub fn without_usage(mut self) -> Self {
        self.omit_usage = true;
        self
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

/// A check on the request a turn receives; `Err` explains what was wrong.
pub type Expectation = Arc<dyn Fn(&RecordedRequest) -> Result<(), String> + Send + Sync>;

/// One turn of a script: the checks on the incoming request and the reply.
#[derive(Clone)]
pub struct Turn {
    pub reply: Reply,
    pub expectations: Vec<Expectation>,
}

impl std::fmt::Debug for Turn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn").field("reply", &self.reply).field("expectations", &self.expectations.len()).finish()
    }
}

impl From<Reply> for Turn {
    fn from(reply: Reply) -> Self {
        Self { reply, expectations: Vec::new() }
    }
}

impl Turn {
    pub fn new(reply: Reply) -> Self {
        reply.into()
    }

    /// Adds a custom check.
    pub fn expect(mut self, check: impl Fn(&RecordedRequest) -> Result<(), String> + Send + Sync + 'static) -> Self {
        self.expectations.push(Arc::new(check));
        self
    }

    /// The system prompt must contain `needle`.
    pub fn expect_system_contains(self, needle: impl Into<String>) -> Self {
        let needle = needle.into();
        self.expect(move |req| {
            let system = req.system_text();
            if system.contains(&needle) { Ok(()) } else { Err(format!("system prompt lacks {needle:?}: {system}")) }
        })
    }

    /// The request must offer a tool named `name`.
    pub fn expect_tool(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.expect(move |req| {
            let tools = req.tool_names();
            if tools.contains(&name) { Ok(()) } else { Err(format!("tool {name:?} not offered: {tools:?}")) }
        })
    }
}

/// A request the scripted server received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub wire: Wire,
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether the client asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.body["stream"].as_bool().unwrap_or(false)
    }

    /// The system prompt: OpenAI's leading `system`/`developer` message, or Anthropic's `system` (string or text
    /// blocks joined).
    pub fn system_text(&self) -> String {
        match self.wire {
            Wire::OpenAi => self.body["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| matches!(m["role"].as_str(), Some("system" | "developer")))
                .map(|m| content_text(&m["content"]))
                .collect::<Vec<_>>()
                .join("\n"),
            Wire::Anthropic => content_text(&self.body["system"]),
        }
    }

    /// The conversation after the system prompt, as sent.
    pub fn messages(&self) -> Vec<Value> {
        let all = self.body["messages"].as_array().cloned().unwrap_or_default();
        match self.wire {
            Wire::OpenAi => {
                all.into_iter().filter(|m| !matches!(m["role"].as_str(), Some("system" | "developer"))).collect()
            }
            Wire::Anthropic => all,
        }
    }

    /// The names of the tools offered.
    pub fn tool_names(&self) -> Vec<String> {
        self.body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["function"]["name"].as_str().or_else(|| t["name"].as_str()).map(str::to_owned))
            .collect()
    }

    /// The text of the last user message (for Anthropic, its text blocks; tool results are not user text).
    pub fn last_user_text(&self) -> Option<String> {
        self.messages().iter().rev().filter(|m| m["role"] == "user").find_map(|m| {
            let text = content_text(&m["content"]);
            (!text.is_empty()).then_some(text)
        })
    }

    /// The whole body as JSON text, for `contains` checks.
    pub fn text(&self) -> String {
        self.body.to_string()
    }
}

/// Text of a content field: a string, or the concatenated `text` of an array of content blocks.
pub(crate) fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}
