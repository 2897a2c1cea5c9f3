//! Streaming runs over server-sent events, on both wire formats, and a client that goes away mid-run.

use std::time::Duration;

use engram_testkit::models::use_anthropic;
use engram_testkit::{Reply, ScriptedModel, TestServer, Turn};
use serde_json::{Value, json};

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[tokio::test]
async fn openai_streams_deltas_messages_and_done() {
    let model = ScriptedModel::openai([
        Turn::new(Reply::tool(
            "core_memory_append",
            json!({"label": "human", "content": "Likes: long walks on the beach"}),
        ))
        .expect(|req| if req.is_stream() { Ok(()) } else { Err("not a streaming request".into()) }),
        Turn::new(
            Reply::text("I will remember that you like long walks on the beach.")
                .with_reasoning("The user shared a preference."),
        ),
    ])
    .await;
    let s = TestServer::with_openai(&model).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    let (status, events) = s
        .send_streaming(&agent, json!({"messages": [{"role": "user", "content": "I like long walks on the beach."}]}))
        .await;
    assert_eq!(status, 200);
    model.assert_done();
    let messages = of_type(&events, "message");
    let roles: Vec<&str> = messages.iter().map(|e| e["message"]["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
    // Arguments streamed in fragments arrive whole.
    assert_eq!(messages[1]["message"]["tool_calls"][0]["arguments"]["content"], "Likes: long walks on the beach");
    assert_eq!(messages[3]["message"]["reasoning"], "The user shared a preference.");
    let text: String = of_type(&events, "delta").iter().filter_map(|e| e["content"].as_str()).collect();
    assert_eq!(text, "I will remember that you like long walks on the beach.");
    assert!(of_type(&events, "delta").len() > 2, "the reply came in several deltas");
    // Deltas of the reply come before the message that holds it.
    let last_delta = events.iter().rposition(|e| e["type"] == "delta").unwrap();
    let reply_at = events.iter().rposition(|e| e["type"] == "message").unwrap();
    assert!(last_delta < reply_at);
    let done = events.last().unwrap();
    assert_eq!(done["type"], "done");
    assert_eq!(done["stop_reason"], "end_turn");
    assert_eq!(done["usage"]["steps"], 2);
    let block = s.get(&format!("/v1/agents/{agent}/blocks/human")).await;
    assert!(block.body["value"].as_str().unwrap().ends_with("Likes: long walks on the beach"));
}

#[tokio::test]
async fn anthropic_runs_stream_and_not() {
    let model = ScriptedModel::anthropic([
        Turn::new(Reply::tool(
            "core_memory_replace",
            json!({"label": "human", "old_content": "unknown", "new_content": "Linus"}),
        ))
        .expect(|req| {
            let system = req.body["system"].as_str().unwrap_or("");
            if system.contains("<core_memory>") { Ok(()) } else { Err("no top-level system prompt".into()) }
        }),
        Turn::new(Reply::text("Hi Linus!")).expect_system_contains("Name: Linus").expect(|req| {
            let last = req.messages().last().cloned().unwrap();
            let ok = last["role"] == "user" && last["content"][0]["type"] == "tool_result";
            if ok { Ok(()) } else { Err(format!("tool result not sent as a tool_result block: {last}")) }
        }),
        Turn::new(Reply::text("Streaming hello from Claude.")),
    ])
    .await;
    let s = TestServer::spawn_with(|config| use_anthropic(config, &model)).await;
    let agent = s.create_model_agent("anthropic/claude-sonnet-4-5", json!({})).await;
    let r = s.send_message(&agent, "I'm Linus.").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["stop_reason"], "end_turn");
    assert_eq!(r.body["messages"][3]["content"], "Hi Linus!");

    let (status, events) =
        s.send_streaming(&agent, json!({"messages": [{"role": "user", "content": "Stream please"}]})).await;
    assert_eq!(status, 200);
    model.assert_done();
    let text: String = of_type(&events, "delta").iter().filter_map(|e| e["content"].as_str()).collect();
    assert_eq!(text, "Streaming hello from Claude.");
    assert_eq!(events.last().unwrap()["stop_reason"], "end_turn");
    let context = s.get(&format!("/v1/agents/{agent}/context")).await.body;
    assert_eq!(context["tokenizer"], "estimate");
}

#[tokio::test]
async fn a_provider_failure_mid_stream_is_an_error_event_then_done() {
    let model = ScriptedModel::openai([Turn::new(Reply::error(400, "model `gpt-9` does not exist"))]).await;
    let s = TestServer::with_openai(&model).await;
    let agent = s.create_model_agent("openai/gpt-9", json!({})).await;
    let (status, events) = s.send_streaming(&agent, json!({"messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(status, 200);
    let error = of_type(&events, "error");
    assert_eq!(error.len(), 1);
    assert_eq!(error[0]["error"]["code"], "upstream_error");
    assert!(error[0]["error"]["message"].as_str().unwrap().contains("does not exist"));
    assert_eq!(events.last().unwrap()["stop_reason"], "llm_error");
}

#[tokio::test]
async fn a_client_that_disconnects_does_not_stop_or_corrupt_the_run() {
    let model = ScriptedModel::openai([
        Turn::new(
            Reply::tool("core_memory_append", json!({"label": "human", "content": "Pet: a cat"}))
                .after(Duration::from_millis(200)),
        ),
        Turn::new(Reply::text("A cat!").after(Duration::from_millis(200))),
    ])
    .await;
    let s = TestServer::with_openai(&model).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    let response = s
        .client
        .post(s.url(&format!("/v1/agents/{agent}/messages")))
        .json(&json!({"messages": [{"role": "user", "content": "I have a cat."}], "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    for _ in 0..300 {
        if s.history(&agent).await.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let history = s.history(&agent).await;
    let roles: Vec<&str> = history.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
    let run = s.get(&format!("/v1/runs/{}", history[0]["run_id"].as_str().unwrap())).await;
    for _ in 0..100 {
        if s.get(&format!("/v1/runs/{}", history[0]["run_id"].as_str().unwrap())).await.body["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(run.status == 200);
    model.assert_done();
    let block = s.get(&format!("/v1/agents/{agent}/blocks/human")).await;
    assert!(block.body["value"].as_str().unwrap().ends_with("Pet: a cat"));
}
