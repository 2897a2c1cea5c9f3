//! Runs as objects: asynchronous sends, cancellation, per-agent serialisation, and recovery across a restart.

use std::time::Duration;

use engram_testkit::{Reply, ScriptedModel, TestServer, Turn};
use serde_json::{Value, json};

/// Polls a run until it reaches a final status.
async fn finished_run(s: &TestServer, run_id: &str) -> Value {
    for _ in 0..500 {
        let run = s.get(&format!("/v1/runs/{run_id}")).await;
        assert_eq!(run.status, 200, "{}", run.text);
        if matches!(run.body["status"].as_str(), Some("completed" | "failed" | "cancelled")) {
            return run.body;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("run {run_id} did not finish");
}

fn send_body(text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn an_async_run_is_queued_then_completed() {
    let model = ScriptedModel::openai([Turn::new(Reply::text("Later."))]).await;
    let s = TestServer::with_openai(&model).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    let r = s.post(&format!("/v1/agents/{agent}/messages/async"), send_body("hello")).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let run_id = r.body["run_id"].as_str().unwrap();
    let run = finished_run(&s, run_id).await;
    assert_eq!(run["status"], "completed");
    assert_eq!(run["stop_reason"], "end_turn");
    assert_eq!(run["usage"]["steps"], 1);
    assert!(run["completed_at"].is_string());
    let history = s.history(&agent).await;
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|m| m["run_id"] == run_id));
    let r = s.get("/v1/runs/run_01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
    assert_eq!((r.status, r.code()), (404, "run_not_found"));
}

#[tokio::test]
async fn cancelling_a_run_stops_it_between_steps() {
    let model = ScriptedModel::openai([
        Turn::new(Reply::tool("conversation_search", json!({"query": "x"})).after(Duration::from_millis(400))),
        Turn::new(Reply::text("never requested")),
    ])
    .await;
    let s = TestServer::with_openai(&model).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    let r = s.post(&format!("/v1/agents/{agent}/messages/async"), send_body("search forever")).await;
    let run_id = r.body["run_id"].as_str().unwrap().to_owned();
    // Wait until the model has the first request, then cancel while it is thinking.
    while model.requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = s.post(&format!("/v1/runs/{run_id}/cancel"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "running");
    assert_eq!(r.body["cancel_requested"], true);
    let run = finished_run(&s, &run_id).await;
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["stop_reason"], "cancelled");
    assert_eq!(run["usage"]["steps"], 1, "the step in flight finished, no other started");
    assert_eq!(model.remaining(), 1);
    // The history is whole: the call in flight has its result.
    let roles: Vec<Value> = s.history(&agent).await.iter().map(|m| m["role"].clone()).collect();
    assert_eq!(roles, ["user", "assistant", "tool"]);
    // Cancelling again changes nothing.
    let again = s.post(&format!("/v1/runs/{run_id}/cancel"), json!({})).await;
    assert_eq!(again.body["status"], "cancelled");
}

#[tokio::test]
async fn concurrent_sends_to_one_agent_run_one_after_another() {
    let model = ScriptedModel::openai([]).await;
    model.respond_with(|req| {
        let asked = req.last_user_text().unwrap_or_default();
        if req.messages().last().is_some_and(|m| m["role"] == "tool") {
            Reply::text(format!("answer to {asked}"))
        } else {
            Reply::tool("conversation_search", json!({"query": asked})).after(Duration::from_millis(20))
        }
    });
    let s = TestServer::with_openai(&model).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    let questions: Vec<String> = (0..4).map(|i| format!("question {i}")).collect();
    let sends = questions.iter().map(|q| s.send_message(&agent, q));
    let responses = futures::future::join_all(sends).await;
    for r in &responses {
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["stop_reason"], "end_turn");
    }
    // Each run's four messages are contiguous in the history, and each answers its own question.
    let history = s.history(&agent).await;
    assert_eq!(history.len(), 16);
    for run in history.chunks(4) {
        let run_id = &run[0]["run_id"];
        assert!(run.iter().all(|m| &m["run_id"] == run_id), "interleaved runs: {run:#?}");
        let roles: Vec<&str> = run.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
        let question = run[0]["content"].as_str().unwrap();
        assert_eq!(run[3]["content"], format!("answer to {question}"));
    }
    let positions: Vec<i64> = history.iter().map(|m| m["position"].as_i64().unwrap()).collect();
    assert_eq!(positions, (1..=16).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_busy_agent_answers_409_to_a_caller_that_will_not_wait() {
    let model = ScriptedModel::openai([
        Turn::new(Reply::text("slow").after(Duration::from_millis(400))),
        Turn::new(Reply::text("queued one")),
    ])
    .await;
    let s = TestServer::with_openai(&model).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    let first = s.post(&format!("/v1/agents/{agent}/messages/async"), send_body("slow one")).await;
    while model.requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut body = send_body("impatient");
    body["wait"] = json!(false);
    let r = s.post(&format!("/v1/agents/{agent}/messages"), body).await;
    assert_eq!((r.status, r.code()), (409, "agent_busy"), "{}", r.text);
    // A waiting caller queues behind the running run instead.
    let r = s.send_message(&agent, "patient").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["messages"][1]["content"], "queued one");
    assert_eq!(finished_run(&s, first.body["run_id"].as_str().unwrap()).await["status"], "completed");
    let contents: Vec<Value> = s.history(&agent).await.iter().map(|m| m["content"].clone()).collect();
    assert_eq!(contents, ["slow one", "slow", "patient", "queued one"]);
}

#[tokio::test]
async fn a_restart_between_messages_keeps_the_window_and_summary() {
    let model = ScriptedModel::openai([
        Turn::new(Reply::text("One.")),
        Turn::new(Reply::text("Two.")),
        Turn::new(Reply::text("SUMMARY: the user counted to two.")),
        Turn::new(Reply::text("Three.")).expect_system_contains("SUMMARY: the user counted to two.").expect(|req| {
            let contents: Vec<String> = req.messages().iter().map(|m| m["content"].to_string()).collect();
            if contents.len() == 3 { Ok(()) } else { Err(format!("unexpected window: {contents:?}")) }
        }),
    ])
    .await;
    let s = TestServer::with_openai(&model).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    s.send_message(&agent, "one").await;
    s.send_message(&agent, "two").await;
    let r = s.post(&format!("/v1/agents/{agent}/compact"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["evicted"], 2);
    let before = s.get(&format!("/v1/agents/{agent}/context")).await.body;

    let s = s.restart().await;
    let after = s.get(&format!("/v1/agents/{agent}/context")).await.body;
    assert_eq!(before["messages_in_context"], after["messages_in_context"]);
    assert_eq!(before["summary_tokens"], after["summary_tokens"]);
    let r = s.send_message(&agent, "three").await;
    assert_eq!(r.status, 200, "{}", r.text);
    model.assert_done();
}

#[tokio::test]
async fn a_run_interrupted_by_a_stop_is_failed_at_restart_and_the_agent_stays_usable() {
    let model = ScriptedModel::openai([
        Turn::new(Reply::tool("conversation_search", json!({"query": "x"}))),
        // The model is still thinking about the second step when the server stops.
        Turn::new(Reply::text("too late").after(Duration::from_millis(600))),
        Turn::new(Reply::text("Back again.")),
    ])
    .await;
    let s = TestServer::with_openai(&model).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    let r = s.post(&format!("/v1/agents/{agent}/messages/async"), send_body("start something long")).await;
    let run_id = r.body["run_id"].as_str().unwrap().to_owned();
    while model.requests().len() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let s = s.restart().await;
    let run = s.get(&format!("/v1/runs/{run_id}")).await.body;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run["error"].as_str().unwrap().contains("interrupted"));
    // The history reads as whole exchanges, and the agent answers the next message.
    let roles: Vec<Value> = s.history(&agent).await.iter().map(|m| m["role"].clone()).collect();
    assert_eq!(roles, ["user", "assistant", "tool"]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let r = s.send_message(&agent, "are you there?").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["messages"][1]["content"], "Back again.");
    let roles: Vec<Value> = s.history(&agent).await.iter().map(|m| m["role"].clone()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "user", "assistant"], "the interrupted run wrote nothing late");
}
