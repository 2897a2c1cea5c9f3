//! The Anthropic Messages client against a scripted Anthropic server: text, tool use and the request shape it sends,
//! streaming (text deltas, fragmented tool input, thinking), usage, and error classification.

// Test helpers outside `#[test]` functions fail loudly too; clippy's test allowance does not reach them.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use engram_llm::{
    AnthropicClient, ChatMessage, ChatModel, ChatRequest, ChatResponse, Delta, FinishReason, LlmError, RawToolCall,
    TokenUsage, ToolChoice, ToolSpec,
};
use engram_scripted::{Reply, ScriptedModel, Turn};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(10);

fn client(model: &ScriptedModel) -> AnthropicClient {
    AnthropicClient::new(model.base_url().to_owned(), Some("sk-ant-secret".to_owned()), TIMEOUT).unwrap()
}

fn search_tool() -> ToolSpec {
    ToolSpec {
        name: "search".into(),
        description: "Search the archive.".into(),
        parameters: json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}),
    }
}

fn request(text: &str) -> ChatRequest {
    ChatRequest {
        model: "claude-test".into(),
        system: "You are a helpful persona.".into(),
        messages: vec![ChatMessage::User { content: text.into() }],
        tools: vec![search_tool()],
        tool_choice: ToolChoice::Auto,
        max_tokens: None,
    }
}

/// Calls with a sink and returns the response with every delta that arrived.
async fn stream(client: &AnthropicClient, request: &ChatRequest) -> (Result<ChatResponse, LlmError>, Vec<Delta>) {
    let (sink, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let response = client.chat(request, Some(&sink)).await;
    drop(sink);
    let mut deltas = Vec::new();
    while let Some(delta) = receiver.recv().await {
        deltas.push(delta);
    }
    (response, deltas)
}

fn content_deltas(deltas: &[Delta]) -> Vec<&str> {
    deltas
        .iter()
        .filter_map(|delta| match delta {
            Delta::Content(text) => Some(text.as_str()),
            Delta::Reasoning(_) => None,
        })
        .collect()
}

#[tokio::test]
async fn a_text_reply() {
    let model = ScriptedModel::anthropic([Turn::new(Reply::text("Hello there!").with_usage(11, 3))]).await;
    let response = client(&model).chat(&request("hi"), None).await.unwrap();
    assert_eq!(
        response,
        ChatResponse {
            content: "Hello there!".into(),
            reasoning: None,
            tool_calls: Vec::new(),
            finish_reason: FinishReason::Stop,
            usage: Some(TokenUsage { prompt_tokens: 11, completion_tokens: 3 }),
            model: Some("claude-test".into()),
        }
    );
    let sent = model.last_request().unwrap();
    assert_eq!(sent.body["max_tokens"], 4096);
    assert!(sent.body.get("stream").is_none());
    model.assert_done();
}

#[tokio::test]
async fn a_tool_use_round_trip_sends_the_anthropic_shape() {
    let model = ScriptedModel::anthropic([Turn::new(
        Reply::tool("search", json!({"query": "seals"})).with_text("Searching again."),
    )
    .expect_system_contains("persona")
    .expect_tool("search")])
    .await;
    let mut chat = request("find otters");
    chat.messages.extend([
        ChatMessage::Assistant {
            content: "Let me look.".into(),
            tool_calls: vec![
                RawToolCall { id: "toolu_a".into(), name: "search".into(), arguments: r#"{"query":"otters"}"#.into() },
                RawToolCall { id: "toolu_b".into(), name: "search".into(), arguments: r#"{"query": "ott"#.into() },
            ],
        },
        ChatMessage::Tool {
            tool_call_id: "toolu_a".into(),
            name: "search".into(),
            content: "3 otters".into(),
            is_error: false,
        },
        ChatMessage::Tool {
            tool_call_id: "toolu_b".into(),
            name: "search".into(),
            content: "arguments are not valid JSON".into(),
            is_error: true,
        },
        ChatMessage::User { content: "and seals?".into() },
    ]);
    chat.tool_choice = ToolChoice::Tool("search".into());
    chat.max_tokens = Some(512);

    let response = client(&model).chat(&chat, None).await.unwrap();
    assert_eq!(response.content, "Searching again.");
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    assert_eq!(response.tool_calls.len(), 1);
    let call = &response.tool_calls[0];
    assert!(call.id.starts_with("toolu_"), "{call:?}");
    assert_eq!(call.name, "search");
    assert_eq!(serde_json::from_str::<Value>(&call.arguments).unwrap(), json!({"query": "seals"}));
    model.assert_done();

    let sent = model.last_request().unwrap();
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-secret"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.body["model"], "claude-test");
    assert_eq!(sent.body["system"], "You are a helpful persona.");
    assert_eq!(sent.body["max_tokens"], 512);
    assert_eq!(
        sent.body["tools"],
        json!([{"name": "search", "description": "Search the archive.", "input_schema": search_tool().parameters}])
    );
    assert_eq!(sent.body["tool_choice"], json!({"type": "tool", "name": "search"}));
    assert_eq!(
        sent.body["messages"],
        json!([
            {"role": "user", "content": "find otters"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_a", "name": "search", "input": {"query": "otters"}},
                // Malformed arguments cannot travel as `input`; the call's error result explains it to the model.
                {"type": "tool_use", "id": "toolu_b", "name": "search", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "3 otters"},
                {"type": "tool_result", "tool_use_id": "toolu_b", "content": "arguments are not valid JSON",
                 "is_error": true},
                {"type": "text", "text": "and seals?"},
            ]},
        ])
    );
    assert_eq!(sent.last_user_text().as_deref(), Some("and seals?"));
}

#[tokio::test]
async fn no_key_sends_no_key_header_and_a_trailing_slash_is_trimmed() {
    let model = ScriptedModel::anthropic([Turn::new(Reply::text("ok"))]).await;
    let client = AnthropicClient::new(format!("{}/", model.base_url()), None, TIMEOUT).unwrap();
    let mut chat = request("hi");
    chat.tools.clear();
    client.chat(&chat, None).await.unwrap();
    let sent = model.last_request().unwrap();
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), None);
    assert!(sent.body.get("tools").is_none() && sent.body.get("tool_choice").is_none());
    // The key never shows in debug output.
    let keyed = AnthropicClient::new(model.base_url().to_owned(), Some("sk-ant-secret".into()), TIMEOUT).unwrap();
    assert!(!format!("{keyed:?}").contains("sk-ant-secret"));
    let bad_key = AnthropicClient::new(model.base_url().to_owned(), Some("sk\nant".into()), TIMEOUT);
    assert!(matches!(bad_key, Err(LlmError::NotConfigured(_))));
}

#[tokio::test]
async fn streaming_forwards_text_in_order_and_reassembles_tool_input() {
    let arguments = json!({"query": "otters and their habits", "limit": 5});
    let text = "Let me look that up for you, it may take a moment.";
    let model = ScriptedModel::anthropic([Turn::new(
        Reply::tool("search", arguments.clone()).with_text(text).with_usage(30, 9),
    )])
    .await;
    let (response, deltas) = stream(&client(&model), &request("otters?")).await;
    let response = response.unwrap();
    assert!(model.last_request().unwrap().is_stream());

    let pieces = content_deltas(&deltas);
    assert!(pieces.len() >= 3, "text arrives in several deltas: {pieces:?}");
    assert_eq!(pieces.concat(), text);
    assert_eq!(response.content, text);
    assert_eq!(response.tool_calls.len(), 1);
    assert_eq!(response.tool_calls[0].name, "search");
    assert!(response.tool_calls[0].id.starts_with("toolu_"));
    assert_eq!(response.tool_calls[0].arguments, arguments.to_string());
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    assert_eq!(response.usage, Some(TokenUsage { prompt_tokens: 30, completion_tokens: 9 }));
    assert_eq!(response.model.as_deref(), Some("claude-test"));
    model.assert_done();
}

#[tokio::test]
async fn thinking_becomes_reasoning_streamed_or_not() {
    let reply = Reply::text("Hi!").with_reasoning("They greeted me; greet back briefly.");
    let model = ScriptedModel::anthropic([Turn::new(reply.clone()), Turn::new(reply)]).await;
    let client = client(&model);

    let response = client.chat(&request("hello"), None).await.unwrap();
    assert_eq!(response.reasoning.as_deref(), Some("They greeted me; greet back briefly."));
    assert_eq!(response.content, "Hi!");

    let (response, deltas) = stream(&client, &request("hello")).await;
    let response = response.unwrap();
    assert_eq!(response.reasoning.as_deref(), Some("They greeted me; greet back briefly."));
    assert_eq!(response.content, "Hi!");
    let reasoning: String = deltas
        .iter()
        .filter_map(|delta| match delta {
            Delta::Reasoning(text) => Some(text.as_str()),
            Delta::Content(_) => None,
        })
        .collect();
    assert_eq!(reasoning, "They greeted me; greet back briefly.");
    // Reasoning comes before the answer.
    assert!(matches!(deltas.first(), Some(Delta::Reasoning(_))));
    assert!(matches!(deltas.last(), Some(Delta::Content(_))));
}

#[tokio::test]
async fn malformed_tool_input_is_kept_verbatim() {
    let raw = r#"{"query": "otters", "limit": 5"#;
    let model = ScriptedModel::anthropic([
        Turn::new(Reply::raw_tool("search", raw)),
        Turn::new(Reply::raw_tool("search", raw)),
    ])
    .await;
    let client = client(&model);
    let (response, _) = stream(&client, &request("otters?")).await;
    let response = response.unwrap();
    assert_eq!(response.tool_calls[0].arguments, raw);
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);

    let response = client.chat(&request("otters?"), None).await.unwrap();
    assert_eq!(response.tool_calls[0].arguments, raw);
}

#[tokio::test]
async fn usage_is_reported_or_absent() {
    let model = ScriptedModel::anthropic([
        Turn::new(Reply::text("a").with_usage(100, 7)),
        Turn::new(Reply::text("b").without_usage()),
        Turn::new(Reply::text("c").without_usage()),
    ])
    .await;
    let client = client(&model);
    let (response, _) = stream(&client, &request("hi")).await;
    assert_eq!(response.unwrap().usage, Some(TokenUsage { prompt_tokens: 100, completion_tokens: 7 }));
    assert_eq!(client.chat(&request("hi"), None).await.unwrap().usage, None);
    let (response, _) = stream(&client, &request("hi")).await;
    assert_eq!(response.unwrap().usage, None);
}

#[tokio::test]
async fn http_errors_are_classified_streamed_or_not() {
    let cases = [
        (
            Reply::error(429, "slow down").retry_after("3"),
            LlmError::RateLimited {
                status: 429,
                message: "slow down".into(),
                retry_after: Some(Duration::from_secs(3)),
            },
        ),
        (Reply::error(500, "boom"), LlmError::Server { status: 500, message: "boom".into(), retry_after: None }),
        (
            Reply::error(529, "Overloaded"),
            LlmError::Server { status: 529, message: "Overloaded".into(), retry_after: None },
        ),
        (
            Reply::context_length(),
            LlmError::ContextLength { message: "prompt is too long: 250000 tokens > 200000 maximum".into() },
        ),
        (
            Reply::error(401, "invalid x-api-key"),
            LlmError::Rejected { status: 401, message: "invalid x-api-key".into() },
        ),
    ];
    for (reply, expected) in cases {
        let model = ScriptedModel::anthropic([Turn::new(reply.clone()), Turn::new(reply)]).await;
        let client = client(&model);
        assert_eq!(client.chat(&request("hi"), None).await.unwrap_err(), expected);
        let (response, deltas) = stream(&client, &request("hi")).await;
        assert_eq!(response.unwrap_err(), expected);
        assert!(deltas.is_empty());
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let client = AnthropicClient::new(format!("http://{address}"), None, TIMEOUT).unwrap();
    let error = client.chat(&request("hi"), None).await.unwrap_err();
    assert!(matches!(error, LlmError::Transport(_)), "{error:?}");
    let (response, _) = stream(&client, &request("hi")).await;
    assert!(matches!(response, Err(LlmError::Transport(_))), "{response:?}");
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let timeout = Duration::from_millis(200);
    let slow = Reply::text("late").after(Duration::from_secs(5));
    let model = ScriptedModel::anthropic([Turn::new(slow.clone()), Turn::new(slow)]).await;
    let client = AnthropicClient::new(model.base_url().to_owned(), None, timeout).unwrap();
    assert_eq!(client.chat(&request("hi"), None).await.unwrap_err(), LlmError::Timeout(timeout));
    let (response, _) = stream(&client, &request("hi")).await;
    assert_eq!(response.unwrap_err(), LlmError::Timeout(timeout));
}
