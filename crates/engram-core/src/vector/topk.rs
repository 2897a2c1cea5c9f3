//! Search hits and the bounded heap that keeps the best `k` of them while a scan runs.
//!
//! The order is total and deterministic: a higher score is better, and of two equal scores the smaller key is
//! better. Exact scans on one or two threads, and merges of their partial results, therefore return the same hits.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One search result: the row's key and its cosine similarity to the query, in `[-1, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub key: i64,
    pub score: f32,
}

/// A hit ordered so that the *worse* of two compares greater, putting the worst kept hit on top of the heap.
#[derive(Debug, Clone, Copy)]
struct Ranked(Hit);

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.score.total_cmp(&self.0.score).then(self.0.key.cmp(&other.0.key))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

/// The best `k` hits offered so far, in a heap of at most `k` entries.
#[derive(Debug)]
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Ranked>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        Self { k, heap: BinaryHeap::with_capacity(k.saturating_add(1).min(4096)) }
    }

    /// The score a new hit must reach to be kept, once the heap is full.
    #[inline]
    pub(crate) fn floor(&self) -> Option<f32> {
        if self.heap.len() < self.k { None } else { self.heap.peek().map(|worst| worst.0.score) }
    }

    /// Keeps the hit if it is among the best `k` seen.
    #[inline]
    pub(crate) fn offer(&mut self, key: i64, score: f32) {
        if self.k == 0 {
            return;
        }
        let candidate = Ranked(Hit { key, score });
        if self.heap.len() < self.k {
            self.heap.push(candidate);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && candidate < *worst
        {
            *worst = candidate;
        }
    }

    /// Folds another partial result into this one.
    pub(crate) fn merge(&mut self, other: TopK) {
        for ranked in other.heap {
            self.offer(ranked.0.key, ranked.0.score);
        }
    }

    /// The kept hits, best first, with scores clamped to the cosine range.
    pub(crate) fn into_hits(self) -> Vec<Hit> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|ranked| Hit { key: ranked.0.key, score: ranked.0.score.clamp(-1.0, 1.0) })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_best_k_with_ties_broken_by_smaller_key() {
        let mut top = TopK::new(3);
        for (key, score) in [(5, 0.5), (1, 0.9), (9, 0.5), (3, 0.5), (2, 0.1), (7, 0.95)] {
            top.offer(key, score);
        }
        let keys: Vec<i64> = top.into_hits().iter().map(|hit| hit.key).collect();
        assert_eq!(keys, vec![7, 1, 3]);
    }

    #[test]
    fn merge_equals_one_pass() {
        let items: Vec<(i64, f32)> = (0..50).map(|i| (i, ((i * 37) % 11) as f32 / 10.0)).collect();
        let mut whole = TopK::new(7);
        let (mut left, mut right) = (TopK::new(7), TopK::new(7));
        for (index, &(key, score)) in items.iter().enumerate() {
            whole.offer(key, score);
            if index % 2 == 0 { left.offer(key, score) } else { right.offer(key, score) }
        }
        left.merge(right);
        assert_eq!(left.into_hits(), whole.into_hits());
    }

    #[test]
    fn zero_k_keeps_nothing() {
        let mut top = TopK::new(0);
        top.offer(1, 1.0);
        assert!(top.into_hits().is_empty());
    }
}
