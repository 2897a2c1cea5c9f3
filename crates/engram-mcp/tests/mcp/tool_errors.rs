//! Bad calls over MCP. Wrong arguments or a call the agent's state refuses answer a tool result with `isError: true`
//! and the runtime's own message (the same the agent's model would read), and change nothing; a tool that does not
//! exist is a JSON-RPC error. Either way the session goes on.

use engram_testkit::TestServer;
use rmcp::ServiceError;
use rmcp::model::ErrorCode;
use serde_json::{Value, json};

use crate::support::{Session, agent, connect, text};

/// Calls `tool` with `arguments` and checks that it fails as a tool result whose message contains `expected`.
async fn check(session: &Session, tool: &str, arguments: Value, expected: &str) {
    let result = session.call(tool, arguments.clone()).await;
    let message = text(&result);
    assert_eq!(result.is_error, Some(true), "{tool} {arguments} should fail, answered: {message}");
    assert!(message.contains(expected), "{tool} {arguments}: expected {expected:?} in {message:?}");
}

#[tokio::test]
async fn bad_arguments_are_tool_errors_that_say_what_to_fix() {
    let s = TestServer::spawn().await;
    let id = agent(&s, "demo").await;
    let r = s.patch(&format!("/v1/agents/{id}/blocks/persona"), json!({"read_only": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let session = connect(&s, &id).await;

    check(&session, "core_memory_append", json!({"content": "x"}), "needs the argument `label`").await;
    check(&session, "core_memory_append", json!({"label": "human"}), "needs the argument `content`").await;
    check(&session, "core_memory_append", json!({"label": "human", "content": 7}), "must be a string").await;
    check(
        &session,
        "core_memory_append",
        json!({"label": "human", "content": "x", "colour": "red"}),
        "no argument `colour`",
    )
    .await;
    check(&session, "core_memory_append", json!({"label": "notes", "content": "x"}), "no block labelled `notes`").await;
    check(&session, "core_memory_append", json!({"label": "Not A Label", "content": "x"}), "is not a block label")
        .await;
    check(&session, "core_memory_append", json!({"label": "persona", "content": "x"}), "read-only").await;
    check(
        &session,
        "core_memory_append",
        json!({"label": "human", "content": "y".repeat(300)}),
        "over its limit of 200",
    )
    .await;
    check(
        &session,
        "core_memory_replace",
        json!({"label": "human", "old_content": "absent", "new_content": "x"}),
        "the snippet to replace was not found in block `human`",
    )
    .await;
    check(&session, "memory_insert", json!({"label": "human", "content": "x", "line": -1}), "whole number").await;
    check(&session, "memory_insert", json!({"label": "human", "content": "x", "line": 9}), "past the end").await;
    check(&session, "memory_rethink", json!({"label": "human"}), "needs the argument `new_value`").await;
    check(&session, "archival_memory_insert", json!({"content": ""}), "`content` must not be empty").await;
    check(&session, "archival_memory_insert", json!({"content": "x", "tags": [1]}), "list of strings").await;
    check(&session, "archival_memory_search", json!({"query": "x", "top_k": 0}), "between 1 and").await;
    check(&session, "archival_memory_search", json!({"query": "  "}), "must not be empty").await;
    check(&session, "archival_memory_search", json!({"query": "x", "from": "yesterday"}), "must be a date").await;
    check(&session, "conversation_search", json!({"query": "x", "role": "robot"}), "`role` must be one of").await;
    check(&session, "conversation_search", json!({"query": "x", "limit": 51}), "between 1 and 50").await;
    check(&session, "conversation_search", json!({}), "needs the argument `query`").await;
    check(&session, "memory_blocks", json!({"label": "human"}), "takes no arguments").await;

    // Nothing changed, and the session still works.
    let human = s.get(&format!("/v1/agents/{id}/blocks/human")).await;
    assert_eq!((human.body["value"].as_str(), human.body["version"].as_i64()), (Some("Name: unknown"), Some(1)));
    assert!(s.list_all(&format!("/v1/agents/{id}/archival"), 50).await.is_empty());
    assert_eq!(session.client.list_all_tools().await.unwrap().len(), 8);
    session.close().await;
}

#[tokio::test]
async fn an_unknown_tool_is_a_protocol_error() {
    let s = TestServer::spawn().await;
    let id = agent(&s, "demo").await;
    let session = connect(&s, &id).await;
    for name in ["no_such_tool", "send_message"] {
        let error = session.try_call(name, json!({"message": "hi"})).await.expect_err("an unknown tool is an error");
        let ServiceError::McpError(error) = error else { panic!("expected a JSON-RPC error, got {error:?}") };
        assert_eq!(error.code, ErrorCode::INVALID_PARAMS, "{name}");
        assert!(error.message.contains(&format!("unknown tool `{name}`")), "{}", error.message);
        assert!(error.message.contains("core_memory_append"), "the message lists the tools: {}", error.message);
    }
    assert!(session.call_ok("memory_blocks", json!({})).await.contains("\"label\":\"human\""));
    session.close().await;
}
