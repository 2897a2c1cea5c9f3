//! Context paging over HTTP: the token breakdown matches what is sent, long conversations compact under the
//! window without losing or splitting anything, evicted messages stay searchable, and the provider's "too long"
//! answer triggers compaction and a retry.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use engram_llm::tokens::TokenCounter;
use engram_llm::{ChatMessage, RawToolCall, ToolSpec};
use engram_testkit::{RecordedRequest, Reply, ScriptedModel, TestServer, Turn};
use serde_json::{Value, json};

const SUMMARISER_MARK: &str = "You maintain the running summary";

/// The tokens of an OpenAI-wire request as engram counts them: system message, tool schemas, messages.
fn request_tokens(req: &RecordedRequest) -> (u64, u64, u64) {
    let counter = TokenCounter::for_model("openai", "gpt-4o-mini");
    let system = counter.count_system(&req.system_text());
    let tools: Vec<ToolSpec> = req.body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| ToolSpec {
            name: t["function"]["name"].as_str().unwrap().to_owned(),
            description: t["function"]["description"].as_str().unwrap().to_owned(),
            parameters: t["function"]["parameters"].clone(),
        })
        .collect();
    let messages: u64 = req.messages().iter().map(|m| counter.count_message(&chat_message(m))).sum();
    (system, counter.count_tools(&tools), messages)
}

fn chat_message(m: &Value) -> ChatMessage {
    let content = m["content"].as_str().unwrap_or("").to_owned();
    match m["role"].as_str().unwrap() {
        "user" => ChatMessage::User { content },
        "assistant" => ChatMessage::Assistant {
            content,
            tool_calls: m["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| RawToolCall {
                    id: c["id"].as_str().unwrap().to_owned(),
                    name: c["function"]["name"].as_str().unwrap().to_owned(),
                    arguments: c["function"]["arguments"].as_str().unwrap().to_owned(),
                })
                .collect(),
        },
        _ => ChatMessage::Tool {
            tool_call_id: m["tool_call_id"].as_str().unwrap().to_owned(),
            name: String::new(),
            content,
            is_error: false,
        },
    }
}

/// Every tool result follows its call, and every call is answered before the conversation moves on.
fn assert_whole_exchanges(req: &RecordedRequest) {
    let mut pending: Vec<String> = Vec::new();
    for m in req.messages() {
        if m["role"] == "tool" {
            let id = m["tool_call_id"].as_str().unwrap();
            let at = pending.iter().position(|p| p == id);
            assert!(at.is_some(), "a tool result without its call in the request: {m}");
            pending.retain(|p| p != id);
        } else {
            assert!(pending.is_empty(), "calls {pending:?} were not answered before {m}");
            for call in m["tool_calls"].as_array().into_iter().flatten() {
                pending.push(call["id"].as_str().unwrap().to_owned());
            }
        }
    }
}

#[tokio::test]
async fn the_context_breakdown_adds_up_to_the_request_sent() {
    let model = ScriptedModel::openai([Turn::new(Reply::text("Hello.")), Turn::new(Reply::text("Again."))]).await;
    let s = TestServer::with_openai(&model).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    s.send_message(&agent, "First message.").await;

    let context = s.get(&format!("/v1/agents/{agent}/context")).await.body;
    assert_eq!(context["tokenizer"], "o200k_base");
    assert_eq!(context["context_window"], 32000);
    let parts = ["system_tokens", "core_memory_tokens", "tool_schema_tokens", "summary_tokens", "message_tokens"];
    let sum: u64 = parts.iter().map(|p| context[p].as_u64().unwrap()).sum();
    assert_eq!(context["total_tokens"].as_u64().unwrap(), sum);
    assert_eq!(context["messages_in_context"], 2);
    assert_eq!(context["recall_messages"], 2);

    let text = "Second message, with a few more words in it.";
    s.send_message(&agent, text).await;
    let sent = model.last_request().unwrap();
    let (system, tools, messages) = request_tokens(&sent);
    let counter = TokenCounter::for_model("openai", "gpt-4o-mini");
    let new_message = counter.count_message(&ChatMessage::User { content: text.to_owned() });
    let n = |k: &str| context[k].as_u64().unwrap();
    assert_eq!(system, n("system_tokens") + n("core_memory_tokens") + n("summary_tokens"));
    assert_eq!(tools, n("tool_schema_tokens"));
    assert_eq!(messages, n("message_tokens") + new_message);
    assert_eq!(sent.messages().len() as u64, n("messages_in_context") + 1);
    assert!(system > 250 && tools > 500, "system {system}, tools {tools}");
}

#[tokio::test]
async fn a_long_conversation_on_a_small_window_compacts_without_losing_anything() {
    let model = ScriptedModel::openai([]).await;
    let summaries = Arc::new(AtomicUsize::new(0));
    let counter = summaries.clone();
    model.respond_with(move |req| {
        if req.system_text().starts_with(SUMMARISER_MARK) {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            return Reply::text(format!("SUMMARY-{n}: the user has been listing numbered facts about the weather."));
        }
        let last = req.messages().last().cloned().unwrap();
        let asked = req.last_user_text().unwrap_or_default();
        if last["role"] == "user" && asked.contains("fact 1") {
            Reply::tool("conversation_search", json!({"query": asked}))
        } else {
            Reply::text(
                "Noted. That is an interesting observation about the weather, and I will keep it in mind later.",
            )
        }
    });
    let s = TestServer::with_openai(&model).await;
    let agent = s
        .create_model_agent("openai/gpt-4o-mini", json!({"context_window": 1500, "tools": ["conversation_search"]}))
        .await;
    let mut sent = Vec::new();
    for i in 0..16 {
        let text = format!(
            "Here is fact {i} about the weather: on day {i} it was cloudy in the morning, sunny at noon and windy \
             in the evening, with a light rain late at night."
        );
        let r = s.send_message(&agent, &text).await;
        assert_eq!(r.status, 200, "send {i}: {}", r.text);
        sent.push(text);
        let context = s.get(&format!("/v1/agents/{agent}/context")).await.body;
        assert!(context["total_tokens"].as_u64().unwrap() < 1500, "over the window after send {i}: {context}");
    }
    let summary_count = summaries.load(Ordering::SeqCst);
    assert!(summary_count >= 2, "compacted {summary_count} times");

    // Nothing was lost: every message is still listed, most of them out of the window now.
    let history = s.history(&agent).await;
    let users: Vec<&str> =
        history.iter().filter(|m| m["role"] == "user").map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(users, sent);
    assert!(history.iter().any(|m| m["in_context"] == false));
    let summaries_listed: Vec<&Value> = history.iter().filter(|m| m["role"] == "summary").collect();
    assert_eq!(summaries_listed.len(), summary_count);
    assert_eq!(summaries_listed.iter().filter(|m| m["in_context"] == true).count(), 1, "one summary in the window");
    assert!(history.iter().any(|m| m["role"] == "system" && m["content"].as_str().unwrap().contains("filling up")));

    // What the model saw: the latest summary in the system message after each compaction, the previous summary
    // folded into the next, and never a call separated from its result.
    let requests = model.requests();
    for (i, req) in requests.iter().enumerate() {
        assert_whole_exchanges(req);
        let text = req.system_text();
        if text.starts_with(SUMMARISER_MARK) {
            let n = requests[..i].iter().filter(|r| r.system_text().starts_with(SUMMARISER_MARK)).count();
            if n > 0 {
                assert!(req.text().contains(&format!("SUMMARY-{n}")), "the previous summary is not folded in");
            }
            let next = requests[i + 1..].iter().find(|r| !r.system_text().starts_with(SUMMARISER_MARK)).unwrap();
            assert!(
                next.system_text().contains(&format!("SUMMARY-{}", n + 1)),
                "the summary is not in the next request"
            );
        } else {
            let (system, tools, messages) = request_tokens(req);
            assert!(system + tools + messages < 1500, "request {i} has {} tokens", system + tools + messages);
        }
    }
}

#[tokio::test]
async fn an_evicted_message_is_found_by_conversation_search() {
    let model = ScriptedModel::openai([
        Turn::new(Reply::text("Got it.")),
        Turn::new(Reply::text("Sure.")),
        Turn::new(Reply::text("The user told me their locker number.")),
        Turn::new(Reply::tool("conversation_search", json!({"query": "locker number", "role": "user"}))),
        Turn::new(Reply::text("Your locker is 4417.")).expect(|req| {
            let result = req.messages().last().cloned().unwrap();
            let content = result["content"].as_str().unwrap_or("");
            if content.contains("4417") { Ok(()) } else { Err(format!("search missed the evicted message: {content}")) }
        }),
    ])
    .await;
    let s = TestServer::with_openai(&model).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    s.send_message(&agent, "My locker number is 4417.").await;
    s.send_message(&agent, "Thanks.").await;
    let r = s.post(&format!("/v1/agents/{agent}/compact"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let history = s.history(&agent).await;
    assert_eq!(history[0]["in_context"], false, "the locker message left the window");
    let found = s.get(&format!("/v1/agents/{agent}/messages/search?q=locker&role=user")).await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.body["results"][0]["message"]["content"], "My locker number is 4417.");
    let r = s.send_message(&agent, "What is my locker number?").await;
    assert_eq!(r.status, 200, "{}", r.text);
    model.assert_done();
    let empty = s.get(&format!("/v1/agents/{agent}/messages/search?q=")).await;
    assert_eq!((empty.status, empty.code()), (400, "invalid_request"));
}

#[tokio::test]
async fn a_context_length_error_compacts_and_retries() {
    let model = ScriptedModel::openai([
        Turn::new(Reply::text("A.")),
        Turn::new(Reply::text("B.")),
        Turn::new(Reply::context_length()),
        Turn::new(Reply::text("SUMMARY: two short exchanges.")).expect_system_contains(SUMMARISER_MARK),
        Turn::new(Reply::text("C.")).expect_system_contains("SUMMARY: two short exchanges."),
    ])
    .await;
    let s = TestServer::with_openai(&model).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    s.send_message(&agent, "a").await;
    s.send_message(&agent, "b").await;
    let r = s.send_message(&agent, "c").await;
    assert_eq!(r.status, 200, "{}", r.text);
    model.assert_done();
    assert_eq!(r.body["stop_reason"], "end_turn");
    let roles: Vec<&str> = r.body["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "summary", "assistant"]);
    // The retry compacts harder than the usual half: both earlier exchanges left the window.
    let in_context: Vec<bool> = s.history(&agent).await.iter().map(|m| m["in_context"].as_bool().unwrap()).collect();
    assert_eq!(in_context, [false, false, false, false, true, true, true]);
}

#[tokio::test]
async fn core_memory_larger_than_the_window_is_a_context_overflow() {
    let model = ScriptedModel::openai([]).await;
    let s = TestServer::with_openai(&model).await;
    let block = json!({"label": "notes", "value": "lorem ipsum dolor sit amet ".repeat(180), "limit": 10000});
    let agent = s
        .create_model_agent("openai/gpt-4o-mini", json!({"context_window": 1000, "tools": [], "blocks": [block]}))
        .await;
    let r = s.send_message(&agent, "hello").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["stop_reason"], "context_overflow");
    assert!(r.body["error"].as_str().unwrap().contains("shorten core memory"), "{}", r.text);
    assert!(model.requests().is_empty());
    let run = s.get(&format!("/v1/runs/{}", r.body["run_id"].as_str().unwrap())).await;
    assert_eq!(run.body["status"], "failed");
}
