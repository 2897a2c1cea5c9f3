//! The OpenAI-compatible client against a scripted server: the request it sends, the answer it reads back (streamed
//! and not), and how HTTP and transport failures are classified.

// Test helpers outside `#[test]` functions fail loudly too; clippy's test allowance does not reach them.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use engram_llm::{
    ChatMessage, ChatModel, ChatRequest, Delta, FinishReason, LlmError, OpenAiClient, RawToolCall, TokenUsage,
    ToolChoice, ToolSpec,
};
use engram_scripted::{Reply, ScriptedModel, Turn};
use serde_json::json;
use tokio::sync::mpsc;

fn client(model: &ScriptedModel) -> OpenAiClient {
    client_with(model.base_url(), Some("sk-test"), Duration::from_secs(10))
}

fn client_with(base_url: &str, key: Option<&str>, timeout: Duration) -> OpenAiClient {
    OpenAiClient::new(base_url.to_owned(), key.map(str::to_owned), timeout, "openai").unwrap()
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        model: "gpt-test".into(),
        system: "You are terse.".into(),
        messages: vec![ChatMessage::User { content: text.into() }],
        tools: vec![],
        tool_choice: ToolChoice::Auto,
        max_tokens: None,
    }
}

fn lookup_tool() -> ToolSpec {
    ToolSpec {
        name: "lookup".into(),
        description: "Looks a word up.".into(),
        parameters: json!({ "type": "object", "properties": { "word": { "type": "string" } }, "required": ["word"] }),
    }
}

/// Everything a stream forwarded, in order.
fn drain(deltas: &mut mpsc::UnboundedReceiver<Delta>) -> Vec<Delta> {
    let mut all = Vec::new();
    while let Ok(delta) = deltas.try_recv() {
        all.push(delta);
    }
    all
}

#[tokio::test]
async fn a_text_reply_comes_back_with_usage_and_model() {
    let model = ScriptedModel::openai([Reply::text("Hi there.").with_usage(12, 3).into()]).await;
    let answer = client(&model).chat(&ask("hello"), None).await.unwrap();
    assert_eq!(answer.content, "Hi there.");
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    assert_eq!(answer.usage, Some(TokenUsage { prompt_tokens: 12, completion_tokens: 3 }));
    assert_eq!(answer.model.as_deref(), Some("gpt-test"));
    assert!(answer.tool_calls.is_empty());
    assert_eq!(answer.reasoning, None);

    let request = model.last_request().unwrap();
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(request.body["model"], "gpt-test");
    assert!(request.body.get("stream").is_none());
    assert!(request.body.get("tools").is_none() && request.body.get("tool_choice").is_none());
    model.assert_done();
}

#[tokio::test]
async fn tool_calls_come_back_raw_and_the_request_has_the_openai_shape() {
    let calls = [("lookup".to_owned(), json!({ "word": "tea" })), ("lookup".to_owned(), json!({ "word": "cup" }))];
    let turn = Turn::new(Reply::tools(calls)).expect_tool("lookup").expect_system_contains("terse");
    let model = ScriptedModel::openai([turn]).await;
    let mut request = ask("look up tea and cup");
    request.messages.extend([
        ChatMessage::Assistant {
            content: String::new(),
            tool_calls: vec![RawToolCall {
                id: "call_0".into(),
                name: "lookup".into(),
                arguments: "{\"word\":".into(),
            }],
        },
        ChatMessage::Tool {
            tool_call_id: "call_0".into(),
            name: "lookup".into(),
            content: "Error: the arguments are not JSON".into(),
            is_error: true,
        },
    ]);
    request.tools = vec![lookup_tool()];
    request.tool_choice = ToolChoice::Required;
    request.max_tokens = Some(256);

    let answer = client(&model).chat(&request, None).await.unwrap();
    assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
    assert_eq!(answer.content, "");
    assert_eq!(
        answer.tool_calls,
        vec![
            RawToolCall { id: "call_1".into(), name: "lookup".into(), arguments: "{\"word\":\"tea\"}".into() },
            RawToolCall { id: "call_2".into(), name: "lookup".into(), arguments: "{\"word\":\"cup\"}".into() },
        ]
    );

    let sent = model.last_request().unwrap();
    assert_eq!(sent.body["messages"][0], json!({ "role": "system", "content": "You are terse." }));
    assert_eq!(
        sent.messages(),
        vec![
            json!({ "role": "user", "content": "look up tea and cup" }),
            json!({ "role": "assistant", "content": null, "tool_calls": [
                { "id": "call_0", "type": "function", "function": { "name": "lookup", "arguments": "{\"word\":" } },
            ] }),
            json!({ "role": "tool", "tool_call_id": "call_0", "content": "Error: the arguments are not JSON" }),
        ]
    );
    assert_eq!(
        sent.body["tools"],
        json!([{ "type": "function", "function": {
            "name": "lookup",
            "description": "Looks a word up.",
            "parameters": lookup_tool().parameters,
        } }])
    );
    assert_eq!(sent.body["tool_choice"], "required");
    assert_eq!(sent.body["max_tokens"], 256);
    model.assert_done();
}

#[tokio::test]
async fn a_named_tool_choice_is_a_function_object() {
    let model = ScriptedModel::openai([Reply::tool("lookup", json!({ "word": "x" })).into()]).await;
    let mut request = ask("x");
    request.tools = vec![lookup_tool()];
    request.tool_choice = ToolChoice::Tool("lookup".into());
    client(&model).chat(&request, None).await.unwrap();
    let sent = model.last_request().unwrap();
    assert_eq!(sent.body["tool_choice"], json!({ "type": "function", "function": { "name": "lookup" } }));
}

#[tokio::test]
async fn a_stream_reassembles_fragmented_arguments_and_forwards_text_in_order() {
    let arguments = json!({ "word": "serendipity", "languages": ["en", "fr"], "limit": 3 });
    let reply = Reply::tool("lookup", arguments.clone())
        .with_text("Let me look that up for you.")
        .with_reasoning("The user wants a definition.")
        .with_usage(50, 20);
    let model = ScriptedModel::openai([reply.into(), Reply::raw_tool("lookup", "{\"word\": [1, 2").into()]).await;
    let (sink, mut deltas) = mpsc::unbounded_channel();
    let mut request = ask("define serendipity");
    request.tools = vec![lookup_tool()];

    let answer = client(&model).chat(&request, Some(&sink)).await.unwrap();
    assert_eq!(answer.content, "Let me look that up for you.");
    assert_eq!(answer.reasoning.as_deref(), Some("The user wants a definition."));
    assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
    assert_eq!(answer.usage, Some(TokenUsage { prompt_tokens: 50, completion_tokens: 20 }));
    assert_eq!(answer.tool_calls.len(), 1);
    assert_eq!(answer.tool_calls[0].id, "call_1");
    assert_eq!(answer.tool_calls[0].name, "lookup");
    assert_eq!(answer.tool_calls[0].arguments, arguments.to_string(), "the fragments join exactly");

    let forwarded = drain(&mut deltas);
    let content: Vec<&str> = forwarded
        .iter()
        .filter_map(|d| if let Delta::Content(text) = d { Some(text.as_str()) } else { None })
        .collect();
    let reasoning: String = forwarded
        .iter()
        .filter_map(|d| if let Delta::Reasoning(text) = d { Some(text.as_str()) } else { None })
        .collect();
    assert!(content.len() >= 3, "content arrives in several deltas: {content:?}");
    assert_eq!(content.concat(), "Let me look that up for you.");
    assert_eq!(reasoning, "The user wants a definition.");

    let sent = model.last_request().unwrap();
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["stream_options"], json!({ "include_usage": true }));

    // Malformed arguments come through verbatim, for the runtime to judge.
    let answer = client(&model).chat(&request, Some(&sink)).await.unwrap();
    assert_eq!(answer.tool_calls[0].arguments, "{\"word\": [1, 2");
    assert!(drain(&mut deltas).is_empty(), "a call without text forwards nothing");
    model.assert_done();
}

#[tokio::test]
async fn a_closed_sink_does_not_fail_the_call() {
    let model = ScriptedModel::openai([Reply::text("nobody listens").into()]).await;
    let (sink, deltas) = mpsc::unbounded_channel();
    drop(deltas);
    let answer = client(&model).chat(&ask("hi"), Some(&sink)).await.unwrap();
    assert_eq!(answer.content, "nobody listens");
}

#[tokio::test]
async fn reasoning_content_is_surfaced_without_a_stream() {
    let model = ScriptedModel::openai([Reply::text("42").with_reasoning("6 times 7").into()]).await;
    let answer = client(&model).chat(&ask("6*7?"), None).await.unwrap();
    assert_eq!(answer.reasoning.as_deref(), Some("6 times 7"));
    assert_eq!(answer.content, "42");
}

#[tokio::test]
async fn absent_usage_is_none() {
    let model =
        ScriptedModel::openai([Reply::text("a").without_usage().into(), Reply::text("b").without_usage().into()]).await;
    let answer = client(&model).chat(&ask("a"), None).await.unwrap();
    assert_eq!(answer.usage, None);
    let (sink, _deltas) = mpsc::unbounded_channel();
    let answer = client(&model).chat(&ask("b"), Some(&sink)).await.unwrap();
    assert_eq!(answer.usage, None);
    assert_eq!(answer.content, "b");
}

#[tokio::test]
async fn http_errors_are_classified() {
    let model = ScriptedModel::openai([
        Reply::error(429, "Rate limit reached").retry_after("7").into(),
        Reply::error(500, "The server had an error").into(),
        Reply::context_length().into(),
        Reply::error(401, "Incorrect API key provided").into(),
        Reply::error(503, "overloaded").retry_after("2").into(),
    ])
    .await;
    let client = client(&model);
    let (sink, _deltas) = mpsc::unbounded_channel();

    let error = client.chat(&ask("a"), None).await.unwrap_err();
    assert_eq!(
        error,
        LlmError::RateLimited {
            status: 429,
            message: "Rate limit reached".into(),
            retry_after: Some(Duration::from_secs(7)),
        }
    );
    assert!(error.is_retryable());

    let error = client.chat(&ask("b"), None).await.unwrap_err();
    assert_eq!(error, LlmError::Server { status: 500, message: "The server had an error".into(), retry_after: None });

    let error = client.chat(&ask("c"), Some(&sink)).await.unwrap_err();
    let LlmError::ContextLength { message } = &error else { panic!("not a context-length error: {error:?}") };
    assert!(message.contains("maximum context length"), "{message}");
    assert!(!error.is_retryable());

    let error = client.chat(&ask("d"), None).await.unwrap_err();
    assert_eq!(error, LlmError::Rejected { status: 401, message: "Incorrect API key provided".into() });
    assert!(!error.is_retryable());

    let error = client.chat(&ask("e"), Some(&sink)).await.unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(2)), "streamed calls read Retry-After too");
    model.assert_done();
}

#[tokio::test]
async fn without_a_key_no_authorization_is_sent() {
    let model = ScriptedModel::openai([Reply::text("local").into()]).await;
    let client = client_with(&format!("{}/", model.base_url()), None, Duration::from_secs(10));
    client.chat(&ask("hi"), None).await.unwrap();
    assert_eq!(model.last_request().unwrap().header("authorization"), None);
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let client = client_with(&format!("http://{address}/v1"), None, Duration::from_secs(5));
    for streamed in [false, true] {
        let (sink, _deltas) = mpsc::unbounded_channel();
        let error = client.chat(&ask("hi"), streamed.then_some(&sink)).await.unwrap_err();
        let LlmError::Transport(message) = &error else { panic!("not a transport error: {error:?}") };
        assert!(message.starts_with("openai: "), "{message}");
        assert!(error.is_retryable());
    }
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let late = || Reply::text("too late").after(Duration::from_secs(3)).into();
    let model = ScriptedModel::openai([late(), late()]).await;
    let timeout = Duration::from_millis(200);
    let client = client_with(model.base_url(), None, timeout);
    let error = client.chat(&ask("hi"), None).await.unwrap_err();
    assert_eq!(error, LlmError::Timeout(timeout));
    let (sink, _deltas) = mpsc::unbounded_channel();
    let error = client.chat(&ask("hi"), Some(&sink)).await.unwrap_err();
    assert_eq!(error, LlmError::Timeout(timeout));
}
