//! `RowKeys`: each row's key by ordinal, and the live row of a key, without a hash map entry per row in the usual
//! case.
//!
//! A store's keys are row ids that grow as rows are inserted, and a rebuild orders rows by key, so the keys of a
//! leading run of ordinals are strictly ascending: there a key is found by binary search (a removed row keeps its
//! key, and its length says it is dead). Only a row that breaks the run (a replacement, or a key smaller than one
//! before it) goes into a hash map, until the next rebuild sorts it in. A hash map entry costs about 35 bytes a row,
//! an eighth of the whole index.

use hashbrown::HashMap;

#[derive(Default)]
pub(super) struct RowKeys {
    /// By ordinal.
    keys: Vec<i64>,
    /// `keys[..sorted]` is strictly ascending.
    sorted: usize,
    /// Live rows at or after `sorted`, by key.
    others: HashMap<i64, u32>,
    /// Live rows.
    live: usize,
}

impl RowKeys {
    /// Keys in ascending order, one per row (and rows numbered in that order).
    pub(super) fn from_sorted(keys: Vec<i64>) -> Self {
        Self { sorted: keys.len(), live: keys.len(), keys, others: HashMap::new() }
    }

    /// Live rows.
    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// Rows numbered, live and dead.
    pub(super) fn rows(&self) -> usize {
        self.keys.len()
    }

    /// Whether every row is in the sorted run.
    pub(super) fn all_sorted(&self) -> bool {
        self.sorted == self.keys.len()
    }

    pub(super) fn key(&self, ord: u32) -> Option<i64> {
        self.keys.get(ord as usize).copied()
    }

    pub(super) fn keys(&self) -> &[i64] {
        &self.keys
    }

    /// The ordinal of `key`'s live row; `alive` says whether a row of the sorted run is live.
    pub(super) fn find(&self, key: i64, alive: impl Fn(u32) -> bool) -> Option<u32> {
        if let Some(&ord) = self.others.get(&key) {
            return Some(ord);
        }
        let run = self.keys.get(..self.sorted)?;
        let ord = u32::try_from(run.binary_search(&key).ok()?).ok()?;
        alive(ord).then_some(ord)
    }

    /// Numbers a new live row (its key must not be live) and returns its ordinal.
    pub(super) fn push(&mut self, key: i64) -> u32 {
        let ord = self.keys.len() as u32;
        if self.all_sorted() && self.keys.last().is_none_or(|&last| last < key) {
            self.sorted += 1;
        } else {
            self.others.insert(key, ord);
        }
        self.keys.push(key);
        self.live += 1;
        ord
    }

    /// Records that `key`'s live row has died.
    pub(super) fn bury(&mut self, key: i64) {
        self.others.remove(&key);
        self.live = self.live.saturating_sub(1);
    }

    pub(super) fn reserve(&mut self, rows: usize) {
        self.keys.reserve(rows);
    }

    /// Gives back spare capacity when it is more than an eighth of what is used.
    pub(super) fn shrink(&mut self) {
        if self.keys.capacity() - self.keys.len() > self.keys.len() / 8 {
            self.keys.shrink_to_fit();
        }
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.keys.capacity() * size_of::<i64>() + self.others.allocation_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascending_keys_need_no_map_and_others_are_found_too() {
        let mut dead = [false; 8];
        let mut keys = RowKeys::default();
        for key in [2, 5, 9] {
            keys.push(key);
        }
        assert!(keys.all_sorted() && keys.others.is_empty());
        // Replacing 5: the old row dies, the new one breaks the run.
        dead[1] = true;
        keys.bury(5);
        assert_eq!(keys.push(5), 3);
        assert_eq!(keys.push(20), 4);
        assert!(!keys.all_sorted());
        let alive = |ord: u32| !dead[ord as usize];
        let found: Vec<Option<u32>> = [2, 5, 9, 20, 7].iter().map(|&key| keys.find(key, alive)).collect();
        assert_eq!(found, vec![Some(0), Some(3), Some(2), Some(4), None]);
        assert_eq!((keys.live(), keys.rows()), (4, 5));
        let sorted = RowKeys::from_sorted(vec![1, 4, 6]);
        assert_eq!(sorted.find(4, |_| true), Some(1));
        assert_eq!(sorted.find(4, |_| false), None);
    }
}
