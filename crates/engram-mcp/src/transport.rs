//! The two MCP transports: stdio for `engram mcp`, and the streamable HTTP service engram's server mounts at `/mcp`.

use std::sync::Arc;

use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::error::McpError;
use crate::server::McpServer;
use crate::state::McpState;

/// Serves one session over standard input and output until the client closes it.
pub async fn serve_stdio(server: McpServer) -> Result<(), McpError> {
    let running = server.serve(rmcp::transport::stdio()).await.map_err(|e| McpError::Transport(e.to_string()))?;
    running.waiting().await.map_err(|e| McpError::Transport(e.to_string()))?;
    Ok(())
}

/// The streamable HTTP service, one [`McpServer`] per MCP session (sessions live in memory: a restart ends them
/// and clients initialize again). Each request must carry a [`crate::Connection`] in its extensions.
pub type HttpService = StreamableHttpService<McpServer, LocalSessionManager>;

/// How the HTTP transport checks requests.
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    /// Accept only `Host` headers naming a loopback address (`localhost`, `127.0.0.1`, `::1`), which stops a web page
    /// from reaching a local server through DNS rebinding. Needed when requests are not authenticated.
    pub loopback_hosts_only: bool,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
}

/// MCP over streamable HTTP for a server: the service to mount, and the means to end its sessions at shutdown
/// (open event streams would otherwise hold a graceful shutdown until they time out). Cheap to clone.
#[derive(Clone)]
pub struct HttpTransport {
    service: HttpService,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport").finish_non_exhaustive()
    }
}

impl HttpTransport {
    pub fn new(state: McpState, options: HttpOptions) -> Self {
        let shutdown = CancellationToken::new();
        let mut config = StreamableHttpServerConfig::default()
            .with_cancellation_token(shutdown.clone())
            .with_max_request_body_bytes(options.max_body_bytes);
        if !options.loopback_hosts_only {
            config = config.disable_allowed_hosts();
        }
        let service = StreamableHttpService::new(
            move || Ok(McpServer::per_request(state.clone())),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        Self { service, shutdown }
    }

    /// The tower service to mount.
    pub fn service(&self) -> HttpService {
        self.service.clone()
    }

    /// Ends every session and its event streams; new requests are refused.
    pub fn close_sessions(&self) {
        self.shutdown.cancel();
    }
}
