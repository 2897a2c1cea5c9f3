//! The audit log: exactly one event per changed object, gap-free `seq`, commitments instead of content.

use engram_testkit::TestServer;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn every_mutation_records_its_events() {
    let s = TestServer::spawn().await;
    let mut seen = 0;
    let mut expect = async |what: &str, actions: &[&str]| {
        let got = crate::actions_since(&s, seen).await;
        assert_eq!(got, actions, "{what}");
        seen += got.len();
    };

    let agent = s.create_agent("audited").await;
    let id = agent["id"].as_str().unwrap().to_owned();
    expect("create agent with two blocks", &["agent.create", "block.create", "block.create"]).await;

    s.patch(&format!("/v1/agents/{id}"), json!({"name": "renamed"})).await;
    expect("patch agent", &["agent.update"]).await;
    s.patch(&format!("/v1/agents/{id}"), json!({"name": "renamed"})).await;
    expect("no-op patch", &[]).await;

    s.patch(&format!("/v1/agents/{id}/blocks/human"), json!({"value": "Name: Ada"})).await;
    expect("edit block", &["block.update"]).await;
    s.patch(&format!("/v1/agents/{id}/blocks/human"), json!({"value": "x".repeat(500)})).await;
    expect("refused edit", &[]).await;

    let shared = s.post("/v1/blocks", json!({"label": "team", "value": "t"})).await.body;
    expect("standalone block", &["block.create"]).await;
    s.post(&format!("/v1/agents/{id}/blocks/attach"), json!({"block_id": shared["id"]})).await;
    expect("attach", &["block.attach"]).await;
    s.post(&format!("/v1/agents/{id}/blocks/detach"), json!({"label": "team"})).await;
    expect("detach", &["block.detach"]).await;

    let p = s.post(&format!("/v1/agents/{id}/archival"), json!({"text": "secret fact"})).await.body;
    expect("passage", &["passage.insert"]).await;
    s.post(&format!("/v1/agents/{id}/archival/batch"), json!({"items": [{"text": "a"}, {"text": "b"}]})).await;
    expect("batch", &["passage.insert", "passage.insert"]).await;
    s.delete(&format!("/v1/agents/{id}/archival/{}", p["id"].as_str().unwrap())).await;
    expect("delete passage", &["passage.delete"]).await;

    s.delete(&format!("/v1/agents/{id}")).await;
    expect(
        "delete agent (its own blocks go with it; the standalone block stays)",
        &["agent.delete", "block.delete", "block.delete"],
    )
    .await;
    s.delete(&format!("/v1/blocks/{}", shared["id"].as_str().unwrap())).await;
    expect("delete block", &["block.delete"]).await;

    let events = crate::audit_events(&s).await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>(), "seq is gap-free from 1");
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("secret fact") && !text.contains("Ada"), "events hold commitments, not content");
}

#[tokio::test]
async fn events_carry_actor_target_versions_and_request_id() {
    let s = TestServer::spawn().await;
    let agent = s.create_agent("a").await;
    let id = agent["id"].as_str().unwrap();
    let block_id = agent["blocks"][0]["id"].as_str().unwrap();
    let r = s
        .send(
            s.request(Method::PATCH, &format!("/v1/agents/{id}/blocks/human"))
                .header("x-request-id", "req-123")
                .json(&json!({"value": "Name: Ada"})),
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("req-123"));
    let events = s.get(&format!("/v1/audit/events?agent_id={id}")).await.body["items"].as_array().unwrap().clone();
    let create = events.iter().find(|e| e["action"] == "block.create" && e["target"]["id"] == block_id).unwrap();
    let update = events.last().unwrap();
    assert_eq!(update["action"], "block.update");
    assert_eq!(update["target"], json!({"kind": "block", "id": block_id}));
    assert_eq!(update["agent_id"], json!(id));
    assert_eq!(update["actor"], json!({"kind": "operator", "id": "local"}));
    assert_eq!(update["org_id"], "default");
    assert_eq!(update["request_id"], "req-123");
    assert_eq!(update["before"], create["after"], "the chain links up");
    assert_eq!(update["after"]["version"], 2);
    assert_ne!(update["after"]["content_hash"], update["before"]["content_hash"]);
    assert_eq!(update["after"]["content_hash"].as_str().unwrap().len(), 64);

    // Cursor paging over events.
    let page = s.get("/v1/audit/events?limit=2").await.body;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let next = s.get(&format!("/v1/audit/events?limit=2&after={}", page["next_cursor"].as_str().unwrap())).await.body;
    assert_eq!(next["items"][0]["seq"], 3);
}
