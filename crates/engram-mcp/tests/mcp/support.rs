//! A recording MCP client for the tests: connects to a test server's `/mcp` with rmcp's streamable HTTP client and
//! keeps every `notifications/resources/updated` it receives.

use std::collections::HashMap;
use std::time::Duration;

use engram_testkit::TestServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ResourceUpdatedNotificationParam,
};
use rmcp::service::{ClientInitializeError, NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::Value;
use tokio::sync::mpsc;

/// The name the test client gives in `initialize`.
pub const CLIENT_NAME: &str = "engram-mcp-tests";

/// Longest wait for a notification; only a hang reaches it.
const NOTIFICATION_DEADLINE: Duration = Duration::from_secs(30);

/// A client handler that forwards resource update notifications to a channel.
pub struct Recorder {
    updates: mpsc::UnboundedSender<String>,
}

impl ClientHandler for Recorder {
    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.updates.send(params.uri);
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(ClientCapabilities::default(), Implementation::new(CLIENT_NAME, "1.0.0"))
    }
}

/// A connected MCP session and the resource updates it has received.
pub struct Session {
    pub client: RunningService<RoleClient, Recorder>,
    updates: mpsc::UnboundedReceiver<String>,
}

impl Session {
    /// Calls `name` with `arguments` (a JSON object, or null for none); panics on a protocol error.
    pub async fn call(&self, name: &str, arguments: Value) -> CallToolResult {
        self.try_call(name, arguments).await.unwrap_or_else(|e| panic!("tools/call {name} failed: {e}"))
    }

    pub async fn try_call(&self, name: &str, arguments: Value) -> Result<CallToolResult, rmcp::ServiceError> {
        let mut params = CallToolRequestParams::new(name.to_owned());
        if let Value::Object(map) = arguments {
            params = params.with_arguments(map);
        }
        self.client.call_tool(params).await
    }

    /// Calls a tool that must succeed; returns its text.
    pub async fn call_ok(&self, name: &str, arguments: Value) -> String {
        let result = self.call(name, arguments).await;
        let text = text(&result);
        assert_eq!(result.is_error, Some(false), "{name} failed: {text}");
        text
    }

    /// The next resource update notification's URI.
    pub async fn next_update(&mut self) -> String {
        tokio::time::timeout(NOTIFICATION_DEADLINE, self.updates.recv())
            .await
            .expect("no resource update notification arrived")
            .expect("the client stopped")
    }

    pub async fn close(self) {
        self.client.cancel().await.expect("close the MCP session");
    }
}

/// The text of a tool result (all text contents, joined).
pub fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<Vec<_>>().join("\n")
}

/// Connects to `/mcp?agent=<agent>` in local mode.
pub async fn connect(server: &TestServer, agent: &str) -> Session {
    try_connect(server, &format!("/mcp?agent={agent}"), None, &[]).await.expect("connect over MCP")
}

/// Connects to `path` with an optional API key and extra headers.
pub async fn try_connect(
    server: &TestServer,
    path: &str,
    api_key: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Session, ClientInitializeError> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(server.url(path));
    if let Some(key) = api_key {
        config = config.auth_header(key);
    }
    let custom: HashMap<_, _> = headers
        .iter()
        .map(|(name, value)| (name.parse().expect("header name"), value.parse().expect("header value")))
        .collect();
    config = config.custom_headers(custom);
    let transport = StreamableHttpClientTransport::from_config(config);
    let (tx, updates) = mpsc::unbounded_channel();
    let client = Recorder { updates: tx }.serve(transport).await?;
    Ok(Session { client, updates })
}

/// Creates an agent with `human` ("Name: unknown", limit 200) and `persona` blocks over REST; returns its id.
pub async fn agent(server: &TestServer, name: &str) -> String {
    server.create_agent(name).await["id"].as_str().unwrap().to_owned()
}
