//! `engram mcp`: one agent's memory over MCP on stdio, driven by the official Rust MCP client (`rmcp`) spawning the
//! real binary. The agent is created on first use and found again the next time; tools, bad arguments and resources
//! work over stdio; what a session wrote is seen by `engram serve` on the same data directory, audited as the MCP
//! client, and the other way round; on PostgreSQL a session and a running server share one database. The README's
//! client configuration snippets are run exactly as written.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ErrorCode, Implementation,
    ReadResourceRequestParams, ResourceContents,
};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceError, ServiceExt};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use crate::support::{Server, engram, engram_run};

/// The name the test client declares; over stdio it is the actor id of the session's changes.
const CLIENT_NAME: &str = "claude-code-test";
/// Longest wait for the binary to start and answer; only a hang reaches it.
const DEADLINE: Duration = Duration::from_secs(120);
const API_KEY: &str = "readme-test-key-0123456789";

type Client = RunningService<RoleClient, ClientConfig>;

/// An `engram mcp` child with a connected client, and the child's standard error.
struct Session {
    client: Client,
    stderr: Arc<Mutex<String>>,
}

impl Session {
    /// Runs `engram ARGS` with a clean environment and connects over its stdio.
    async fn spawn(args: &[&str]) -> Self {
        let (transport, stderr_pipe) = TokioChildProcess::builder(tokio::process::Command::from(engram(args, &[])))
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn engram mcp");
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = stderr_pipe {
            let stderr = stderr.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                    stderr.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            });
        }
        let client = tokio::time::timeout(DEADLINE, client_config().serve(transport))
            .await
            .expect("engram mcp did not answer initialize")
            .unwrap_or_else(|e| panic!("initialize over stdio failed: {e}\nstderr:\n{}", stderr.lock().unwrap()));
        Self { client, stderr }
    }

    /// `engram mcp --data-dir DIR --agent AGENT`.
    async fn open(dir: &std::path::Path, agent: &str) -> Self {
        Self::spawn(&["mcp", "--data-dir", dir.to_str().unwrap(), "--agent", agent]).await
    }

    async fn call(&self, name: &str, arguments: Value) -> Result<CallToolResult, ServiceError> {
        let mut params = CallToolRequestParams::new(name.to_owned());
        if let Value::Object(map) = arguments {
            params = params.with_arguments(map);
        }
        tokio::time::timeout(DEADLINE, self.client.call_tool(params)).await.expect("tools/call hung")
    }

    async fn call_ok(&self, name: &str, arguments: Value) -> String {
        let result = self.call(name, arguments).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(result.is_error, Some(false), "{name}: {}", text(&result));
        text(&result)
    }

    async fn blocks(&self) -> Value {
        serde_json::from_str(&self.call_ok("memory_blocks", json!({})).await).unwrap()
    }

    async fn read(&self, uri: &str) -> String {
        let result = self.client.read_resource(ReadResourceRequestParams::new(uri)).await.unwrap();
        match &result.contents[0] {
            ResourceContents::TextResourceContents { text, .. } => text.clone(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    /// Closes the client's end; the child exits when its input closes.
    async fn close(self) -> String {
        tokio::time::timeout(DEADLINE, self.client.cancel()).await.expect("close hung").unwrap();
        self.stderr.lock().unwrap().clone()
    }
}

fn client_config() -> ClientConfig {
    ClientConfig::new(ClientCapabilities::default(), Implementation::new(CLIENT_NAME, "1.0.0"))
}

fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<Vec<_>>().join("\n")
}

async fn tool_names(client: &Client) -> Vec<String> {
    client.list_all_tools().await.unwrap().iter().map(|t| t.name.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_creates_the_agent_on_first_use_and_serves_its_memory() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::open(dir.path(), "assistant").await;
    let info = session.client.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().map(|i| i.name.as_str()), Some("engram"));
    assert_eq!(tool_names(&session.client).await.len(), 8);

    // A new agent with empty persona and human blocks.
    let blocks = session.blocks().await;
    let labels: Vec<&str> = blocks.as_array().unwrap().iter().map(|b| b["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["persona", "human"]);
    assert!(blocks.as_array().unwrap().iter().all(|b| b["value"] == "" && b["description"].is_string()), "{blocks}");

    session.call_ok("core_memory_append", json!({"label": "human", "content": "Prefers Rust."})).await;
    session.call_ok("archival_memory_insert", json!({"content": "The build takes four minutes."})).await;
    let found = session.call_ok("archival_memory_search", json!({"query": "build minutes"})).await;
    assert!(found.contains("The build takes four minutes."), "{found}");

    // Bad arguments are tool errors, an unknown tool a protocol error; the process goes on.
    let bad = session.call("core_memory_append", json!({"label": "notes", "content": "x"})).await.unwrap();
    assert_eq!(bad.is_error, Some(true));
    assert!(text(&bad).contains("no block labelled `notes`; your blocks are: persona, human"), "{}", text(&bad));
    let bad = session.call("memory_rethink", json!({"label": "human", "new_value": 3})).await.unwrap();
    assert!(text(&bad).contains("must be a string"), "{}", text(&bad));
    let Err(ServiceError::McpError(error)) = session.call("send_message", json!({"message": "hi"})).await else {
        panic!("send_message is not an MCP tool");
    };
    assert_eq!(error.code, ErrorCode::INVALID_PARAMS);

    let resources = session.client.list_all_resources().await.unwrap();
    let human = resources.iter().find(|r| r.name == "human").expect("a human resource");
    assert!(human.uri.starts_with("engram://agents/agent_") && human.uri.ends_with("/blocks/human"), "{}", human.uri);
    assert_eq!(session.read(&human.uri).await, "Prefers Rust.");
    let human_uri = human.uri.clone();
    let stderr = session.close().await;
    assert!(stderr.contains("created agent `assistant`"), "{stderr}");

    // The next session finds the same agent and its memory.
    let session = Session::open(dir.path(), "assistant").await;
    assert_eq!(session.read(&human_uri).await, "Prefers Rust.");
    let stderr = session.close().await;
    assert!(!stderr.contains("created agent"), "{stderr}");
    assert!(stderr.contains("serving MCP over stdio"), "logs go to standard error:\n{stderr}");

    // `engram serve` on the same data: one agent, the MCP edit audited as the client; a REST edit seen over MCP.
    let server = tokio::task::block_in_place(|| Server::start_in(dir.path()));
    let http = reqwest::Client::new();
    let agents: Value = http.get(format!("{}/v1/agents", server.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(agents["items"].as_array().unwrap().len(), 1, "{agents}");
    let id = agents["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(agents["items"][0]["name"], "assistant");
    let block_url = format!("{}/v1/agents/{id}/blocks/human", server.url());
    let block: Value = http.get(&block_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(block["value"], "Prefers Rust.");
    let events: Value =
        http.get(format!("{}/v1/audit/events?agent_id={id}", server.url())).send().await.unwrap().json().await.unwrap();
    let events = events["items"].as_array().unwrap();
    let actor = |action: &str| events.iter().find(|e| e["action"] == action).map(|e| e["actor"].clone());
    assert_eq!(actor("agent.create"), Some(json!({"kind": "operator", "id": "local"})));
    assert_eq!(actor("block.update"), Some(json!({"kind": "mcp", "id": CLIENT_NAME})));
    assert_eq!(actor("passage.insert"), Some(json!({"kind": "mcp", "id": CLIENT_NAME})));
    let patched = http.patch(&block_url).json(&json!({"value": "Prefers Rust and tea."})).send().await.unwrap();
    assert_eq!(patched.status(), 200);
    tokio::task::block_in_place(|| server.stop());

    let session = Session::open(dir.path(), &id).await;
    assert_eq!(session.read(&human_uri).await, "Prefers Rust and tea.");
    session.close().await;
}

#[test]
fn an_unknown_agent_id_is_refused_and_stdout_stays_clean() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let run = engram_run(&["mcp", "--data-dir", data_dir, "--agent", "agent_01HZZZZZZZZZZZZZZZZZZZZZZZ"], &[]);
    let stderr = run.failed();
    assert!(stderr.contains("agent `agent_01HZZZZZZZZZZZZZZZZZZZZZZZ` not found"), "{stderr}");
    assert_eq!(run.stdout, "", "standard output is reserved for the protocol");
    let run = engram_run(&["mcp", "--data-dir", data_dir, "--agent", "  "], &[]);
    assert!(run.failed().contains("agent"), "{}", run.stderr);
}

/// The JSON between `<!-- mcp-config:NAME -->` and `<!-- /mcp-config:NAME -->` in README.md (inside its code fence).
fn readme_snippet(name: &str) -> Value {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = format!("<!-- mcp-config:{name} -->");
    let end = format!("<!-- /mcp-config:{name} -->");
    let from = readme.find(&start).unwrap_or_else(|| panic!("README.md has no {start}")) + start.len();
    let to = from + readme[from..].find(&end).unwrap_or_else(|| panic!("README.md has no {end}"));
    let fenced = readme[from..to].trim();
    let json = fenced.strip_prefix("```json").and_then(|s| s.strip_suffix("```")).expect("a ```json fence");
    serde_json::from_str(json).unwrap_or_else(|e| panic!("the {name} snippet is not JSON: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_stdio_snippet_runs_as_written() {
    let config = readme_snippet("stdio");
    let server = &config["mcpServers"]["engram"];
    assert_eq!(server["command"], "engram");
    let mut args: Vec<String> =
        server["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect();
    // Documented substitutions: the built binary for `engram`, a temporary directory for the `--data-dir` value.
    let dir = tempfile::tempdir().unwrap();
    let at = args.iter().position(|a| a == "--data-dir").expect("the snippet sets --data-dir") + 1;
    args[at] = dir.path().to_str().unwrap().to_owned();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let session = Session::spawn(&args).await;
    assert!(tool_names(&session.client).await.contains(&"core_memory_append".to_owned()));
    assert_eq!(session.blocks().await.as_array().unwrap().len(), 2);
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_http_snippet_runs_as_written() {
    let config = readme_snippet("http");
    let entry = &config["mcpServers"]["engram"];
    assert_eq!(entry["type"], "http");
    let server = tokio::task::block_in_place(|| {
        Server::start_with_env(&[("ENGRAM_API_KEYS", &format!("claude-code:{API_KEY}"))])
    });
    // The agent must exist; the snippet names it in its URL.
    let url = entry["url"].as_str().unwrap();
    let agent = url.split("agent=").nth(1).expect("the URL names the agent");
    tokio::task::block_in_place(|| server.create_agent(&[agent, "--api-key", API_KEY]));

    // Documented substitutions: this server's address and key.
    let url = url.replace("http://127.0.0.1:8283", &server.url());
    let mut transport = StreamableHttpClientTransportConfig::with_uri(url);
    let mut headers = std::collections::HashMap::new();
    for (name, value) in entry["headers"].as_object().unwrap() {
        let value = value.as_str().unwrap().replace("<your API key>", API_KEY);
        headers.insert(name.parse().unwrap(), value.parse().unwrap());
    }
    transport = transport.custom_headers(headers);
    let client =
        tokio::time::timeout(DEADLINE, client_config().serve(StreamableHttpClientTransport::from_config(transport)))
            .await
            .expect("initialize over HTTP hung")
            .expect("initialize over HTTP");
    assert_eq!(tool_names(&client).await.len(), 8);
    client.cancel().await.unwrap();
    tokio::task::block_in_place(|| server.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_on_postgres_shares_the_database_with_a_running_server() {
    let database = engram_testkit::postgres::TestDatabase::create(engram_testkit::postgres::PgVersion::Pg16).await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let server = tokio::task::block_in_place(|| {
        Server::spawn(
            &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--database-url", database.url()],
            &[],
        )
    })
    .unwrap_or_else(|log| panic!("the server did not start; its log:\n{log}"));
    let mcp_dir = tempfile::tempdir().unwrap();
    let args =
        ["mcp", "--data-dir", mcp_dir.path().to_str().unwrap(), "--database-url", database.url(), "--agent", "shared"];
    let session = Session::spawn(&args).await;
    session.call_ok("core_memory_append", json!({"label": "human", "content": "Lives in Lyon."})).await;

    // The server sees the agent the MCP session created on the shared database, and the edit it made.
    let http = reqwest::Client::new();
    let agents: Value = http.get(format!("{}/v1/agents", server.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(agents["items"][0]["name"], "shared", "{agents}");
    let id = agents["items"][0]["id"].as_str().unwrap().to_owned();
    let block_url = format!("{}/v1/agents/{id}/blocks/human", server.url());
    let block: Value = http.get(&block_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(block["value"], "Lives in Lyon.");

    // And the session sees the server's edit: nothing is cached in either process.
    let patched = http.patch(&block_url).json(&json!({"value": "Lives in Lyon. Cycles."})).send().await.unwrap();
    assert_eq!(patched.status(), 200);
    let blocks = session.blocks().await;
    let human = blocks.as_array().unwrap().iter().find(|b| b["label"] == "human").unwrap();
    assert_eq!(human["value"], "Lives in Lyon. Cycles.");
    session.close().await;
    tokio::task::block_in_place(|| server.stop());
}
