//! Agent CRUD, defaults, filters and pagination.

use std::collections::HashSet;

use engram_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn create_read_update_delete() {
    let s = TestServer::spawn().await;
    let agent = s.create_agent("scout").await;
    let id = agent["id"].as_str().unwrap();
    assert!(id.starts_with("agent_"));
    assert_eq!(agent["name"], "scout");
    assert_eq!(agent["model"], json!(null), "no model given: memory-only");
    assert_eq!(agent["embedding"], "local/all-minilm-l6-v2");
    assert_eq!(agent["context_window"], 32000);
    assert!(agent["system"].as_str().unwrap().contains("archival_memory_insert"), "default system prompt");
    assert!(agent["tools"].as_array().unwrap().contains(&json!("core_memory_append")));
    let labels: Vec<_> = agent["blocks"].as_array().unwrap().iter().map(|b| b["label"].clone()).collect();
    assert_eq!(labels, vec![json!("human"), json!("persona")]);

    let got = s.get(&format!("/v1/agents/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, agent);

    let patched = s
        .patch(
            &format!("/v1/agents/{id}"),
            json!({"name": "scout-2", "model": "openai/gpt-4o-mini", "tags": ["a", "b"], "metadata": {"k": 1}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["name"], "scout-2");
    assert_eq!(patched.body["model"], "openai/gpt-4o-mini");
    assert_eq!(patched.body["tags"], json!(["a", "b"]));
    assert_eq!(patched.body["metadata"], json!({"k": 1}));
    assert_eq!(patched.body["version"], agent["version"].as_i64().unwrap() + 1);

    // `"model": null` makes it memory-only again; absent fields stay.
    let patched = s.patch(&format!("/v1/agents/{id}"), json!({"model": null})).await;
    assert_eq!(patched.body["model"], json!(null));
    assert_eq!(patched.body["name"], "scout-2");

    assert_eq!(s.delete(&format!("/v1/agents/{id}")).await.status, 204);
    let gone = s.get(&format!("/v1/agents/{id}")).await;
    assert_eq!((gone.status, gone.code()), (404, "agent_not_found"));
    assert_eq!(s.get(&format!("/v1/agents/{id}/archival")).await.status, 404);
    assert_eq!(s.delete(&format!("/v1/agents/{id}")).await.status, 404);
}

#[tokio::test]
async fn pagination_returns_every_agent_exactly_once() {
    let s = TestServer::spawn().await;
    let mut created = Vec::new();
    for i in 0..23 {
        let r = s.post("/v1/agents", json!({"name": format!("a{i}")})).await;
        created.push(r.body["id"].as_str().unwrap().to_owned());
    }
    for limit in [1, 5, 7, 23, 50] {
        let listed: Vec<String> =
            s.list_all("/v1/agents", limit).await.iter().map(|a| a["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(listed, created, "limit {limit}: oldest first, each once");
    }
    let unique: HashSet<_> = created.iter().collect();
    assert_eq!(unique.len(), 23);
    let page = s.get("/v1/agents?limit=23").await;
    assert_eq!(page.body["next_cursor"], json!(null), "no cursor after the last page");
}

#[tokio::test]
async fn filters_by_name_and_tag() {
    let s = TestServer::spawn().await;
    s.post("/v1/agents", json!({"name": "alpha", "tags": ["red"]})).await;
    s.post("/v1/agents", json!({"name": "beta", "tags": ["red", "blue"]})).await;
    s.post("/v1/agents", json!({"name": "alpha", "tags": ["blue"]})).await;
    let names = |r: engram_testkit::Resp| -> Vec<String> {
        r.body["items"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(s.get("/v1/agents?name=alpha").await), vec!["alpha", "alpha"]);
    assert_eq!(names(s.get("/v1/agents?tag=red").await), vec!["alpha", "beta"]);
    assert_eq!(names(s.get("/v1/agents?tag=blue&name=alpha").await), vec!["alpha"]);
    assert!(names(s.get("/v1/agents?name=gamma").await).is_empty());
}

#[tokio::test]
async fn create_with_full_configuration() {
    let s = TestServer::spawn().await;
    let r = s
        .post(
            "/v1/agents",
            json!({
                "name": "full", "system": "Be brief.", "model": "anthropic/claude-sonnet-4",
                "embedding": "openai/text-embedding-3-small", "context_window": 200000,
                "blocks": [{"label": "task", "value": "ship it", "limit": 100, "description": "current task", "read_only": true}],
                "tools": ["send_message", "archival_memory_search"], "tags": ["prod"], "metadata": {"team": "x"}
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let b = &r.body["blocks"][0];
    assert_eq!(
        (b["label"].as_str(), b["limit"].as_u64(), b["read_only"].as_bool()),
        (Some("task"), Some(100), Some(true))
    );
    assert_eq!(b["description"], "current task");
    assert_eq!(b["version"], 1);
    assert_eq!(b["agent_ids"], json!([r.body["id"]]));
    assert_eq!(r.body["tools"], json!(["send_message", "archival_memory_search"]));
    assert_eq!(r.body["system"], "Be brief.");
    assert_eq!(r.body["context_window"], 200000);
}
