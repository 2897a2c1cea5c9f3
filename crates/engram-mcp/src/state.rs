//! What every MCP session of one process shares: the store, retrieval (embedding-aware inserts and search), and the
//! change signal that wakes subscribed sessions after a write made through MCP.

use std::sync::Arc;
use std::time::Duration;

use engram_core::id::AgentId;
use engram_runtime::Retrieval;
use engram_store::Store;
use tokio::sync::broadcast;

/// How often a session with subscriptions looks for block changes made elsewhere (the REST API, an agent's run,
/// another process).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// State shared by all MCP sessions. Cheap to clone.
#[derive(Clone)]
pub struct McpState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) retrieval: Retrieval,
    /// Agents whose blocks an MCP tool call just changed.
    pub(crate) changes: broadcast::Sender<AgentId>,
    pub(crate) poll_interval: Duration,
}

impl std::fmt::Debug for McpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpState").field("poll_interval", &self.poll_interval).finish_non_exhaustive()
    }
}

impl McpState {
    /// `retrieval` should be the one the rest of the process uses (the server's runtime's), so inserts wake the
    /// same background indexer.
    pub fn new(store: Arc<dyn Store>, retrieval: Retrieval) -> Self {
        let (changes, _) = broadcast::channel(64);
        Self { store, retrieval, changes, poll_interval: DEFAULT_POLL_INTERVAL }
    }

    /// Sets how often sessions with subscriptions look for changes made outside MCP.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Tells subscribed sessions that `agent`'s blocks may have changed.
    pub(crate) fn announce_change(&self, agent: AgentId) {
        // No receiver just means no session is subscribed.
        let _ = self.changes.send(agent);
    }
}
