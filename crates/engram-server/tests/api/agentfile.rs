//! Agent File import and export over HTTP: every sample imports with the blocks, history and window its JSON says
//! (double-encoded files too); export → import gives an equal agent and keeps the format's structure; an imported
//! conversation continues with a scripted model that is sent exactly the file's window; mangled files are refused
//! with a code and create nothing (`agentfile/mangled.rs`).

mod mangled;

use engram_testkit::models::use_anthropic;
use engram_testkit::{Reply, Resp, ScriptedModel, TestServer, Turn};
use reqwest::Method;
use serde_json::{Value, json};

/// Every `*.af` sample (the Agent File crate's fixtures), by file name, in name order.
pub fn samples() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../engram-agentfile/tests/samples");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "af"))
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap()))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "samples missing from {}", dir.display());
    files
}

pub fn sample(name: &str) -> Vec<u8> {
    samples().into_iter().find(|(n, _)| n == name).unwrap().1
}

/// The document of a file, unwrapping a second encoding.
pub fn document(bytes: &[u8]) -> Value {
    match serde_json::from_slice(bytes).unwrap() {
        Value::String(inner) => serde_json::from_str(&inner).unwrap(),
        value => value,
    }
}

/// `POST /v1/agents/import` with `body` as it is.
pub async fn import(s: &TestServer, body: impl Into<reqwest::Body>) -> Resp {
    let request = s.request(Method::POST, "/v1/agents/import").header("content-type", "application/json").body(body);
    s.send(request).await
}

/// `(label, value)` of each block of an agent, in order.
fn blocks(agent: &Value) -> Vec<(String, String)> {
    agent["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["label"].as_str().unwrap().to_owned(), b["value"].as_str().unwrap().to_owned()))
        .collect()
}

/// What a file's JSON says one agent should become.
struct Expected {
    name: String,
    /// `(label, value)` in order.
    blocks: Vec<(String, String)>,
    /// Messages engram stores: a tool message per result; the compiled system prompt opening the window is not one.
    messages: usize,
    /// Of those, in the window.
    window: usize,
}

/// What a file's JSON says each agent should become, read independently of the importer.
fn expected(doc: &Value) -> Vec<Expected> {
    let file_blocks = doc["blocks"].as_array().unwrap();
    doc["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|agent| {
            let messages = agent["messages"].as_array().unwrap();
            let stored = |m: &Value| match m["tool_returns"].as_array() {
                Some(returns) if m["role"] == "tool" && returns.len() > 1 => returns.len(),
                _ => 1,
            };
            let find = |id: &Value| messages.iter().find(|m| m["id"] == *id).unwrap();
            let window: Vec<&Value> = agent["in_context_message_ids"].as_array().unwrap().iter().collect();
            let prompt = window.first().is_some_and(|id| find(id)["role"] == "system");
            let total = messages.iter().map(stored).sum::<usize>() - usize::from(prompt);
            let in_window = window.iter().skip(usize::from(prompt)).map(|id| stored(find(id))).sum();
            let agent_blocks = agent["block_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| file_blocks.iter().find(|b| b["id"] == *id).unwrap())
                .map(|b| (b["label"].as_str().unwrap().to_owned(), b["value"].as_str().unwrap().to_owned()))
                .collect();
            Expected {
                name: agent["name"].as_str().unwrap().to_owned(),
                blocks: agent_blocks,
                messages: total,
                window: in_window,
            }
        })
        .collect()
}

#[tokio::test]
async fn every_sample_imports_with_its_blocks_history_and_window() {
    let s = TestServer::spawn().await;
    for (name, bytes) in samples() {
        let doc = document(&bytes);
        let r = import(&s, bytes).await;
        assert_eq!(r.status, 201, "{name}: {}", r.text);
        let ids: Vec<&str> = r.body["agent_ids"].as_array().unwrap().iter().map(|id| id.as_str().unwrap()).collect();
        let expected = expected(&doc);
        assert_eq!(ids.len(), expected.len(), "{name}");
        for (id, expected) in ids.iter().zip(expected) {
            let agent_name = &expected.name;
            let agent = s.get(&format!("/v1/agents/{id}")).await.body;
            assert_eq!(agent["name"], agent_name.as_str(), "{name}");
            assert_eq!(blocks(&agent), expected.blocks, "{name}: blocks of {agent_name}");
            let history = s.history(id).await;
            assert_eq!(history.len(), expected.messages, "{name}: history of {agent_name}");
            let window = history.iter().filter(|m| m["in_context"] == true).count();
            assert_eq!(window, expected.window, "{name}: window of {agent_name}");
        }
        for tool in doc["tools"].as_array().unwrap() {
            let tool_name = tool["name"].as_str().unwrap();
            let builtin =
                s.get("/v1/tools").await.body["items"].as_array().unwrap().iter().any(|t| t["name"] == tool_name);
            let warned = r.body["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().contains(&format!("`{tool_name}`")));
            assert_eq!(warned, !builtin, "{name}: a warning names {tool_name} exactly when it is not a built-in");
        }
    }
    // evie.af: the two agents share twelve blocks; an edit through one is seen by the other.
    let evie = s.list_all("/v1/agents?name=Evie", 10).await;
    let sleeptime = s.list_all("/v1/agents?name=companion-sleeptime_copy", 10).await;
    let persona =
        |agent: &Value| agent["blocks"].as_array().unwrap().iter().find(|b| b["label"] == "persona").cloned().unwrap();
    assert_eq!(persona(&evie[0])["id"], persona(&sleeptime[0])["id"]);
    assert_eq!(persona(&evie[0])["agent_ids"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn double_encoded_and_plain_files_import_alike() {
    let s = TestServer::spawn().await;
    let bytes = sample("memgpt_agent.af");
    assert!(serde_json::from_slice::<Value>(&bytes).unwrap().is_string(), "this sample is encoded twice");
    let twice = import(&s, bytes.clone()).await;
    let plain = import(&s, serde_json::to_vec(&document(&bytes)).unwrap()).await;
    assert_eq!((twice.status, plain.status), (201, 201), "{} {}", twice.text, plain.text);
    let (a, b) = (&twice.body["agents"][0], &plain.body["agents"][0]);
    assert_eq!(blocks(a), blocks(b));
    for key in ["name", "system", "model", "embedding", "context_window", "tools", "tags", "metadata"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(a["model"], "openai/gpt-4o-mini");
    assert_eq!(a["context_window"], 32000);
    assert_eq!(a["metadata"]["agentfile"]["agent"]["llm_config"]["temperature"], 0.7);
}

/// The parts of an agent and its history an export → import must keep.
async fn essence(s: &TestServer, id: &str) -> Value {
    let agent = s.get(&format!("/v1/agents/{id}")).await.body;
    let history: Vec<Value> = s
        .history(id)
        .await
        .into_iter()
        .map(|m| {
            let calls: Vec<Value> = m["tool_calls"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|c| json!([c["id"], c["name"], c["arguments"]]))
                .collect();
            json!([
                m["role"],
                m["content"],
                m["reasoning"],
                calls,
                m["tool_call_id"],
                m["tool_status"],
                m["in_context"],
                m["created_at"]
            ])
        })
        .collect();
    let block_parts: Vec<Value> = agent["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| json!([b["label"], b["value"], b["limit"], b["description"], b["read_only"]]))
        .collect();
    let mut out = json!({"blocks": block_parts, "history": history});
    for key in ["name", "system", "model", "embedding", "context_window", "tools", "tags", "metadata"] {
        out[key] = agent[key].clone();
    }
    out
}

async fn export(s: &TestServer, id: &str) -> Resp {
    let r = s.get(&format!("/v1/agents/{id}/export")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r
}

#[tokio::test]
async fn an_export_imports_back_to_an_equal_agent_and_keeps_the_format() {
    let s = TestServer::spawn().await;
    for (name, bytes) in samples() {
        let r = import(&s, bytes).await;
        for id in r.body["agent_ids"].as_array().unwrap() {
            let id = id.as_str().unwrap();
            let file = export(&s, id).await;
            let disposition = file.header("content-disposition").unwrap_or("");
            assert!(
                disposition.starts_with("attachment; filename=") && disposition.ends_with(".af\""),
                "{disposition}"
            );
            let keys =
                ["agents", "blocks", "tools", "groups", "files", "sources", "mcp_servers", "metadata", "created_at"];
            for key in keys {
                assert!(file.body.get(key).is_some(), "{name}: no `{key}` in the export");
            }
            let agent = &file.body["agents"][0];
            assert_eq!(agent["secrets"], Value::Null, "{name}");
            assert!(agent["metadata"].get("agentfile").is_none(), "{name}: kept parts go back to their places");
            let again = import(&s, file.text.clone()).await;
            assert_eq!(again.status, 201, "{name}: {}", again.text);
            let copy = again.body["agent_ids"][0].as_str().unwrap();
            assert_eq!(essence(&s, copy).await, essence(&s, id).await, "{name}");
            let second = export(&s, copy).await;
            let mut one = file.body.clone();
            let mut two = second.body.clone();
            for file in [&mut one, &mut two] {
                file["created_at"] = Value::Null;
                file["agents"][0]["messages"][0]["created_at"] = Value::Null;
            }
            assert_eq!(one, two, "{name}: exporting the copy gives the same file");
        }
    }
}

#[tokio::test]
async fn a_conversation_engram_had_survives_export_and_import() {
    let model = ScriptedModel::openai([
        Turn::new(
            Reply::tool("core_memory_append", json!({"label": "human", "content": "Name: Ada"}))
                .with_reasoning("Save it."),
        ),
        Turn::new(Reply::text("Hello, Ada.")),
        Turn::new(Reply::text("Noted.")),
        Turn::new(Reply::text("SUMMARY: Ada introduced herself.")),
    ])
    .await;
    let s = TestServer::with_openai(&model).await;
    let id = s.create_model_agent("openai/gpt-4o-mini", json!({"tags": ["demo"], "metadata": {"team": "a"}})).await;
    assert_eq!(s.send_message(&id, "I'm Ada.").await.status, 200);
    assert_eq!(s.send_message(&id, "Remember that.").await.status, 200);
    let r = s.post(&format!("/v1/agents/{id}/compact"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    model.assert_done();

    let file = export(&s, &id).await;
    let messages = file.body["agents"][0]["messages"].as_array().unwrap();
    let summary = messages.iter().find(|m| m["engram_role"] == "summary").unwrap();
    assert_eq!(summary["role"], "user");
    let call = messages.iter().find(|m| m["tool_calls"].is_array()).unwrap();
    assert_eq!(call["tool_calls"][0]["function"]["name"], "core_memory_append");
    assert!(call["tool_calls"][0]["function"]["arguments"].is_string(), "arguments are JSON text");
    assert_eq!(call["content"][0], json!({"type": "reasoning", "reasoning": "Save it."}));
    let result = messages.iter().find(|m| m["role"] == "tool").unwrap();
    assert_eq!(result["tool_returns"][0]["tool_call_id"], call["tool_calls"][0]["id"]);
    assert_eq!(result["tool_returns"][0]["status"], "success");

    let again = import(&s, file.text.clone()).await;
    assert_eq!(again.status, 201, "{}", again.text);
    let copy = again.body["agent_ids"][0].as_str().unwrap();
    assert_eq!(essence(&s, copy).await, essence(&s, &id).await);
    let history = s.history(copy).await;
    assert!(history.iter().any(|m| m["role"] == "summary" && m["in_context"] == true));
    assert!(history.iter().any(|m| m["in_context"] == false), "evicted messages stay out of the window");
}

#[tokio::test]
async fn an_imported_conversation_continues_with_exactly_the_files_window() {
    // memgpt_agent_with_convo.af: the window is the compiled system prompt alone, which engram builds itself from
    // the agent's system prompt and blocks; the next request holds those and the new message only.
    let doc = document(&sample("memgpt_agent_with_convo.af"));
    let system = doc["agents"][0]["system"].as_str().unwrap().to_owned();
    let values: Vec<String> =
        doc["blocks"].as_array().unwrap().iter().map(|b| b["value"].as_str().unwrap().trim().to_owned()).collect();
    let model = ScriptedModel::openai([Turn::new(Reply::text("Hi Chad!"))
        .expect_system_contains(system)
        .expect_system_contains(values[0].clone())
        .expect_system_contains(values[1].clone())
        .expect(|req| {
            let messages = req.messages();
            let texts: Vec<(&str, &str)> = messages
                .iter()
                .map(|m| (m["role"].as_str().unwrap_or(""), m["content"].as_str().unwrap_or("")))
                .collect();
            if texts == [("user", "Hello again")] {
                Ok(())
            } else {
                Err(format!("not the file's window: {messages:?}"))
            }
        })
        .expect(|req| {
            let mut tools = req.tool_names();
            tools.sort();
            if tools == ["conversation_search", "memory_insert"] { Ok(()) } else { Err(format!("tools: {tools:?}")) }
        })])
    .await;
    let s = TestServer::with_openai(&model).await;
    let r = import(&s, sample("memgpt_agent_with_convo.af")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["agent_ids"][0].as_str().unwrap();
    let reply = s.send_message(id, "Hello again").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    model.assert_done();
    assert_eq!(reply.body["messages"][1]["content"], "Hi Chad!");

    // loop.af: the window holds a tool call and its result, sent before the new message with the file's call id.
    let model = ScriptedModel::anthropic([Turn::new(Reply::text("Welcome back.")).expect(|req| {
        let messages = req.messages();
        let [_, assistant, user] = messages.as_slice() else { return Err(format!("{messages:?}")) };
        let call_id = "35823630-fc6f-4bf7-b70c-deb819bdc581";
        let tool_use = &assistant["content"][0];
        let ok = assistant["role"] == "assistant"
            && tool_use["type"] == "tool_use"
            && tool_use["id"] == call_id
            && tool_use["name"] == "send_message"
            && tool_use["input"]["message"] == "I'm Loop. I remember. What's on your mind?"
            && user["content"][0]["type"] == "tool_result"
            && user["content"][0]["tool_use_id"] == call_id
            && user["content"][1]["text"] == "Hello, Loop";
        if ok { Ok(()) } else { Err(format!("not the file's window: {messages:?}")) }
    })])
    .await;
    let s = TestServer::spawn_with(|config| use_anthropic(config, &model)).await;
    let r = import(&s, sample("loop.af")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["agent_ids"][0].as_str().unwrap();
    assert_eq!(r.body["agents"][0]["model"], "anthropic/claude-sonnet-4-5-20250929");
    let reply = s.send_message(id, "Hello, Loop").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    model.assert_done();
    let history = s.history(id).await;
    let roles: Vec<&str> = history.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["assistant", "tool", "user", "assistant"]);
}

#[tokio::test]
async fn exporting_an_unknown_agent_is_not_found_and_an_import_retry_is_replayed() {
    let s = TestServer::spawn().await;
    let r = s.get("/v1/agents/agent_01ARZ3NDEKTSV4RRFFQ69G5FAV/export").await;
    assert_eq!((r.status, r.code()), (404, "agent_not_found"));
    let r = s.get("/v1/agents/nonsense/export").await;
    assert_eq!((r.status, r.code()), (404, "agent_not_found"));

    let bytes = sample("customer_service.af");
    let send = || {
        s.request(Method::POST, "/v1/agents/import")
            .header("content-type", "application/json")
            .header("idempotency-key", "import-1")
            .body(bytes.clone())
    };
    let first = s.send(send()).await;
    let second = s.send(send()).await;
    assert_eq!((first.status, second.status), (201, 201));
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.body["agent_ids"], second.body["agent_ids"]);
    assert_eq!(s.list_all("/v1/agents", 100).await.len(), 1);

    let r = s.send(s.request(Method::POST, "/v1/agents/import").header("content-type", "text/plain").body(bytes)).await;
    assert_eq!((r.status, r.code()), (415, "unsupported_media_type"));
}
