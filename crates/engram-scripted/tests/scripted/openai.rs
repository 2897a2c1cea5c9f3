//! The OpenAI-compatible scripted server as a raw HTTP client sees it: body shapes, streamed fragments, errors,
//! expectations and recorded requests.

// Test helpers outside `#[test]` functions fail loudly too; clippy's test allowance does not reach them.
#![allow(clippy::unwrap_used)]

use engram_scripted::{Reply, ScriptedModel, Turn};
use serde_json::{Value, json};

fn request(stream: bool) -> Value {
    let mut body = json!({
        "model": "gpt-test",
        "messages": [
            { "role": "system", "content": "You are terse." },
            { "role": "user", "content": "hello" },
        ],
        "tools": [{ "type": "function", "function": { "name": "lookup", "description": "d", "parameters": {} } }],
    });
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({ "include_usage": true });
    }
    body
}

async fn post(model: &ScriptedModel, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/chat/completions", model.base_url()))
        .bearer_auth("sk-test")
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The JSON chunks of an event stream, and whether it ended with `[DONE]`.
async fn read_stream(response: reqwest::Response) -> (Vec<Value>, bool) {
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    let mut chunks = Vec::new();
    let mut done = false;
    for event in text.split("\n\n").filter(|e| !e.is_empty()) {
        let data = event.strip_prefix("data: ").unwrap();
        assert!(!done, "an event after [DONE]: {data}");
        if data == "[DONE]" {
            done = true;
        } else {
            chunks.push(serde_json::from_str(data).unwrap());
        }
    }
    (chunks, done)
}

#[tokio::test]
async fn a_text_reply_is_a_chat_completion() {
    let model = ScriptedModel::openai([Reply::text("Hi there.").with_usage(12, 3).into()]).await;
    let response = post(&model, &request(false)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-test");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(body["created"].is_u64());
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "Hi there.");
    assert!(choice["message"].get("tool_calls").is_none());
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(body["usage"], json!({ "prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15 }));
    model.assert_done();
}

#[tokio::test]
async fn tool_calls_carry_generated_ids_and_raw_arguments() {
    let calls = [("lookup".to_owned(), json!({ "q": "a" })), ("lookup".to_owned(), json!({ "q": "b" }))];
    let model = ScriptedModel::openai([
        Reply::tools(calls).with_reasoning("thinking").without_usage().into(),
        Reply::raw_tool("lookup", "{\"q\": ").with_text("Let me look.").into(),
    ])
    .await;

    let body: Value = post(&model, &request(false)).await.json().await.unwrap();
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], Value::Null);
    assert_eq!(message["reasoning_content"], "thinking");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert!(body.get("usage").is_none());
    let tool_calls = message["tool_calls"].as_array().unwrap();
    assert_eq!(tool_calls.len(), 2);
    assert_eq!(tool_calls[0]["id"], "call_1");
    assert_eq!(tool_calls[1]["id"], "call_2");
    assert_eq!(tool_calls[0]["type"], "function");
    assert_eq!(tool_calls[0]["function"]["name"], "lookup");
    assert_eq!(tool_calls[0]["function"]["arguments"], "{\"q\":\"a\"}");

    let body: Value = post(&model, &request(false)).await.json().await.unwrap();
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], "Let me look.");
    assert_eq!(message["tool_calls"][0]["function"]["arguments"], "{\"q\": ");
    model.assert_done();
}

#[tokio::test]
async fn a_stream_fragments_text_and_tool_arguments() {
    let arguments = json!({ "query": "the weather in Lisbon", "limit": 3 });
    let reply = Reply::tool("lookup", arguments.clone())
        .with_text("Checking the forecast now.")
        .with_reasoning("The user wants weather.")
        .with_usage(40, 9);
    let model = ScriptedModel::openai([reply.into()]).await;
    let (chunks, done) = read_stream(post(&model, &request(true)).await).await;
    assert!(done, "the stream ends with [DONE]");
    assert!(chunks[..chunks.len() - 1].iter().all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");

    let deltas: Vec<&Value> = chunks.iter().filter_map(|c| c["choices"].get(0)).map(|c| &c["delta"]).collect();
    let content: Vec<&str> = deltas.iter().filter_map(|d| d["content"].as_str()).filter(|s| !s.is_empty()).collect();
    assert!(content.len() >= 3, "content arrives in fragments: {content:?}");
    assert_eq!(content.concat(), "Checking the forecast now.");
    let reasoning: String = deltas.iter().filter_map(|d| d["reasoning_content"].as_str()).collect();
    assert_eq!(reasoning, "The user wants weather.");

    let calls: Vec<&Value> = deltas.iter().filter_map(|d| d["tool_calls"].get(0)).collect();
    assert_eq!(calls[0]["id"], "call_1");
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "lookup");
    assert!(calls.iter().all(|c| c["index"] == 0));
    assert!(calls[1..].iter().all(|c| c.get("id").is_none() && c["function"].get("name").is_none()));
    let pieces: Vec<&str> = calls.iter().filter_map(|c| c["function"]["arguments"].as_str()).collect();
    assert!(pieces.iter().filter(|p| !p.is_empty()).count() >= 3, "arguments are fragmented: {pieces:?}");
    assert_eq!(serde_json::from_str::<Value>(&pieces.concat()).unwrap(), arguments);

    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 49);
    model.assert_done();
}

#[tokio::test]
async fn a_stream_sends_usage_only_when_asked() {
    let model = ScriptedModel::openai([Reply::text("one").into(), Reply::text("two").without_usage().into()]).await;
    let mut body = request(true);
    body.as_object_mut().unwrap().remove("stream_options");
    let (chunks, _) = read_stream(post(&model, &body).await).await;
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "stop");

    let (chunks, _) = read_stream(post(&model, &request(true)).await).await;
    assert!(chunks.iter().all(|c| c["usage"].is_null()), "omitted usage is never sent");
    model.assert_done();
}

#[tokio::test]
async fn errors_have_the_provider_shape_and_retry_after() {
    let model = ScriptedModel::openai([
        Reply::error(429, "slow down").retry_after("7").into(),
        Reply::error(503, "overloaded").into(),
        Reply::error(401, "bad key").into(),
    ])
    .await;

    let response = post(&model, &request(false)).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "slow down");
    assert_eq!(body["error"]["type"], "rate_limit_error");

    let response = post(&model, &request(true)).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "server_error");

    let response = post(&model, &request(false)).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    model.assert_done();
}

#[tokio::test]
async fn the_context_length_error_names_its_code() {
    let model = ScriptedModel::openai([Reply::context_length().into()]).await;
    let response = post(&model, &request(false)).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "context_length_exceeded");
    assert_eq!(body["error"]["param"], "messages");
    assert!(body["error"]["message"].as_str().unwrap().contains("maximum context length"));
}

#[tokio::test]
async fn a_failed_expectation_is_recorded_and_answered_400() {
    let model = ScriptedModel::openai([
        Turn::new(Reply::text("never sent")).expect_system_contains("You are verbose"),
        Turn::new(Reply::text("ok")).expect_tool("lookup").expect_system_contains("terse"),
    ])
    .await;
    let response = post(&model, &request(false)).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("You are verbose"));
    assert_eq!(model.failures().len(), 1);

    assert_eq!(post(&model, &request(false)).await.status(), 200);
    let response = post(&model, &request(false)).await;
    assert_eq!(response.status(), 400, "a request past the script is refused");
    assert_eq!(model.failures().len(), 2);
    assert_eq!(model.remaining(), 0);
}

#[tokio::test]
async fn requests_are_recorded() {
    let model = ScriptedModel::openai([Reply::text("a").into(), Reply::text("b").into()]).await;
    post(&model, &request(false)).await;
    post(&model, &request(true)).await;
    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first.path, "/v1/chat/completions");
    assert_eq!(first.header("Authorization"), Some("Bearer sk-test"));
    assert_eq!(first.system_text(), "You are terse.");
    assert_eq!(first.messages(), vec![json!({ "role": "user", "content": "hello" })]);
    assert_eq!(first.tool_names(), vec!["lookup"]);
    assert_eq!(first.last_user_text().as_deref(), Some("hello"));
    assert!(!first.is_stream());
    assert!(requests[1].is_stream());
    assert_eq!(model.last_request().as_ref(), Some(&requests[1]));
    model.assert_done();
}
