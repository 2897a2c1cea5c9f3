//! engram's MCP server over streamable HTTP, driven by the official Rust MCP client (`rmcp`) against a real engram
//! server (`engram_testkit::TestServer`): the handshake, every tool (happy paths and bad arguments), resources and
//! their change notifications, edits crossing between MCP and the REST API, and how `/mcp` picks the agent and
//! authenticates. The stdio transport is tested through the `engram mcp` binary in `crates/engram/tests/cli/mcp.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod connection;
mod resources;
mod support;
mod tool_errors;
mod tools;
