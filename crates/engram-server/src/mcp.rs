//! `/mcp`: MCP's streamable HTTP transport (engram-mcp's service), behind the same authentication as `/v1`.
//!
//! Each request names its agent with `?agent=<id or name>` or the `X-Engram-Agent` header. After authentication a
//! layer finds the agent in the caller's organisation and hands the MCP session an `engram_mcp::Connection`: the
//! organisation, the agent, and the caller's credential (the API key's id, or `local` in local mode) as the id of the
//! `mcp` actor recorded on every change. A missing, unknown or ambiguous agent is refused before MCP sees the request.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use engram_core::ValidationError;
use engram_mcp::{Connection, HttpOptions, HttpTransport, McpError, McpState};
use engram_runtime::Retrieval;
use engram_store::Store;

use crate::app::AppState;
use crate::auth::{self, Caller};
use crate::config::ServerConfig;
use crate::error::ApiError;

/// The header that names the agent, as an alternative to the `agent` query parameter.
pub const AGENT_HEADER: &str = "x-engram-agent";

/// The MCP transport for a server with `config`. Without API keys (local mode, loopback only) requests must also
/// name a loopback host, so a web page cannot reach the unauthenticated server by DNS rebinding; with keys the key
/// is what guards it and any `Host` is accepted.
pub(crate) fn transport(config: &ServerConfig, store: Arc<dyn Store>, retrieval: Retrieval) -> HttpTransport {
    let options =
        HttpOptions { loopback_hosts_only: config.api_keys.is_empty(), max_body_bytes: config.body_limit_bytes };
    HttpTransport::new(McpState::new(store, retrieval), options)
}

/// The `/mcp` route: authentication, then the agent, then MCP.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route_service("/mcp", state.mcp.service())
        .route_layer(middleware::from_fn_with_state(state.clone(), bind_agent))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::layer))
}

/// Middleware: resolves the request's agent and stores its [`Connection`] in the request's extensions.
async fn bind_agent(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(caller) = req.extensions().get::<Caller>().cloned() else {
        return ApiError::Internal("the MCP route is missing the authentication layer".into()).into_response();
    };
    let selector = match agent_selector(req.uri().query(), req.headers()) {
        Ok(selector) => selector,
        Err(e) => return e.into_response(),
    };
    let agent = match engram_mcp::resolve_agent(state.store.as_ref(), &caller.org, &selector).await {
        Ok(agent) => agent,
        Err(e) => return api_error(e).into_response(),
    };
    req.extensions_mut().insert(Connection {
        org: caller.org,
        agent: agent.id,
        actor_id: caller.actor.id,
        request_id: caller.request_id,
    });
    next.run(req).await
}

/// The agent the request names: the `agent` query parameter (the only one accepted) or the header; both may be
/// given only if they agree.
fn agent_selector(query: Option<&str>, headers: &HeaderMap) -> Result<String, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ValidationError::new("query", format!("the query string is malformed: {e}")))?;
    let mut from_query = None;
    for (name, value) in pairs {
        if name != "agent" {
            return Err(ValidationError::new(name, "unknown query parameter; /mcp accepts only `agent`").into());
        }
        if from_query.replace(value).is_some() {
            return Err(ValidationError::new("agent", "give the `agent` query parameter once").into());
        }
    }
    let from_header = match headers.get(AGENT_HEADER) {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ValidationError::new(AGENT_HEADER, "must be an agent id or name in plain text"))?
                .to_owned(),
        ),
        None => None,
    };
    match (from_query, from_header) {
        (Some(q), Some(h)) if q.trim() != h.trim() => Err(ValidationError::new(
            "agent",
            format!("the `agent` query parameter ({q:?}) and the {AGENT_HEADER} header ({h:?}) name different agents"),
        )
        .into()),
        (Some(selector), _) | (None, Some(selector)) => Ok(selector),
        (None, None) => Err(ValidationError::new(
            "agent",
            format!("name the agent this MCP connection is for: /mcp?agent=<id or name>, or the {AGENT_HEADER} header"),
        )
        .into()),
    }
}

fn api_error(error: McpError) -> ApiError {
    match error {
        e @ McpError::AgentNotFound(_) => ApiError::NotFound { kind: "agent", message: e.to_string() },
        e @ McpError::AmbiguousAgent { .. } => ValidationError::new("agent", e.to_string()).into(),
        McpError::Invalid(e) => e.into(),
        McpError::Store(e) => e.into(),
        McpError::Transport(message) => ApiError::Internal(message),
    }
}
