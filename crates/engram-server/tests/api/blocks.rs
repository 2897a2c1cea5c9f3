//! Core memory blocks: agent-scoped edits, ETag/If-Match, limits, and shared blocks across agents.

use engram_testkit::TestServer;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn edit_block_with_etag_and_if_match() {
    let s = TestServer::spawn().await;
    let agent = s.create_agent("a").await;
    let path = format!("/v1/agents/{}/blocks/human", agent["id"].as_str().unwrap());

    let got = s.get(&path).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("etag"), Some("\"1\""));
    assert_eq!(got.body["value"], "Name: unknown");

    let edit =
        s.send(s.request(Method::PATCH, &path).header("If-Match", "\"1\"").json(&json!({"value": "Name: Ada"}))).await;
    assert_eq!(edit.status, 200, "{}", edit.text);
    assert_eq!(edit.body["version"], 2);
    assert_eq!(edit.header("etag"), Some("\"2\""));

    // A stale If-Match loses, and changes nothing.
    let stale =
        s.send(s.request(Method::PATCH, &path).header("If-Match", "\"1\"").json(&json!({"value": "Name: Bob"}))).await;
    assert_eq!((stale.status, stale.code()), (409, "version_conflict"));
    assert_eq!(stale.body["error"]["details"]["current_version"], 2);
    let now = s.get(&path).await;
    assert_eq!((now.body["value"].as_str(), now.body["version"].as_i64()), (Some("Name: Ada"), Some(2)));

    // Without If-Match the last writer wins; a no-op patch does not bump the version.
    let r = s.patch(&path, json!({"value": "Name: Ada"})).await;
    assert_eq!(r.body["version"], 2);
    let r = s.patch(&path, json!({"description": "who the user is", "limit": 300})).await;
    assert_eq!((r.body["version"].as_i64(), r.body["limit"].as_u64()), (Some(3), Some(300)));
    let r = s.patch(&path, json!({"description": null})).await;
    assert_eq!(r.body["description"], json!(null));

    let list = s.get(&format!("/v1/agents/{}/blocks", agent["id"].as_str().unwrap())).await;
    assert_eq!(list.body.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn over_limit_values_are_refused_and_change_nothing() {
    let s = TestServer::spawn().await;
    let agent = s.create_agent("a").await;
    let path = format!("/v1/agents/{}/blocks/human", agent["id"].as_str().unwrap());
    let r = s.patch(&path, json!({"value": "x".repeat(201)})).await;
    assert_eq!((r.status, r.code()), (422, "block_limit_exceeded"));
    assert_eq!(r.body["error"]["details"], json!({"label": "human", "limit": 200, "requested": 201}));
    // Lowering the limit below the current value is refused too.
    let r = s.patch(&path, json!({"limit": 5})).await;
    assert_eq!((r.status, r.code()), (422, "block_limit_exceeded"));
    let now = s.get(&path).await;
    assert_eq!(
        (now.body["value"].as_str(), now.body["version"].as_i64(), now.body["limit"].as_u64()),
        (Some("Name: unknown"), Some(1), Some(200))
    );
    // Exactly at the limit is fine (characters, not bytes).
    let r = s.patch(&path, json!({"value": "é".repeat(200)})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let r =
        s.post("/v1/agents", json!({"name": "b", "blocks": [{"label": "human", "value": "xyz", "limit": 2}]})).await;
    assert_eq!((r.status, r.code()), (422, "block_limit_exceeded"));
    assert_eq!(s.get("/v1/agents?name=b").await.body["items"], json!([]));
}

#[tokio::test]
async fn shared_block_edits_are_seen_by_every_agent() {
    let s = TestServer::spawn().await;
    let block = s.post("/v1/blocks", json!({"label": "team", "value": "We ship on Fridays."})).await;
    assert_eq!(block.status, 201, "{}", block.text);
    assert_eq!(block.header("etag"), Some("\"1\""));
    let block_id = block.body["id"].as_str().unwrap().to_owned();
    assert_eq!(block.body["agent_ids"], json!([]));

    let a = s.post("/v1/agents", json!({"name": "a", "block_ids": [block_id]})).await.body;
    let b = s.create_agent("b").await;
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let attach = s.post(&format!("/v1/agents/{b_id}/blocks/attach"), json!({"block_id": block_id})).await;
    assert_eq!(attach.status, 200, "{}", attach.text);
    assert_eq!(attach.body["blocks"].as_array().unwrap().len(), 3);

    let edit = s.patch(&format!("/v1/agents/{a_id}/blocks/team"), json!({"value": "We ship on Mondays."})).await;
    assert_eq!(edit.status, 200);
    let seen_by_b = s.get(&format!("/v1/agents/{b_id}/blocks/team")).await;
    assert_eq!(seen_by_b.body["value"], "We ship on Mondays.");
    assert_eq!(seen_by_b.body["agent_ids"], json!([a_id, b_id]));
    let by_id = s.get(&format!("/v1/blocks/{block_id}")).await;
    assert_eq!(by_id.body["version"], 2);

    // Attaching twice, or a second block with the same label, conflicts.
    let again = s.post(&format!("/v1/agents/{b_id}/blocks/attach"), json!({"block_id": block_id})).await;
    assert_eq!((again.status, again.code()), (409, "already_exists"));
    let other = s.post("/v1/blocks", json!({"label": "human", "value": "dup"})).await;
    let dup = s.post(&format!("/v1/agents/{b_id}/blocks/attach"), json!({"block_id": other.body["id"]})).await;
    assert_eq!((dup.status, dup.code()), (409, "already_exists"));

    // Deleting a block in use needs force; deleting an agent leaves shared blocks alone.
    let del = s.delete(&format!("/v1/blocks/{block_id}")).await;
    assert_eq!((del.status, del.code()), (409, "block_in_use"));
    assert_eq!(s.delete(&format!("/v1/agents/{a_id}")).await.status, 204);
    let still = s.get(&format!("/v1/blocks/{block_id}")).await;
    assert_eq!((still.status, still.body["agent_ids"].clone()), (200, json!([b_id])));

    let detach = s.post(&format!("/v1/agents/{b_id}/blocks/detach"), json!({"label": "team"})).await;
    assert_eq!(detach.status, 200);
    assert_eq!(s.get(&format!("/v1/agents/{b_id}/blocks/team")).await.code(), "block_not_found");
    s.post(&format!("/v1/agents/{b_id}/blocks/attach"), json!({"block_id": block_id})).await;
    assert_eq!(s.delete(&format!("/v1/blocks/{block_id}?force=true")).await.status, 204);
    assert_eq!(s.get(&format!("/v1/blocks/{block_id}")).await.status, 404);
    assert_eq!(s.get(&format!("/v1/agents/{b_id}/blocks/team")).await.status, 404);
    let listed = s.list_all("/v1/blocks", 2).await;
    assert!(listed.iter().all(|b| b["id"] != json!(block_id)));
}

#[tokio::test]
async fn labels_that_look_like_actions_still_work() {
    let s = TestServer::spawn().await;
    let agent = s.post("/v1/agents", json!({"name": "a", "blocks": [{"label": "attach", "value": "v"}]})).await.body;
    let path = format!("/v1/agents/{}/blocks/attach", agent["id"].as_str().unwrap());
    let got = s.get(&path).await;
    assert_eq!(got.body["value"], "v", "{}", got.text);
    assert_eq!(s.patch(&path, json!({"value": "w"})).await.body["value"], "w");
}

#[tokio::test]
async fn standalone_blocks_patch_by_id_with_if_match() {
    let s = TestServer::spawn().await;
    let block = s.post("/v1/blocks", json!({"label": "notes", "value": "a", "limit": 10})).await.body;
    let path = format!("/v1/blocks/{}", block["id"].as_str().unwrap());
    let ok = s.send(s.request(Method::PATCH, &path).header("If-Match", "1").json(&json!({"value": "b"}))).await;
    assert_eq!(ok.status, 200);
    let stale = s.send(s.request(Method::PATCH, &path).header("If-Match", "1").json(&json!({"value": "c"}))).await;
    assert_eq!(stale.code(), "version_conflict");
    let bad = s.send(s.request(Method::PATCH, &path).header("If-Match", "soon").json(&json!({"value": "c"}))).await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_request"));
    assert_eq!(s.get(&path).await.body["value"], "b");
}
