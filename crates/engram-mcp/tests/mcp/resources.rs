//! Core memory blocks as MCP resources: listed, read, and watched. Subscribers hear of a change whether it was made
//! over MCP or through the REST API.

// rmcp marks `resources/subscribe` deprecated in favour of the 2026-07-28 revision's `subscriptions/listen`; engram
// serves the revisions up to 2025-11-25, whose clients subscribe this way.
#![allow(deprecated)]

use engram_testkit::TestServer;
use rmcp::ServiceError;
use rmcp::model::{
    ErrorCode, ReadResourceRequestParams, ResourceContents, SubscribeRequestParams, UnsubscribeRequestParams,
};
use serde_json::json;

use crate::support::{Session, agent, connect};

async fn read(session: &Session, uri: &str) -> Result<String, ServiceError> {
    let result = session.client.read_resource(ReadResourceRequestParams::new(uri)).await?;
    assert_eq!(result.contents.len(), 1);
    match &result.contents[0] {
        ResourceContents::TextResourceContents { uri: read_uri, mime_type, text, .. } => {
            assert_eq!(read_uri, uri);
            assert_eq!(mime_type.as_deref(), Some("text/plain"));
            Ok(text.clone())
        }
        other => panic!("expected text, got {other:?}"),
    }
}

#[tokio::test]
async fn blocks_are_listed_and_read_as_resources() {
    let s = TestServer::spawn().await;
    let id = agent(&s, "demo").await;
    let session = connect(&s, &id).await;

    let resources = session.client.list_all_resources().await.unwrap();
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    let human_uri = format!("engram://agents/{id}/blocks/human");
    assert_eq!(uris, [human_uri.clone(), format!("engram://agents/{id}/blocks/persona")]);
    assert_eq!(resources[0].name, "human");
    assert_eq!(resources[0].mime_type.as_deref(), Some("text/plain"));
    assert_eq!(resources[0].size, Some("Name: unknown".len() as u64));

    assert_eq!(read(&session, &human_uri).await.unwrap(), "Name: unknown");

    let templates = session.client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0].uri_template, "engram://agents/{agent_id}/blocks/{label}");
    session.close().await;
}

#[tokio::test]
async fn edits_cross_between_rest_and_mcp_resources() {
    let s = TestServer::spawn().await;
    let id = agent(&s, "demo").await;
    let session = connect(&s, &id).await;
    let human_uri = format!("engram://agents/{id}/blocks/human");

    let r = s.patch(&format!("/v1/agents/{id}/blocks/human"), json!({"value": "Name: Grace"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(read(&session, &human_uri).await.unwrap(), "Name: Grace");

    session.call_ok("core_memory_append", json!({"label": "human", "content": "Admiral."})).await;
    assert_eq!(read(&session, &human_uri).await.unwrap(), "Name: Grace\nAdmiral.");
    session.close().await;
}

#[tokio::test]
async fn unknown_malformed_and_other_agents_resources_are_not_found() {
    let s = TestServer::spawn().await;
    let id = agent(&s, "demo").await;
    let other = agent(&s, "other").await;
    let session = connect(&s, &id).await;
    for uri in [
        format!("engram://agents/{id}/blocks/notes"),
        format!("engram://agents/{other}/blocks/human"),
        format!("engram://agents/{id}/blocks/Human"),
        "file:///etc/passwd".to_owned(),
    ] {
        let Err(ServiceError::McpError(error)) = read(&session, &uri).await else {
            panic!("reading {uri} should fail");
        };
        assert_eq!(error.code, ErrorCode::RESOURCE_NOT_FOUND, "{uri}: {error:?}");
        assert!(error.message.contains("not found"), "{}", error.message);
        let subscribed = session.client.subscribe(SubscribeRequestParams::new(uri.clone())).await;
        assert!(matches!(subscribed, Err(ServiceError::McpError(_))), "subscribing to {uri}: {subscribed:?}");
    }
    session.close().await;
}

#[tokio::test]
async fn subscribers_hear_of_mcp_and_rest_edits() {
    let s = TestServer::spawn().await;
    let id = agent(&s, "demo").await;
    let mut watcher = connect(&s, &id).await;
    let editor = connect(&s, &id).await;
    let human_uri = format!("engram://agents/{id}/blocks/human");
    watcher.client.subscribe(SubscribeRequestParams::new(human_uri.clone())).await.unwrap();

    // An edit over MCP, from another session.
    editor.call_ok("core_memory_append", json!({"label": "human", "content": "Likes tea."})).await;
    assert_eq!(watcher.next_update().await, human_uri);
    assert_eq!(read(&watcher, &human_uri).await.unwrap(), "Name: unknown\nLikes tea.");

    // An edit through the REST API.
    let r = s.patch(&format!("/v1/agents/{id}/blocks/human"), json!({"value": "Name: Ada"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(watcher.next_update().await, human_uri);
    assert_eq!(read(&watcher, &human_uri).await.unwrap(), "Name: Ada");

    // After unsubscribing, edits of that block are not announced; other subscriptions still are.
    watcher.client.unsubscribe(UnsubscribeRequestParams::new(human_uri.clone())).await.unwrap();
    let persona_uri = format!("engram://agents/{id}/blocks/persona");
    watcher.client.subscribe(SubscribeRequestParams::new(persona_uri.clone())).await.unwrap();
    editor.call_ok("core_memory_append", json!({"label": "human", "content": "Unheard."})).await;
    editor.call_ok("memory_rethink", json!({"label": "persona", "new_value": "Terse."})).await;
    assert_eq!(watcher.next_update().await, persona_uri);
    editor.close().await;
    watcher.close().await;
}
