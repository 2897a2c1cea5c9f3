//! The tools over MCP: the list (names, descriptions and schemas identical to the agent's own tools), and each tool
//! doing what the agent's tool does, visible through the REST API and audited as the `mcp` actor.

use engram_testkit::{Reply, ScriptedModel, TestServer, Turn};
use serde_json::{Value, json};

use crate::support::{agent, connect};

#[tokio::test]
async fn initialize_names_engram_and_its_capabilities() {
    let s = TestServer::spawn().await;
    let id = agent(&s, "demo").await;
    let session = connect(&s, &id).await;
    let info = session.client.peer_info().expect("server info after initialize");
    let server_info = info.server_info.as_ref().expect("serverInfo");
    assert_eq!(server_info.name, "engram");
    assert_eq!(info.protocol_version.as_str(), "2025-11-25");
    assert!(info.capabilities.tools.is_some());
    let resources = info.capabilities.resources.as_ref().expect("resources capability");
    assert_eq!(resources.subscribe, Some(true));
    assert!(info.instructions.as_deref().unwrap_or("").contains("memory_blocks"));
    session.close().await;
}

#[tokio::test]
async fn tools_are_the_agent_tools_with_their_schemas_plus_memory_blocks() {
    let s = TestServer::spawn().await;
    let id = agent(&s, "demo").await;
    let session = connect(&s, &id).await;
    let tools = session.client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "memory_blocks",
            "core_memory_append",
            "core_memory_replace",
            "memory_insert",
            "memory_rethink",
            "archival_memory_insert",
            "archival_memory_search",
            "conversation_search",
        ]
    );
    // The same descriptions and JSON schemas as the agent's model sees (`GET /v1/tools`).
    let rest = s.get("/v1/tools").await;
    for tool in &tools[1..] {
        let listed = rest.body["items"].as_array().unwrap().iter().find(|t| t["name"] == tool.name.as_ref()).unwrap();
        assert_eq!(Value::Object((*tool.input_schema).clone()), listed["parameters"], "{}", tool.name);
        assert_eq!(tool.description.as_deref(), listed["description"].as_str(), "{}", tool.name);
    }
    assert!(!names.contains(&"send_message"));
    let memory_blocks = &tools[0];
    assert_eq!(Value::Object((*memory_blocks.input_schema).clone())["type"], "object");
    let read_only = |name: &str| {
        tools.iter().find(|t| t.name == name).and_then(|t| t.annotations.as_ref()).and_then(|a| a.read_only_hint)
    };
    assert_eq!(read_only("memory_blocks"), Some(true));
    assert_eq!(read_only("archival_memory_search"), Some(true));
    assert_eq!(read_only("core_memory_append"), Some(false));
    session.close().await;
}

#[tokio::test]
async fn core_memory_edits_over_mcp_show_in_rest_and_are_audited_as_mcp() {
    let s = TestServer::spawn().await;
    let id = agent(&s, "demo").await;
    let session = connect(&s, &id).await;
    let human_path = format!("/v1/agents/{id}/blocks/human");
    let human = || s.get(&human_path);

    let text = session.call_ok("core_memory_append", json!({"label": "human", "content": "Likes tea."})).await;
    assert!(text.contains("Block `human` updated (version 2)"), "{text}");
    assert_eq!(human().await.body["value"], "Name: unknown\nLikes tea.");

    session
        .call_ok(
            "core_memory_replace",
            json!({"label": "human", "old_content": "Name: unknown", "new_content": "Name: Ada"}),
        )
        .await;
    assert_eq!(human().await.body["value"], "Name: Ada\nLikes tea.");

    session.call_ok("memory_insert", json!({"label": "human", "content": "Lives in London.", "line": 1})).await;
    assert_eq!(human().await.body["value"], "Name: Ada\nLives in London.\nLikes tea.");

    session.call_ok("memory_rethink", json!({"label": "persona", "new_value": "A concise assistant."})).await;
    let persona = s.get(&format!("/v1/agents/{id}/blocks/persona")).await;
    assert_eq!(persona.body["value"], "A concise assistant.");
    assert_eq!(human().await.body["version"], 4);

    // Every edit went through the audited write path, as the MCP client (local mode: the `local` credential).
    let events = s.list_all(&format!("/v1/audit/events?agent_id={id}"), 1000).await;
    let updates: Vec<&Value> = events.iter().filter(|e| e["action"] == "block.update").collect();
    assert_eq!(updates.len(), 4);
    for update in updates {
        assert_eq!(update["actor"], json!({"kind": "mcp", "id": "local"}));
        assert_eq!(update["run_id"], Value::Null);
        assert!(update["request_id"].is_string(), "{update}");
    }
    session.close().await;
}

#[tokio::test]
async fn memory_blocks_reads_every_block() {
    let s = TestServer::spawn().await;
    let id = agent(&s, "demo").await;
    let session = connect(&s, &id).await;
    let r = s
        .patch(&format!("/v1/agents/{id}/blocks/persona"), json!({"description": "Who I am.", "read_only": true}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let blocks: Value = serde_json::from_str(&session.call_ok("memory_blocks", json!({})).await).unwrap();
    assert_eq!(
        blocks,
        json!([
            {"label": "human", "value": "Name: unknown", "limit": 200, "description": null, "read_only": false},
            {"label": "persona", "value": "A careful assistant.", "limit": 5000, "description": "Who I am.",
             "read_only": true}
        ])
    );
    // Without arguments at all, too.
    let again: Value = serde_json::from_str(&session.call_ok("memory_blocks", Value::Null).await).unwrap();
    assert_eq!(again, blocks);
    session.close().await;
}

#[tokio::test]
async fn archival_inserts_and_searches_cross_between_mcp_and_rest() {
    let s = TestServer::spawn().await;
    let id = agent(&s, "demo").await;
    let session = connect(&s, &id).await;

    let text = session
        .call_ok("archival_memory_insert", json!({"content": "Ada is allergic to peanuts.", "tags": ["health"]}))
        .await;
    assert!(text.starts_with("Saved to archival memory as psg_"), "{text}");
    let passages = s.list_all(&format!("/v1/agents/{id}/archival"), 50).await;
    assert_eq!(passages.len(), 1);
    assert_eq!(passages[0]["text"], "Ada is allergic to peanuts.");
    assert_eq!(passages[0]["tags"], json!(["health"]));

    let r = s.post(&format!("/v1/agents/{id}/archival"), json!({"text": "Ada runs marathons in spring."})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let found: Value = serde_json::from_str(
        &session.call_ok("archival_memory_search", json!({"query": "marathons", "top_k": 5})).await,
    )
    .unwrap();
    assert_eq!(found[0]["text"], "Ada runs marathons in spring.");
    let tagged: Value = serde_json::from_str(
        &session.call_ok("archival_memory_search", json!({"query": "Ada", "tags": ["health"]})).await,
    )
    .unwrap();
    assert_eq!(tagged.as_array().unwrap().len(), 1);
    assert_eq!(tagged[0]["text"], "Ada is allergic to peanuts.");
    let none = session.call_ok("archival_memory_search", json!({"query": "volcano"})).await;
    assert_eq!(none, "No passages matched.");

    let events = s.list_all(&format!("/v1/audit/events?agent_id={id}"), 1000).await;
    let insert = events.iter().find(|e| e["action"] == "passage.insert").unwrap();
    assert_eq!(insert["actor"]["kind"], "mcp");
    session.close().await;
}

#[tokio::test]
async fn conversation_search_finds_the_messages_of_a_run() {
    let model = ScriptedModel::openai([Turn::new(Reply::text("The Alps sound lovely."))]).await;
    let s = TestServer::with_openai(&model).await;
    let id = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    let r = s.send_message(&id, "I go hiking in the Alps every summer.").await;
    assert_eq!(r.status, 200, "{}", r.text);
    model.assert_done();

    let session = connect(&s, &id).await;
    let found: Value =
        serde_json::from_str(&session.call_ok("conversation_search", json!({"query": "hiking Alps"})).await).unwrap();
    let contents: Vec<&str> = found.as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert!(contents.contains(&"I go hiking in the Alps every summer."), "{found}");
    let user_only: Value = serde_json::from_str(
        &session.call_ok("conversation_search", json!({"query": "Alps", "role": "assistant"})).await,
    )
    .unwrap();
    assert_eq!(user_only.as_array().unwrap().len(), 1);
    assert_eq!(user_only[0]["content"], "The Alps sound lovely.");
    session.close().await;
}
