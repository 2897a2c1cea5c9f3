//! The agent loop over HTTP against scripted models: memory tools and what the next request shows, tool errors the
//! model recovers from, limits, provider failures, and refusals before a run starts.

use engram_testkit::{Reply, ScriptedModel, TestServer, Turn};
use serde_json::{Value, json};

use crate::audit_events;

fn roles(messages: &Value) -> Vec<String> {
    messages.as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_stated_fact_goes_to_core_memory_and_the_next_step_sees_it() {
    let model = ScriptedModel::openai([
        Turn::new(Reply::tool("core_memory_append", json!({"label": "human", "content": "Name: Ada Lovelace"})))
            .expect_tool("core_memory_append")
            .expect_system_contains("<human>"),
        Turn::new(Reply::text("Nice to meet you, Ada.").with_usage(120, 8))
            .expect_system_contains("Name: Ada Lovelace")
            .expect(|req| {
                let last = req.messages().last().cloned().unwrap();
                let ok = last["role"] == "tool" && last["tool_call_id"] == "call_1";
                if ok { Ok(()) } else { Err(format!("the tool result is not last: {last}")) }
            }),
    ])
    .await;
    let s = TestServer::with_openai(&model).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;

    let r = s.send_message(&agent, "Hi, I'm Ada Lovelace.").await;
    assert_eq!(r.status, 200, "{}", r.text);
    model.assert_done();
    assert_eq!(r.body["stop_reason"], "end_turn");
    assert_eq!(roles(&r.body["messages"]), ["user", "assistant", "tool", "assistant"]);
    let messages = r.body["messages"].as_array().unwrap();
    assert_eq!(messages[1]["tool_calls"][0]["name"], "core_memory_append");
    assert_eq!(messages[1]["tool_calls"][0]["arguments"]["content"], "Name: Ada Lovelace");
    assert_eq!(messages[2]["tool_status"], "ok");
    assert_eq!(messages[2]["tool_call_id"], messages[1]["tool_calls"][0]["id"]);
    assert_eq!(messages[3]["content"], "Nice to meet you, Ada.");
    assert_eq!(r.body["usage"]["steps"], 2);
    assert!(r.body["usage"]["total_tokens"].as_u64().unwrap() > 128);

    let block = s.get(&format!("/v1/agents/{agent}/blocks/human")).await;
    assert_eq!(block.body["value"], "Name: unknown\nName: Ada Lovelace");
    assert_eq!(block.body["version"], 2);
    let run_id = r.body["run_id"].as_str().unwrap();
    let step_id = messages[1]["step_id"].as_str().unwrap();
    let events = audit_events(&s).await;
    let update = events.iter().find(|e| e["action"] == "block.update").expect("a block.update event");
    assert_eq!(update["run_id"], run_id);
    assert_eq!(update["step_id"], step_id);
    assert_eq!(update["actor"]["kind"], "agent");
    assert_eq!(update["after"]["version"], 2);

    let run = s.get(&format!("/v1/runs/{run_id}")).await;
    assert_eq!(run.body["status"], "completed");
    assert_eq!(run.body["steps"].as_array().unwrap().len(), 2);
    assert_eq!(run.body["steps"][1]["prompt_tokens"], 120);
    assert_eq!(run.body["steps"][1]["model"], "gpt-4o-mini");
}

#[tokio::test]
async fn archival_memory_saved_in_one_run_is_found_in_a_later_one() {
    let model = ScriptedModel::openai([
        Turn::new(Reply::tool(
            "archival_memory_insert",
            json!({"content": "The launch code is 7-4-1.", "tags": ["ops"]}),
        )),
        Turn::new(Reply::text("Saved.")),
        // Two independent searches in one step: they run concurrently and their results keep the calls' order.
        Turn::new(Reply::tools([
            ("archival_memory_search".to_owned(), json!({"query": "launch code", "tags": ["ops"]})),
            ("conversation_search".to_owned(), json!({"query": "launch code"})),
        ])),
        Turn::new(Reply::text("It is 7-4-1.")).expect(|req| {
            let messages = req.messages();
            let [.., call, archival, recall] = messages.as_slice() else { return Err("too few messages".into()) };
            let archival_text = archival["content"].as_str().unwrap_or("");
            let recall_text = recall["content"].as_str().unwrap_or("");
            let ids = [&call["tool_calls"][0]["id"], &call["tool_calls"][1]["id"]];
            if [&archival["tool_call_id"], &recall["tool_call_id"]] != ids {
                return Err(format!("results out of order: {archival} {recall}"));
            }
            if archival_text.contains("\"tags\":[\"ops\"]") && recall_text.contains("Remember: the launch code") {
                Ok(())
            } else {
                Err(format!("search results lack the passage or message: {archival_text} / {recall_text}"))
            }
        }),
    ])
    .await;
    let s = TestServer::with_openai(&model).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    assert_eq!(s.send_message(&agent, "Remember: the launch code is 7-4-1.").await.status, 200);
    let passages = s.get(&format!("/v1/agents/{agent}/archival")).await;
    assert_eq!(passages.body["items"][0]["text"], "The launch code is 7-4-1.");
    assert_eq!(passages.body["items"][0]["tags"], json!(["ops"]));
    let r = s.send_message(&agent, "What was the launch code?").await;
    assert_eq!(r.status, 200, "{}", r.text);
    model.assert_done();
    assert_eq!(r.body["messages"][4]["content"], "It is 7-4-1.");
}

#[tokio::test]
async fn tool_errors_go_back_to_the_model_and_it_can_correct_them() {
    let replace = |old: &str| json!({"label": "human", "old_content": old, "new_content": "Name: Grace"});
    let model = ScriptedModel::openai([
        Turn::new(Reply::tool("core_memory_replace", replace("Name: nobody"))),
        Turn::new(Reply::tool("core_memory_replace", replace("Name: unknown"))),
        Turn::new(Reply::raw_tool("core_memory_append", "{\"label\": \"human\", \"content\": ")),
        Turn::new(Reply::tool("launch_rockets", json!({}))),
        Turn::new(Reply::tool("memory_rethink", json!({"label": "policy", "new_value": "No rules."}))),
        Turn::new(Reply::tool("core_memory_append", json!({"label": "human", "content": "x".repeat(2100)}))),
        Turn::new(Reply::tool("memory_insert", json!({"label": "human", "content": "Likes: tea", "line": "zero"}))),
        Turn::new(Reply::text("Done.")),
    ])
    .await;
    let s = TestServer::with_openai(&model).await;
    let extra = json!({"blocks": [
        {"label": "human", "value": "Name: unknown", "limit": 2000},
        {"label": "policy", "value": "Be kind.", "read_only": true}
    ]});
    let agent = s.create_model_agent("openai/gpt-4o-mini", extra).await;
    let r = s.send_message(&agent, "I'm Grace.").await;
    assert_eq!(r.status, 200, "{}", r.text);
    model.assert_done();
    assert_eq!(r.body["stop_reason"], "end_turn");
    let results: Vec<(String, String)> = r.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| (m["tool_status"].as_str().unwrap().to_owned(), m["content"].as_str().unwrap().to_owned()))
        .collect();
    let expected = [
        ("error", "was not found in block `human`"),
        ("ok", "Block `human` updated (version 2)"),
        ("error", "not valid JSON"),
        ("error", "there is no tool named `launch_rockets`"),
        ("error", "block `policy` is read-only"),
        ("error", "over its limit of 2000"),
        ("error", "must be a whole number"),
    ];
    assert_eq!(results.len(), expected.len(), "{results:?}");
    for ((status, content), (want_status, want_text)) in results.iter().zip(expected) {
        assert_eq!(status, want_status, "{content}");
        assert!(content.contains(want_text), "{content:?} should contain {want_text:?}");
    }
    // The model saw each error as the result of its call.
    let requests = model.requests();
    assert!(requests[1].text().contains("was not found in block"));
    // The malformed arguments are kept verbatim, as a string.
    let malformed = &r.body["messages"].as_array().unwrap()[5];
    assert_eq!(malformed["tool_calls"][0]["arguments"], "{\"label\": \"human\", \"content\": ");
    let human = s.get(&format!("/v1/agents/{agent}/blocks/human")).await;
    assert_eq!(human.body["value"], "Name: Grace");
    let policy = s.get(&format!("/v1/agents/{agent}/blocks/policy")).await;
    assert_eq!(policy.body["value"], "Be kind.");
}

#[tokio::test]
async fn max_steps_and_no_progress_end_runs() {
    let model = ScriptedModel::openai([]).await;
    let s = TestServer::with_openai(&model).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;

    model.repeat(Reply::tool("conversation_search", json!({"query": "anything"})));
    let r = s
        .post(
            &format!("/v1/agents/{agent}/messages"),
            json!({"messages": [{"role": "user", "content": "loop"}], "max_steps": 3}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["stop_reason"], "max_steps");
    assert_eq!(r.body["usage"]["steps"], 3);
    assert_eq!(model.requests().len(), 3);

    model.repeat(Reply::tool(
        "core_memory_replace",
        json!({"label": "human", "old_content": "zzz", "new_content": "y"}),
    ));
    let r = s.send_message(&agent, "stuck").await;
    assert_eq!(r.body["stop_reason"], "no_progress");
    assert_eq!(r.body["usage"]["steps"], 3, "three identical failing calls in a row");
    let run = s.get(&format!("/v1/runs/{}", r.body["run_id"].as_str().unwrap())).await;
    assert_eq!(run.body["status"], "completed");
    assert_eq!(run.body["stop_reason"], "no_progress");
}

#[tokio::test]
async fn send_message_ends_a_classic_agent_turn() {
    let model = ScriptedModel::openai([
        Turn::new(Reply::tool("send_message", json!({"message": "Hello there!"}))).expect_tool("send_message")
    ])
    .await;
    let s = TestServer::with_openai(&model).await;
    let agent =
        s.create_model_agent("openai/gpt-4o-mini", json!({"tools": ["send_message", "core_memory_append"]})).await;
    let r = s.send_message(&agent, "Hi").await;
    assert_eq!(r.status, 200, "{}", r.text);
    model.assert_done();
    assert_eq!(r.body["stop_reason"], "terminal_tool");
    assert_eq!(model.requests()[0].tool_names(), ["send_message", "core_memory_append"]);
}

#[tokio::test]
async fn a_rate_limit_is_retried_and_a_failing_provider_ends_the_run_cleanly() {
    let model = ScriptedModel::openai([
        Turn::new(Reply::error(429, "slow down").retry_after("0")),
        Turn::new(Reply::text("Fine now.")),
        Turn::new(Reply::error(500, "the model server exploded")),
        Turn::new(Reply::error(500, "the model server exploded")),
        Turn::new(Reply::error(500, "the model server exploded")),
    ])
    .await;
    let s = TestServer::with_openai(&model).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    let r = s.send_message(&agent, "first").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["messages"][1]["content"], "Fine now.");
    assert_eq!(model.requests().len(), 2);

    let before = s.history(&agent).await.len();
    let r = s.send_message(&agent, "second").await;
    assert_eq!(r.status, 502, "{}", r.text);
    assert_eq!(r.code(), "upstream_error");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("the model server exploded"), "{}", r.text);
    assert_eq!(r.body["error"]["details"]["stop_reason"], "llm_error");
    model.assert_done();
    let run = s.get(&format!("/v1/runs/{}", r.body["error"]["details"]["run_id"].as_str().unwrap())).await;
    assert_eq!(run.body["status"], "failed");
    assert_eq!(run.body["stop_reason"], "llm_error");
    assert!(run.body["error"].as_str().unwrap().contains("exploded"));
    // Only the user's message was written: no half-finished assistant turn.
    let history = s.history(&agent).await;
    assert_eq!(history.len(), before + 1);
    assert_eq!(history.last().unwrap()["role"], "user");
}

#[tokio::test]
async fn runs_are_refused_before_they_start_when_they_cannot_run() {
    let model = ScriptedModel::openai([]).await;
    let s = TestServer::with_openai(&model).await;
    let memory_only = s.create_agent("notes").await["id"].as_str().unwrap().to_owned();
    let r = s.send_message(&memory_only, "hi").await;
    assert_eq!((r.status, r.code()), (422, "no_model"));
    let claude = s.create_model_agent("anthropic/claude-sonnet-4-5", json!({})).await;
    let r = s.send_message(&claude, "hi").await;
    assert_eq!((r.status, r.code()), (422, "model_provider_unavailable"));
    assert!(r.body["error"]["message"].as_str().unwrap().contains("ANTHROPIC_API_KEY"));

    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    let path = format!("/v1/agents/{agent}/messages");
    let bad = [
        (json!({"messages": []}), "messages"),
        (json!({"messages": [{"role": "assistant", "content": "x"}]}), "messages[0].role"),
        (json!({"messages": [{"role": "user", "content": "  "}]}), "messages[0].content"),
        (json!({"messages": [{"role": "user", "content": "x"}], "max_steps": 0}), "max_steps"),
        (json!({"messages": [{"role": "user", "content": "x"}], "max_steps": 101}), "max_steps"),
        (json!({"messages": [{"role": "user", "content": "x"}], "colour": "red"}), "colour"),
    ];
    for (body, field) in bad {
        let r = s.post(&path, body.clone()).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{body}: {}", r.text);
        assert_eq!(r.body["error"]["details"]["field"], field, "{body}");
    }
    let r = s.send_message("agent_01ARZ3NDEKTSV4RRFFQ69G5FAV", "hi").await;
    assert_eq!((r.status, r.code()), (404, "agent_not_found"));
    assert!(model.requests().is_empty(), "no request reached the model");
    assert!(s.history(&agent).await.is_empty(), "nothing was written");
}
