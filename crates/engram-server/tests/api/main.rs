//! HTTP API tests: a real server on 127.0.0.1:0 over SQLite in a temp dir, driven through its public face.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_loop;
mod agentfile;
mod agents;
mod archival;
mod audit;
mod auth;
mod blocks;
mod durability;
mod errors;
mod idempotency;
mod meta;
mod paging;
mod retrieval;
mod runs;
mod streaming;

use engram_testkit::TestServer;
use serde_json::Value;

/// Every audit event of the caller's organisation, oldest first.
pub async fn audit_events(s: &TestServer) -> Vec<Value> {
    s.list_all("/v1/audit/events", 1000).await
}

/// The `action` of every audit event after the first `skip`.
pub async fn actions_since(s: &TestServer, skip: usize) -> Vec<String> {
    audit_events(s).await.iter().skip(skip).map(|e| e["action"].as_str().unwrap().to_owned()).collect()
}
