//! The bounded heap that keeps the best `k` scored keys while a search runs, shared by the vector scans
//! (`vector`, f32 cosines) and the text index (`text_index`, f64 BM25 scores).
//!
//! The order is total and deterministic: a higher score is better, and of two equal scores the smaller key is
//! better. Searches split over threads, and merges of their partial results, therefore return the same hits.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A score with a total order (`f32::total_cmp`, `f64::total_cmp`).
pub(crate) trait Score: Copy {
    fn total_cmp(&self, other: &Self) -> Ordering;
}

impl Score for f32 {
    fn total_cmp(&self, other: &Self) -> Ordering {
        f32::total_cmp(self, other)
    }
}

impl Score for f64 {
    fn total_cmp(&self, other: &Self) -> Ordering {
        f64::total_cmp(self, other)
    }
}

/// A key and its score, ordered so that the *worse* of two compares greater, putting the worst kept one on top of
/// the heap.
#[derive(Debug, Clone, Copy)]
struct Ranked<S> {
    key: i64,
    score: S,
}

impl<S: Score> Ord for Ranked<S> {
    fn cmp(&self, other: &Self) -> Ordering {
        other.score.total_cmp(&self.score).then(self.key.cmp(&other.key))
    }
}

impl<S: Score> PartialOrd for Ranked<S> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<S: Score> PartialEq for Ranked<S> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<S: Score> Eq for Ranked<S> {}

/// The best `k` keys offered so far, in a heap of at most `k` entries.
#[derive(Debug)]
pub(crate) struct TopK<S> {
    k: usize,
    heap: BinaryHeap<Ranked<S>>,
}

impl<S: Score> TopK<S> {
    pub(crate) fn new(k: usize) -> Self {
        Self { k, heap: BinaryHeap::with_capacity(k.saturating_add(1).min(4096)) }
    }

    /// Once `k` keys are kept, the score of the worst: a key scoring less can no longer get in.
    #[inline]
    pub(crate) fn floor(&self) -> Option<S> {
        if self.heap.len() < self.k { None } else { self.heap.peek().map(|worst| worst.score) }
    }

    /// Whether a key would be kept if offered now.
    #[inline]
    pub(crate) fn admits(&self, key: i64, score: S) -> bool {
        if self.heap.len() < self.k {
            return self.k > 0;
        }
        self.heap.peek().is_some_and(|worst| Ranked { key, score } < *worst)
    }

    /// Keeps the key if it is among the best `k` offered.
    #[inline]
    pub(crate) fn offer(&mut self, key: i64, score: S) {
        if self.k == 0 {
            return;
        }
        let candidate = Ranked { key, score };
        if self.heap.len() < self.k {
            self.heap.push(candidate);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && candidate < *worst
        {
            *worst = candidate;
        }
    }

    /// Folds another partial result into this one.
    pub(crate) fn merge(&mut self, other: TopK<S>) {
        for ranked in other.heap {
            self.offer(ranked.key, ranked.score);
        }
    }

    /// The kept keys and scores, best first.
    pub(crate) fn into_sorted(self) -> impl Iterator<Item = (i64, S)> {
        self.heap.into_sorted_vec().into_iter().map(|ranked| (ranked.key, ranked.score))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys<S: Score>(top: TopK<S>) -> Vec<i64> {
        top.into_sorted().map(|(key, _)| key).collect()
    }

    #[test]
    fn keeps_best_k_with_ties_broken_by_smaller_key() {
        let mut top = TopK::new(3);
        for (key, score) in [(5, 0.5), (1, 0.9), (9, 0.5), (3, 0.5), (2, 0.1), (7, 0.95)] {
            top.offer(key, score);
        }
        assert_eq!(top.floor(), Some(0.5f64));
        assert!(top.admits(2, 0.5) && !top.admits(4, 0.5));
        assert_eq!(keys(top), vec![7, 1, 3]);
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
        assert_eq!(left.into_sorted().collect::<Vec<_>>(), whole.into_sorted().collect::<Vec<_>>());
    }

    #[test]
    fn zero_k_keeps_nothing() {
        let mut top = TopK::new(0);
        assert!(!top.admits(1, 1.0f32));
        top.offer(1, 1.0);
        assert!(keys(top).is_empty());
    }
}
