//! Resource subscriptions of one MCP session and the watcher that sends `notifications/resources/updated`.
//!
//! A session's first `resources/subscribe` starts a watcher task. It compares the stored version of every
//! subscribed block with the version it last saw, right after any MCP tool call in this process changed a block
//! and otherwise every poll interval, so changes made elsewhere (the REST API, an agent's run, another process on
//! the same database) are noticed too. A removed block counts as a change. The watcher ends with its session.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use engram_core::block::BlockLabel;
use engram_core::id::AgentId;
use engram_core::org::OrgId;
use engram_store::{Store, StoreError};
use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::service::{Peer, RoleServer};
use tokio::sync::broadcast::error::RecvError;

use crate::state::McpState;

/// A subscribed block and the version last seen (`None`: the block did not exist).
#[derive(Debug, Clone)]
struct Watched {
    org: OrgId,
    agent: AgentId,
    label: BlockLabel,
    version: Option<i64>,
}

/// One session's subscriptions, by URI.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    watched: Mutex<HashMap<String, Watched>>,
    watcher_started: AtomicBool,
}

impl Subscriptions {
    fn watched(&self) -> MutexGuard<'_, HashMap<String, Watched>> {
        self.watched.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Subscribes to `uri`, the block `label` of `agent` now at `version`, and starts the session's watcher on its
    /// first subscription.
    pub(crate) fn add(
        self: &Arc<Self>,
        state: &McpState,
        peer: &Peer<RoleServer>,
        uri: &str,
        (org, agent, label): (OrgId, AgentId, BlockLabel),
        version: i64,
    ) {
        self.watched().insert(uri.to_owned(), Watched { org, agent, label, version: Some(version) });
        if !self.watcher_started.swap(true, Ordering::SeqCst) {
            tokio::spawn(watch(state.clone(), Arc::downgrade(self), peer.clone()));
        }
    }

    pub(crate) fn remove(&self, uri: &str) {
        self.watched().remove(uri);
    }

    /// The URIs whose block changed since last seen; records the new versions.
    async fn changed(&self, store: &dyn Store) -> Vec<String> {
        let snapshot: Vec<(String, Watched)> = self.watched().iter().map(|(u, w)| (u.clone(), w.clone())).collect();
        let mut agents: Vec<(OrgId, AgentId)> = Vec::new();
        for (_, w) in &snapshot {
            if !agents.iter().any(|(o, a)| *o == w.org && *a == w.agent) {
                agents.push((w.org.clone(), w.agent));
            }
        }
        let mut versions: HashMap<(AgentId, BlockLabel), i64> = HashMap::new();
        let mut unknown: Vec<AgentId> = Vec::new();
        for (org, agent) in agents {
            match store.list_agent_blocks(&org, agent).await {
                Ok(blocks) => versions.extend(blocks.into_iter().map(|b| ((agent, b.label), b.version))),
                // A deleted agent has no blocks left.
                Err(StoreError::NotFound { .. }) => {}
                Err(error) => {
                    tracing::warn!(%error, "cannot check subscribed blocks for changes; will retry");
                    unknown.push(agent);
                }
            }
        }
        let mut watched = self.watched();
        let mut changed = Vec::new();
        for (uri, w) in snapshot {
            if unknown.contains(&w.agent) {
                continue;
            }
            let now = versions.get(&(w.agent, w.label.clone())).copied();
            if now != w.version
                && let Some(entry) = watched.get_mut(&uri)
            {
                entry.version = now;
                changed.push(uri);
            }
        }
        changed
    }
}

async fn watch(state: McpState, subscriptions: Weak<Subscriptions>, peer: Peer<RoleServer>) {
    let mut changes = state.changes.subscribe();
    loop {
        tokio::select! {
            received = changes.recv() => {
                if matches!(received, Err(RecvError::Closed)) {
                    return;
                }
            }
            () = tokio::time::sleep(state.poll_interval) => {}
        }
        let Some(subscriptions) = subscriptions.upgrade() else {
            return;
        };
        let changed = subscriptions.changed(state.store.as_ref()).await;
        drop(subscriptions);
        for uri in changed {
            if let Err(error) = peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri)).await {
                tracing::debug!(%error, "the MCP client is gone; its resource watcher stops");
                return;
            }
        }
        if peer.is_transport_closed() {
            return;
        }
    }
}
