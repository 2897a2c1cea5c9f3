//! What an MCP connection acts on and as whom. Over stdio it is fixed when `engram mcp` starts; over HTTP the server
//! builds one per request after authentication and puts it in the request's extensions, where the session reads it.

use engram_core::audit::{Actor, ActorKind, WriteContext};
use engram_core::id::AgentId;
use engram_core::org::OrgId;

/// One MCP connection's scope: the organisation and agent it acts on, and who acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub org: OrgId,
    pub agent: AgentId,
    /// The id of the `mcp` actor recorded on every change: the API key's id over HTTP (`local` in local mode), the
    /// client's name from `initialize` over stdio.
    pub actor_id: String,
    /// The HTTP request id (`X-Request-Id`), recorded with changes made over HTTP.
    pub request_id: Option<String>,
}

impl Connection {
    /// The provenance of a change made through this connection: the MCP client acts, outside any run.
    pub fn write_ctx(&self) -> WriteContext {
        WriteContext {
            org: self.org.clone(),
            actor: Actor { kind: ActorKind::Mcp, id: self.actor_id.clone() },
            run_id: None,
            step_id: None,
            request_id: self.request_id.clone(),
        }
    }
}
