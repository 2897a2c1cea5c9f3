//! A shelf of per-agent in-memory indexes (vectors, text, tags): one entry per agent, created on first use and shared
//! by every search and write of that agent through an `Arc`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// One agent's index: `None` until loaded. A loader holds `gate` while it reads the rows and installs the index; a
/// writer commits first, then holds `gate` while it applies its change, so no committed change is missed.
pub(super) struct Entry<T> {
    pub(super) gate: tokio::sync::Mutex<()>,
    pub(super) data: RwLock<Option<T>>,
}

impl<T> Default for Entry<T> {
    fn default() -> Self {
        Self { gate: tokio::sync::Mutex::new(()), data: RwLock::new(None) }
    }
}

impl<T> Entry<T> {
    fn is_loaded(&self) -> bool {
        self.data.read().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    /// The gate, held, when the entry still needs loading (the caller loads and installs under it); `None` once it
    /// is loaded, by this caller or another it waited for.
    pub(super) async fn gate_unloaded(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if self.is_loaded() {
            return None;
        }
        let gate = self.gate.lock().await;
        (!self.is_loaded()).then_some(gate)
    }
}

/// Every agent's entry of one kind of index.
pub(super) struct Shelf<T> {
    entries: Mutex<HashMap<String, Arc<Entry<T>>>>,
}

impl<T> Default for Shelf<T> {
    fn default() -> Self {
        Self { entries: Mutex::new(HashMap::new()) }
    }
}

impl<T> Shelf<T> {
    /// The agent's entry, created empty if it has none yet.
    pub(super) fn entry(&self, agent_id: &str) -> Arc<Entry<T>> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.entry(agent_id.to_owned()).or_default().clone()
    }

    /// The agent's entry if it has one (a write need not create an entry nobody has searched).
    pub(super) fn existing(&self, agent_id: &str) -> Option<Arc<Entry<T>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).get(agent_id).cloned()
    }

    /// Drops the agent's entry: it is rebuilt from the database on next use.
    pub(super) fn forget(&self, agent_id: &str) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).remove(agent_id);
    }
}
