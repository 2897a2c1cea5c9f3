//! The MCP server of one session: `McpServer` implements rmcp's `ServerHandler` over the store and retrieval for
//! the session's agent. Over stdio the agent is fixed and the actor is the client's declared name; over HTTP both
//! come with each request from the server's authentication layer (see [`Connection`]).

use std::borrow::Cow;
use std::sync::Arc;

use engram_core::id::AgentId;
use engram_core::org::OrgId;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CustomRequest, CustomResult, ErrorCode, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams, ProtocolVersion,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig, SubscribeRequestParams,
    UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler};
use serde_json::Value;

use crate::connection::Connection;
use crate::state::McpState;
use crate::subscriptions::Subscriptions;
use crate::{resources, tools};

/// The newest protocol revision served. Later revisions drop the `initialize` handshake and per-session
/// subscriptions (`resources/subscribe`), which this server's notifications rely on; clients that speak them fall
/// back to this one.
const NEWEST_PROTOCOL: ProtocolVersion = ProtocolVersion::V_2025_11_25;

/// Longest client name kept as the actor id of changes made over stdio.
const MAX_CLIENT_NAME_CHARS: usize = 64;

const INSTRUCTIONS: &str = "Long-term memory from engram, for one agent. Core memory blocks hold what should always \
    be in view (who the user is, who you are, the task): read them with memory_blocks or as resources, and edit them \
    with core_memory_append, core_memory_replace, memory_insert and memory_rethink. Save durable facts, documents and \
    notes with archival_memory_insert and find them with archival_memory_search. conversation_search searches the \
    agent's message history.";

/// Where a session's agent and actor come from.
#[derive(Debug, Clone)]
enum Scope {
    /// `engram mcp` over stdio: one agent for the life of the process.
    Fixed { org: OrgId, agent: AgentId },
    /// The HTTP transport: a [`Connection`] in each request's extensions.
    PerRequest,
}

/// One MCP session's server.
#[derive(Debug)]
pub struct McpServer {
    state: McpState,
    scope: Scope,
    subscriptions: Arc<Subscriptions>,
}

impl McpServer {
    /// A server for `agent` of `org`, for a stdio session: changes are recorded as the client's, by the name it gives
    /// in `initialize`.
    pub fn for_agent(state: McpState, org: OrgId, agent: AgentId) -> Self {
        Self { state, scope: Scope::Fixed { org, agent }, subscriptions: Arc::default() }
    }

    /// A server for an HTTP session: every request must carry a [`Connection`] in the extensions of its HTTP
    /// request parts.
    pub fn per_request(state: McpState) -> Self {
        Self { state, scope: Scope::PerRequest, subscriptions: Arc::default() }
    }

    fn connection(&self, context: &RequestContext<RoleServer>) -> Result<Connection, ErrorData> {
        match &self.scope {
            Scope::Fixed { org, agent } => {
                Ok(Connection { org: org.clone(), agent: *agent, actor_id: client_name(context), request_id: None })
            }
            Scope::PerRequest => context
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Connection>())
                .cloned()
                .ok_or_else(|| {
                    tracing::error!("an MCP request arrived without its connection: the route lacks its layer");
                    ErrorData::internal_error("the server could not tell which agent this request is for", None)
                }),
        }
    }
}

/// The client's declared name, cleaned up to serve as an actor id.
fn client_name(context: &RequestContext<RoleServer>) -> String {
    let name: String = context
        .peer
        .peer_info()
        .map(|info| info.client_info.name.chars().filter(|c| !c.is_control()).take(MAX_CLIENT_NAME_CHARS).collect())
        .unwrap_or_default();
    let name = name.trim();
    if name.is_empty() { "unnamed-client".to_owned() } else { name.to_owned() }
}

/// Why the parameters of a request for `method`, one this server serves, could not be read; `None` for a method it
/// does not serve.
fn malformed(method: &str, params: Option<Value>) -> Option<String> {
    let params = params.unwrap_or(Value::Null);
    let error = match method {
        "tools/call" => serde_json::from_value::<CallToolRequestParams>(params).err(),
        "resources/read" => serde_json::from_value::<ReadResourceRequestParams>(params).err(),
        "resources/subscribe" => serde_json::from_value::<SubscribeRequestParams>(params).err(),
        "resources/unsubscribe" => serde_json::from_value::<UnsubscribeRequestParams>(params).err(),
        "tools/list" | "resources/list" | "resources/templates/list" => {
            serde_json::from_value::<Option<PaginatedRequestParams>>(params).err()
        }
        _ => return None,
    };
    Some(error.map_or_else(|| "its parameters do not match the MCP schema".to_owned(), |e| e.to_string()))
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities =
            ServerCapabilities::builder().enable_tools().enable_resources().enable_resources_subscribe().build();
        ServerConfig::new(capabilities)
            .with_protocol_version(NEWEST_PROTOCOL)
            .with_server_info(Implementation::new("engram", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&NEWEST_PROTOCOL))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::list()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let connection = self.connection(&context)?;
        let result = tools::call(&self.state, &connection, &request.name, request.arguments).await?;
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        resources::list(&self.state, &self.connection(&context)?).await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let connection = self.connection(&context)?;
        Ok(resources::read(&self.state, &connection, &request.uri).await?.into())
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let connection = self.connection(&context)?;
        let label = resources::label_of(&connection, &request.uri)?;
        let block = resources::current(&self.state, &connection, &label, &request.uri).await?;
        self.subscriptions.add(
            &self.state,
            &context.peer,
            &request.uri,
            (connection.org, connection.agent, label),
            block.version,
        );
        Ok(())
    }

    /// rmcp hands over the requests it could not parse, including requests of the methods above whose parameters are
    /// malformed: those are invalid parameters, the rest unknown methods.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        let method = request.method;
        Err(match malformed(&method, request.params) {
            Some(reason) => ErrorData::invalid_params(format!("malformed `{method}` request: {reason}"), None),
            None => ErrorData::new(ErrorCode::METHOD_NOT_FOUND, format!("unknown method `{method}`"), None),
        })
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscriptions.remove(&request.uri);
        Ok(())
    }
}
