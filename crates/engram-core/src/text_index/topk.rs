//! The bounded heap that keeps the best `k` hits while a search runs.
//!
//! The order is total and deterministic, as for vector hits: a higher score is better, and of two equal scores the
//! smaller key is better.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::TextHit;

/// A hit ordered so that the *worse* of two compares greater, putting the worst kept hit on top of the heap.
#[derive(Debug, Clone, Copy)]
struct Ranked(TextHit);

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

/// The best `k` hits offered so far.
pub(super) struct TopK {
    k: usize,
    heap: BinaryHeap<Ranked>,
}

impl TopK {
    pub(super) fn new(k: usize) -> Self {
        Self { k, heap: BinaryHeap::with_capacity(k.saturating_add(1).min(4096)) }
    }

    /// Once `k` hits are kept, the score of the worst: a row scoring less can no longer get in.
    #[inline]
    pub(super) fn floor(&self) -> Option<f64> {
        if self.heap.len() < self.k { None } else { self.heap.peek().map(|worst| worst.0.score) }
    }

    /// Whether a hit would be kept if offered now.
    #[inline]
    pub(super) fn admits(&self, key: i64, score: f64) -> bool {
        if self.heap.len() < self.k {
            return true;
        }
        self.heap.peek().is_some_and(|worst| Ranked(TextHit { key, score }) < *worst)
    }

    /// Keeps the hit if it is among the best `k` offered.
    pub(super) fn offer(&mut self, key: i64, score: f64) {
        if self.k == 0 {
            return;
        }
        let candidate = Ranked(TextHit { key, score });
        if self.heap.len() < self.k {
            self.heap.push(candidate);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && candidate < *worst
        {
            *worst = candidate;
        }
    }

    /// The kept hits, best first.
    pub(super) fn into_hits(self) -> Vec<TextHit> {
        self.heap.into_sorted_vec().into_iter().map(|ranked| ranked.0).collect()
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
        assert_eq!(top.floor(), Some(0.5));
        assert!(top.admits(2, 0.5) && !top.admits(4, 0.5));
        let keys: Vec<i64> = top.into_hits().iter().map(|hit| hit.key).collect();
        assert_eq!(keys, vec![7, 1, 3]);
    }

    #[test]
    fn zero_k_keeps_nothing() {
        let mut top = TopK::new(0);
        assert!(!top.admits(1, 1.0));
        top.offer(1, 1.0);
        assert!(top.into_hits().is_empty());
    }
}
