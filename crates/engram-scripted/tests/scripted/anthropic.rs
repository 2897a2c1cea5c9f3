//! The scripted Anthropic Messages server as a raw HTTP client sees it: message bodies, the event stream in order,
//! error bodies and headers, and the requests it records.

// Test helpers outside `#[test]` functions fail loudly too; clippy's test allowance does not reach them.
#![allow(clippy::unwrap_used)]

use engram_scripted::{Reply, ScriptedModel, Turn, Wire};
use serde_json::{Value, json};

async fn post(model: &ScriptedModel, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/messages", model.base_url()))
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn request(stream: bool) -> Value {
    json!({
        "model": "claude-test",
        "max_tokens": 1024,
        "system": "You are a helpful persona.",
        "messages": [{"role": "user", "content": "hello"}],
        "tools": [{"name": "search", "description": "Search.", "input_schema": {"type": "object"}}],
        "stream": stream,
    })
}

/// The `(event, data)` records of an event-stream body.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|record| !record.trim().is_empty())
        .map(|record| {
            let mut name = None;
            let mut data = None;
            for line in record.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(value).unwrap());
                }
            }
            (name.unwrap(), data.unwrap())
        })
        .collect()
}

/// The concatenated delta field `field` of the deltas of type `kind` at block `index`.
fn joined(events: &[(String, Value)], index: u64, kind: &str, field: &str) -> (String, usize) {
    let pieces: Vec<&str> = events
        .iter()
        .filter(|(_, data)| data["type"] == "content_block_delta" && data["index"] == index)
        .filter(|(_, data)| data["delta"]["type"] == kind)
        .map(|(_, data)| data["delta"][field].as_str().unwrap())
        .collect();
    (pieces.concat(), pieces.len())
}

#[tokio::test]
async fn non_streaming_text_and_tool_use() {
    let model = ScriptedModel::anthropic([Turn::new(
        Reply::tool("search", json!({"query": "otters"})).with_text("Let me look.").with_usage(12, 5),
    )])
    .await;
    let response = post(&model, request(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert!(body["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "claude-test");
    assert_eq!(body["content"][0], json!({"type": "text", "text": "Let me look."}));
    let call = &body["content"][1];
    assert_eq!(call["type"], "tool_use");
    assert!(call["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(call["name"], "search");
    assert_eq!(call["input"], json!({"query": "otters"}));
    assert_eq!(body["content"].as_array().unwrap().len(), 2);
    assert_eq!(body["stop_reason"], "tool_use");
    assert_eq!(body["stop_sequence"], Value::Null);
    assert_eq!(body["usage"], json!({"input_tokens": 12, "output_tokens": 5}));
    model.assert_done();
}

#[tokio::test]
async fn non_streaming_thinking_then_text_ends_the_turn() {
    let model =
        ScriptedModel::anthropic([Turn::new(Reply::text("Hi there.").with_reasoning("They said hello."))]).await;
    let body: Value = post(&model, request(false)).await.json().await.unwrap();
    assert_eq!(body["content"][0]["type"], "thinking");
    assert_eq!(body["content"][0]["thinking"], "They said hello.");
    assert!(!body["content"][0]["signature"].as_str().unwrap().is_empty());
    assert_eq!(body["content"][1], json!({"type": "text", "text": "Hi there."}));
    assert_eq!(body["stop_reason"], "end_turn");
    // Without scripted usage the server estimates some.
    assert!(body["usage"]["input_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn non_streaming_malformed_arguments_arrive_as_a_string_and_usage_can_be_omitted() {
    let model =
        ScriptedModel::anthropic([Turn::new(Reply::raw_tool("search", "{\"query\": \"ott").without_usage())]).await;
    let body: Value = post(&model, request(false)).await.json().await.unwrap();
    assert_eq!(body["content"][0]["input"], json!("{\"query\": \"ott"));
    assert!(body.get("usage").is_none());
}

#[tokio::test]
async fn streaming_sends_the_events_in_order_with_fragmented_input() {
    let arguments = json!({"query": "otters and their habits", "limit": 5}).to_string();
    let reply = Reply::tool("search", serde_json::from_str(&arguments).unwrap())
        .with_text("Let me look that up for you.")
        .with_reasoning("The user wants otter facts.")
        .with_usage(30, 9);
    let model = ScriptedModel::anthropic([Turn::new(reply)]).await;
    let response = post(&model, request(true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = events(&response.text().await.unwrap());
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_str(), "the data type matches the event name");
    }

    // The skeleton, with runs of deltas collapsed.
    let mut skeleton: Vec<String> = Vec::new();
    for (name, data) in &events {
        let step = match name.as_str() {
            "content_block_start" => format!("start {} {}", data["index"], data["content_block"]["type"]),
            "content_block_delta" => format!("delta {} {}", data["index"], data["delta"]["type"]),
            "content_block_stop" => format!("stop {}", data["index"]),
            other => other.to_owned(),
        };
        if skeleton.last() != Some(&step) {
            skeleton.push(step);
        }
    }
    let expected = [
        "message_start",
        "ping",
        "start 0 \"thinking\"",
        "delta 0 \"thinking_delta\"",
        "delta 0 \"signature_delta\"",
        "stop 0",
        "start 1 \"text\"",
        "delta 1 \"text_delta\"",
        "stop 1",
        "start 2 \"tool_use\"",
        "delta 2 \"input_json_delta\"",
        "stop 2",
        "message_delta",
        "message_stop",
    ];
    assert_eq!(skeleton, expected);

    let start = &events[0].1["message"];
    assert_eq!(start["model"], "claude-test");
    assert_eq!(start["role"], "assistant");
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["usage"]["input_tokens"], 30);

    let (thinking, _) = joined(&events, 0, "thinking_delta", "thinking");
    assert_eq!(thinking, "The user wants otter facts.");
    let (text, text_pieces) = joined(&events, 1, "text_delta", "text");
    assert_eq!(text, "Let me look that up for you.");
    assert!(text_pieces >= 3);
    let (input, input_pieces) = joined(&events, 2, "input_json_delta", "partial_json");
    assert_eq!(input, arguments);
    assert!(input_pieces >= 3);

    let tool_start = events.iter().find(|(_, d)| d["content_block"]["type"] == "tool_use").unwrap();
    assert_eq!(tool_start.1["content_block"]["name"], "search");
    assert_eq!(tool_start.1["content_block"]["input"], json!({}));
    assert!(tool_start.1["content_block"]["id"].as_str().unwrap().starts_with("toolu_"));

    let message_delta = &events[events.len() - 2].1;
    assert_eq!(message_delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(message_delta["usage"]["output_tokens"], 9);
}

#[tokio::test]
async fn streaming_malformed_arguments_are_sent_verbatim_and_omitted_usage_is_zero() {
    let raw = "{\"query\": \"otters\", \"limit\": 5";
    let model = ScriptedModel::anthropic([Turn::new(Reply::raw_tool("search", raw).without_usage())]).await;
    let events = events(&post(&model, request(true)).await.text().await.unwrap());
    let (input, pieces) = joined(&events, 0, "input_json_delta", "partial_json");
    assert_eq!(input, raw);
    assert!(pieces >= 3);
    assert_eq!(events[0].1["message"]["usage"]["input_tokens"], 0);
    let message_delta = &events[events.len() - 2].1;
    assert_eq!(message_delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(message_delta["usage"]["output_tokens"], 0);
}

#[tokio::test]
async fn errors_use_the_anthropic_error_body() {
    let cases = [
        (Reply::error(429, "slow down").retry_after("7"), 429, "rate_limit_error", "slow down", Some("7")),
        (Reply::error(500, "boom"), 500, "api_error", "boom", None),
        (Reply::error(529, "Overloaded"), 529, "overloaded_error", "Overloaded", None),
        (Reply::error(400, "bad field"), 400, "invalid_request_error", "bad field", None),
        (Reply::error(401, "invalid x-api-key"), 401, "authentication_error", "invalid x-api-key", None),
        (
            Reply::context_length(),
            400,
            "invalid_request_error",
            "prompt is too long: 250000 tokens > 200000 maximum",
            None,
        ),
    ];
    for (reply, status, kind, message, retry_after) in cases {
        for stream in [false, true] {
            let model = ScriptedModel::anthropic([Turn::new(reply.clone())]).await;
            let response = post(&model, request(stream)).await;
            assert_eq!(response.status(), status);
            assert_eq!(response.headers().get("retry-after").map(|v| v.to_str().unwrap()), retry_after);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body, json!({"type": "error", "error": {"type": kind, "message": message}}));
        }
    }
}

#[tokio::test]
async fn requests_are_recorded_and_expectations_checked() {
    let model = ScriptedModel::anthropic([
        Turn::new(Reply::text("ok")).expect_system_contains("persona").expect_tool("search"),
        Turn::new(Reply::text("never")).expect_tool("archive"),
    ])
    .await;
    let first = post(&model, request(false)).await;
    assert_eq!(first.status(), 200);

    let recorded = model.last_request().unwrap();
    assert_eq!(recorded.wire, Wire::Anthropic);
    assert_eq!(recorded.path, "/v1/messages");
    assert_eq!(recorded.header("X-Api-Key"), Some("sk-ant-test"));
    assert_eq!(recorded.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(recorded.system_text(), "You are a helpful persona.");
    assert_eq!(recorded.tool_names(), vec!["search".to_owned()]);
    assert_eq!(recorded.last_user_text().as_deref(), Some("hello"));
    assert!(!recorded.is_stream());

    // A failed expectation answers 400 in the Anthropic shape and is remembered.
    let second = post(&model, request(true)).await;
    assert_eq!(second.status(), 400);
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"].as_str().unwrap().contains("archive"));
    assert_eq!(model.requests().len(), 2);
    assert!(model.requests()[1].is_stream());
    assert_eq!(model.failures().len(), 1);
}
