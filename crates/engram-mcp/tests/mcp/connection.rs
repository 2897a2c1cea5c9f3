//! How `/mcp` binds a connection: the agent by `?agent=` or `X-Engram-Agent` (id or name), refused at connect time
//! when missing, unknown or ambiguous; API keys exactly as on `/v1`, with the key's id recorded as the MCP actor;
//! and sessions that end when the server stops.

use std::time::Duration;

use engram_core::org::OrgId;
use engram_server::ApiKeyConfig;
use engram_testkit::{Resp, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{agent, connect, try_connect};

const KEY: &str = "mcp-test-key-0123456789";
const OTHER_KEY: &str = "mcp-other-key-0123456789";

/// A raw MCP `initialize` POST to `path`, as any client would send it.
async fn raw_initialize(s: &TestServer, path: &str, headers: &[(&str, &str)]) -> Resp {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
    });
    let mut request = s
        .request(Method::POST, path)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    s.send(request).await
}

#[tokio::test]
async fn the_agent_is_named_by_id_or_name_in_the_query_or_a_header() {
    let s = TestServer::spawn().await;
    let id = agent(&s, "demo").await;
    for (path, headers) in [
        (format!("/mcp?agent={id}"), vec![]),
        ("/mcp?agent=demo".to_owned(), vec![]),
        ("/mcp".to_owned(), vec![("x-engram-agent", id.as_str())]),
        ("/mcp".to_owned(), vec![("x-engram-agent", "demo")]),
        ("/mcp?agent=demo".to_owned(), vec![("x-engram-agent", "demo")]),
    ] {
        let session =
            try_connect(&s, &path, None, &headers).await.unwrap_or_else(|e| panic!("{path} {headers:?}: {e}"));
        let resources = session.client.list_all_resources().await.unwrap();
        assert_eq!(resources[0].uri, format!("engram://agents/{id}/blocks/human"), "{path} {headers:?}");
        session.close().await;
    }
}

#[tokio::test]
async fn a_missing_unknown_or_ambiguous_agent_is_refused_at_connect() {
    let s = TestServer::spawn().await;
    agent(&s, "demo").await;
    agent(&s, "twin").await;
    agent(&s, "twin").await;
    let check = |r: Resp, status: u16, code: &str, says: &str| {
        assert_eq!(r.status, status, "{}", r.text);
        assert_eq!(r.code(), code, "{}", r.text);
        let message = r.body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(says), "expected {says:?} in {message:?}");
    };
    check(raw_initialize(&s, "/mcp", &[]).await, 400, "invalid_request", "/mcp?agent=<id or name>");
    check(raw_initialize(&s, "/mcp?agent=nobody", &[]).await, 404, "agent_not_found", "agent `nobody` not found");
    check(
        raw_initialize(&s, "/mcp?agent=agent_01HZZZZZZZZZZZZZZZZZZZZZZZ", &[]).await,
        404,
        "agent_not_found",
        "not found",
    );
    check(raw_initialize(&s, "/mcp?agent=twin", &[]).await, 400, "invalid_request", "2 agents are named `twin`");
    check(
        raw_initialize(&s, "/mcp?agent=demo", &[("x-engram-agent", "twin")]).await,
        400,
        "invalid_request",
        "name different agents",
    );
    check(raw_initialize(&s, "/mcp?agent=demo&mode=x", &[]).await, 400, "invalid_request", "accepts only `agent`");
    // The official client fails to connect, too.
    assert!(try_connect(&s, "/mcp?agent=nobody", None, &[]).await.is_err());
    // A valid request is answered by MCP itself.
    let ok = raw_initialize(&s, "/mcp?agent=demo", &[]).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert!(ok.text.contains("\"serverInfo\""), "{}", ok.text);
}

#[tokio::test]
async fn with_api_keys_mcp_needs_a_key_and_records_its_id() {
    let s = TestServer::spawn_with(|config| {
        config.api_keys = vec![
            ApiKeyConfig { id: "claude-code".into(), key: KEY.into(), org: OrgId::default_org() },
            ApiKeyConfig {
                id: "other-tenant".into(),
                key: OTHER_KEY.into(),
                org: OrgId::parse("org", "acme").unwrap(),
            },
        ];
    })
    .await;
    let bearer = format!("Bearer {KEY}");
    let created = s
        .send(s.request(Method::POST, "/v1/agents").header("authorization", &bearer).json(&json!({
            "name": "demo", "blocks": [{"label": "human", "value": "Name: unknown"}]
        })))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/mcp?agent={id}");

    let r = raw_initialize(&s, &path, &[]).await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"), "{}", r.text);
    let r = raw_initialize(&s, &path, &[("authorization", "Bearer not-the-key-at-all")]).await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"), "{}", r.text);
    assert!(try_connect(&s, &path, None, &[]).await.is_err());
    // Another organisation's key does not see the agent at all.
    let r = raw_initialize(&s, &path, &[("authorization", &format!("Bearer {OTHER_KEY}"))]).await;
    assert_eq!((r.status, r.code()), (404, "agent_not_found"), "{}", r.text);

    let session = try_connect(&s, &path, Some(KEY), &[]).await.expect("connect with the key");
    session.call_ok("core_memory_append", json!({"label": "human", "content": "Uses Claude Code."})).await;
    session.close().await;
    let events = s
        .send(s.request(Method::GET, &format!("/v1/audit/events?agent_id={id}")).header("authorization", &bearer))
        .await;
    let update = events.body["items"].as_array().unwrap().iter().find(|e| e["action"] == "block.update").cloned();
    assert_eq!(update.map(|e| e["actor"].clone()), Some(json!({"kind": "mcp", "id": "claude-code"})));
}

#[tokio::test]
async fn open_sessions_end_when_the_server_stops() {
    let mut s = TestServer::spawn().await;
    let id = agent(&s, "demo").await;
    let session = connect(&s, &id).await;
    session.call_ok("memory_blocks", Value::Null).await;
    // The session's event stream is open; a graceful stop must not wait for it (the server would give up on
    // in-flight requests only after 30 s).
    tokio::time::timeout(Duration::from_secs(20), s.stop()).await.expect("the server stopped with an MCP session open");
    drop(session);
}

/// `data:` payloads of a server-sent event stream (or the body itself when it is plain JSON).
fn messages(body: &str) -> Vec<Value> {
    let payloads: Vec<Value> = body
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str(data.trim()).ok())
        .collect();
    if payloads.is_empty() { serde_json::from_str(body).into_iter().collect() } else { payloads }
}

#[tokio::test]
async fn malformed_requests_are_json_rpc_errors_and_the_session_goes_on() {
    let s = TestServer::spawn().await;
    agent(&s, "demo").await;
    let init = raw_initialize(&s, "/mcp?agent=demo", &[]).await;
    assert_eq!(init.status, 200, "{}", init.text);
    let session_id = init.header("mcp-session-id").expect("a session id").to_owned();
    let post = |body: Value| {
        s.send(
            s.request(Method::POST, "/mcp?agent=demo")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-session-id", &session_id)
                .header("mcp-protocol-version", "2025-06-18")
                .json(&body),
        )
    };
    let r = post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    assert_eq!(r.status, 202, "{}", r.text);

    for (id, params, expected) in [
        (2, json!({"arguments": {}}), "malformed `tools/call` request: missing field `name`"),
        (3, json!({"name": "core_memory_append", "arguments": "not an object"}), "malformed `tools/call` request"),
        (4, json!({"name": "no_such_tool"}), "unknown tool `no_such_tool`"),
    ] {
        let r = post(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})).await;
        let replies = messages(&r.text);
        let reply = replies.iter().find(|m| m["id"] == id).unwrap_or_else(|| panic!("no reply to {id}: {}", r.text));
        assert_eq!(reply["error"]["code"], -32602, "{params}: {reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{params}: expected {expected:?} in {message:?}");
    }
    let r = post(json!({"jsonrpc": "2.0", "id": 6, "method": "memory/forget", "params": {}})).await;
    let replies = messages(&r.text);
    let reply = replies.iter().find(|m| m["id"] == 6).unwrap_or_else(|| panic!("no reply: {}", r.text));
    assert_eq!(reply["error"]["code"], -32601, "{reply}");
    assert_eq!(reply["error"]["message"], "unknown method `memory/forget`", "{reply}");
    let r = post(json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "memory_blocks", "arguments": {}}}))
    .await;
    let replies = messages(&r.text);
    let reply = replies.iter().find(|m| m["id"] == 5).unwrap_or_else(|| panic!("no reply: {}", r.text));
    assert_eq!(reply["result"]["isError"], false, "{reply}");
    assert!(reply["result"]["content"][0]["text"].as_str().unwrap().contains("\"human\""), "{reply}");
}
