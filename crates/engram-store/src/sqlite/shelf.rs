//! A shelf of per-agent in-memory indexes (vector or text): one entry per agent, created on first use and shared by
//! every search and write of that agent through an `Arc`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Every agent's entry of one kind of index.
pub(super) struct Shelf<E> {
    entries: Mutex<HashMap<String, Arc<E>>>,
}

impl<E> Default for Shelf<E> {
    fn default() -> Self {
        Self { entries: Mutex::new(HashMap::new()) }
    }
}

impl<E: Default> Shelf<E> {
    /// The agent's entry, created empty if it has none yet.
    pub(super) fn entry(&self, agent_id: &str) -> Arc<E> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.entry(agent_id.to_owned()).or_default().clone()
    }
}

impl<E> Shelf<E> {
    /// The agent's entry if it has one (a write need not create an entry nobody has searched).
    pub(super) fn existing(&self, agent_id: &str) -> Option<Arc<E>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).get(agent_id).cloned()
    }

    /// Drops the agent's entry: it is rebuilt from the database on next use.
    pub(super) fn forget(&self, agent_id: &str) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).remove(agent_id);
    }
}
