//! engram-mcp: engram as an MCP (Model Context Protocol) memory server.
//!
//! One agent's memory, offered to any MCP client: the agent's built-in memory tools (run by the runtime's own code
//! through the store's audited write path, with the client recorded as an `mcp` actor) plus `memory_blocks`, and its
//! core memory blocks as resources (`engram://agents/{agent_id}/blocks/{label}`) with change notifications.
//! [`McpServer`] is the protocol handler; [`serve_stdio`] runs it for `engram mcp`, and [`HttpTransport`] is the
//! streamable HTTP service engram's server mounts at `/mcp`, where each request brings its [`Connection`].
//!
//! Dependencies point inward: the server and the binary use this crate; it uses the runtime, the store and core.

mod agents;
mod connection;
mod error;
mod resources;
mod server;
mod state;
mod subscriptions;
mod tools;
mod transport;
mod uri;

pub use agents::{open_or_create_agent, resolve_agent};
pub use connection::Connection;
pub use error::McpError;
pub use server::McpServer;
pub use state::{DEFAULT_POLL_INTERVAL, McpState};
pub use tools::MEMORY_BLOCKS;
pub use transport::{HttpOptions, HttpService, HttpTransport, serve_stdio};
pub use uri::{BLOCK_URI_TEMPLATE, block_uri, parse_block_uri};
