//! The passages' tags in memory, per agent: which passages hold each tag, so that a search's tag filter becomes a
//! set of keys without reading `passage_tags` (through sqlx, reading the 10k keys of one tag at 100k passages took
//! about 10 ms, more than the whole search it filters).
//!
//! Built and kept in step like the passage text indexes (`text_cache`): loaded from `passage_tags` on the agent's
//! first tag-filtered search while holding the entry's `gate`; a passage insert or delete commits first, then takes
//! the `gate` and applies its change (adding a key already present or removing an absent one does nothing, so a
//! change the loader already saw is harmless). Passages are never updated, so their tags change only with them.
//!
//! Each tag's keys are shared (`Arc`): a one-tag filter, the common case, takes them without copying; a write to a
//! set that a search is still reading copies it first.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, PoisonError};

use sqlx::SqliteConnection;

use engram_core::search::{PassageFilter, TagMode};

use super::shelf::{Entry, Shelf};
use crate::error::StoreError;

/// Passage keys by tag, for one agent.
type Tagged = HashMap<String, Arc<HashSet<i64>>>;

/// The tags of every agent's passages that a search has asked about.
#[derive(Default)]
pub(super) struct TagCache {
    agents: Shelf<Tagged>,
}

impl TagCache {
    /// The keys of the agent's passages that pass the filter's tags, or `None` when it names no tag.
    pub(super) async fn matching(
        &self,
        conn: &mut SqliteConnection,
        agent_id: &str,
        filter: &PassageFilter,
    ) -> Result<Option<Arc<HashSet<i64>>>, StoreError> {
        let tags: BTreeSet<&str> = filter.tags.iter().map(|t| t.as_str()).collect();
        if tags.is_empty() {
            return Ok(None);
        }
        let entry = self.agents.entry(agent_id);
        load(conn, agent_id, &entry).await?;
        let data = entry.data.read().unwrap_or_else(PoisonError::into_inner);
        let empty = Arc::new(HashSet::new());
        let Some(tagged) = data.as_ref() else { return Ok(Some(empty)) };
        let sets: Vec<&Arc<HashSet<i64>>> = tags.iter().map(|tag| tagged.get(*tag).unwrap_or(&empty)).collect();
        Ok(Some(combine(&sets, filter.tag_mode)))
    }

    /// Adds committed passages' tags to the agent's map if it is loaded.
    pub(super) async fn after_insert(&self, agent_id: &str, rows: Vec<(i64, Vec<String>)>) {
        if rows.iter().all(|(_, tags)| tags.is_empty()) {
            return;
        }
        let Some(entry) = self.agents.existing(agent_id) else { return };
        let _gate = entry.gate.lock().await;
        let mut data = entry.data.write().unwrap_or_else(PoisonError::into_inner);
        let Some(tagged) = data.as_mut() else { return };
        for (key, tags) in rows {
            for tag in tags {
                Arc::make_mut(tagged.entry(tag).or_default()).insert(key);
            }
        }
    }

    /// Removes a committed passage deletion from the agent's map if it is loaded.
    pub(super) async fn after_delete(&self, agent_id: &str, key: i64, tags: Vec<String>) {
        let Some(entry) = self.agents.existing(agent_id) else { return };
        let _gate = entry.gate.lock().await;
        let mut data = entry.data.write().unwrap_or_else(PoisonError::into_inner);
        let Some(tagged) = data.as_mut() else { return };
        for tag in tags {
            if let Some(keys) = tagged.get_mut(&tag) {
                Arc::make_mut(keys).remove(&key);
                if keys.is_empty() {
                    tagged.remove(&tag);
                }
            }
        }
    }

    /// Drops an agent's map (the agent was deleted).
    pub(super) fn forget_agent(&self, agent_id: &str) {
        self.agents.forget(agent_id);
    }
}

/// Reads the agent's tags unless they are loaded.
async fn load(conn: &mut SqliteConnection, agent_id: &str, entry: &Arc<Entry<Tagged>>) -> Result<(), StoreError> {
    let Some(_gate) = entry.gate_unloaded().await else { return Ok(()) };
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT tag, passage_pk FROM passage_tags WHERE agent_id = ?1")
        .bind(agent_id)
        .fetch_all(&mut *conn)
        .await?;
    let mut tagged: HashMap<String, HashSet<i64>> = HashMap::new();
    for (tag, key) in rows {
        tagged.entry(tag).or_default().insert(key);
    }
    let tagged = tagged.into_iter().map(|(tag, keys)| (tag, Arc::new(keys))).collect();
    *entry.data.write().unwrap_or_else(PoisonError::into_inner) = Some(tagged);
    Ok(())
}

/// The keys in any (or all) of `sets`.
fn combine(sets: &[&Arc<HashSet<i64>>], mode: TagMode) -> Arc<HashSet<i64>> {
    match (sets, mode) {
        ([one], _) => Arc::clone(one),
        (_, TagMode::Any) => Arc::new(sets.iter().flat_map(|set| set.iter().copied()).collect()),
        (_, TagMode::All) => {
            let Some(smallest) = sets.iter().min_by_key(|set| set.len()) else { return Arc::default() };
            Arc::new(smallest.iter().copied().filter(|key| sets.iter().all(|set| set.contains(key))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(keys: &[i64]) -> Arc<HashSet<i64>> {
        Arc::new(keys.iter().copied().collect())
    }

    fn sorted(set: &HashSet<i64>) -> Vec<i64> {
        let mut keys: Vec<i64> = set.iter().copied().collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn any_is_the_union_and_all_the_intersection() {
        let (a, b, c) = (set(&[1, 2, 3]), set(&[2, 3, 4]), set(&[3, 9]));
        assert_eq!(sorted(&combine(&[&a, &b, &c], TagMode::Any)), vec![1, 2, 3, 4, 9]);
        assert_eq!(sorted(&combine(&[&a, &b, &c], TagMode::All)), vec![3]);
        assert!(Arc::ptr_eq(&combine(&[&a], TagMode::All), &a), "one tag's keys are shared, not copied");
        assert!(combine(&[&a, &set(&[])], TagMode::All).is_empty());
    }
}
