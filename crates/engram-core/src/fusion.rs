//! Hybrid ranking: fuses a full-text (BM25) result list and a vector (cosine) result list into one list, best
//! first. The store computes both lists; this module only decides the order, so it stays pure and testable.
//!
//! The current method is reciprocal rank fusion with k = 60: each list contributes `1 / (60 + rank)` for every key
//! it holds (rank counted from 1), and keys are ordered by the sum.

use std::cmp::Ordering;
use std::collections::HashMap;

/// The two lists to fuse, each best first, for one query.
#[derive(Debug, Clone, Copy)]
pub struct FusionInput<'a> {
    /// The query text the lists answer.
    pub query: &'a str,
    /// `(key, BM25 score)`, higher is better, best first.
    pub text: &'a [(i64, f64)],
    /// `(key, cosine similarity in [-1, 1])`, best first.
    pub vector: &'a [(i64, f64)],
}

/// The rank offset of reciprocal rank fusion: the usual constant, which damps the weight of the very first ranks.
pub const RRF_K: f64 = 60.0;

/// At most `k` keys from either list, best first, with their fused score (higher is better; comparable only within
/// one result). A key present in both lists gets both contributions. A key repeated within one list counts once, at
/// its best rank. Ties are broken by the better single-list rank, then by the smaller key, so the order never depends
/// on hashing.
pub fn fuse(input: &FusionInput<'_>, k: usize) -> Vec<(i64, f64)> {
    let mut fused: HashMap<i64, Candidate> = HashMap::new();
    for list in [input.text, input.vector] {
        let mut seen = std::collections::HashSet::new();
        for (rank, &(key, _)) in list.iter().enumerate() {
            if !seen.insert(key) {
                continue;
            }
            let candidate = fused.entry(key).or_insert(Candidate { key, score: 0.0, best_rank: usize::MAX });
            candidate.score += 1.0 / (RRF_K + (rank + 1) as f64);
            candidate.best_rank = candidate.best_rank.min(rank);
        }
    }
    let mut ranked: Vec<Candidate> = fused.into_values().collect();
    ranked.sort_by(Candidate::order);
    ranked.truncate(k);
    ranked.into_iter().map(|c| (c.key, c.score)).collect()
}

/// A key being fused.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    key: i64,
    score: f64,
    /// The best (smallest, 0-based) rank the key has in either list.
    best_rank: usize,
}

impl Candidate {
    /// Best first: higher score, then better single-list rank, then smaller key.
    fn order(a: &Self, b: &Self) -> Ordering {
        b.score.total_cmp(&a.score).then(a.best_rank.cmp(&b.best_rank)).then(a.key.cmp(&b.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fused_keys(text: &[(i64, f64)], vector: &[(i64, f64)], k: usize) -> Vec<i64> {
        fuse(&FusionInput { query: "q", text, vector }, k).into_iter().map(|(key, _)| key).collect()
    }

    #[test]
    fn a_key_in_both_lists_beats_keys_in_one() {
        let text = [(1, 9.0), (2, 5.0)];
        let vector = [(3, 0.9), (2, 0.8)];
        assert_eq!(fused_keys(&text, &vector, 10), vec![2, 1, 3]);
    }

    #[test]
    fn equal_ranks_in_both_lists_rank_above_the_same_rank_in_one() {
        // Key 7 is second in both lists; key 5 is first in text only, key 6 first in vector only.
        let text = [(5, 3.0), (7, 2.0)];
        let vector = [(6, 0.5), (7, 0.4)];
        let fused = fused_keys(&text, &vector, 10);
        assert_eq!(fused[0], 7);
    }

    #[test]
    fn k_limits_the_result_and_scores_descend() {
        let text: Vec<(i64, f64)> = (0..30).map(|i| (i, 30.0 - i as f64)).collect();
        let vector: Vec<(i64, f64)> = (20..50).map(|i| (i, 1.0 - i as f64 / 100.0)).collect();
        let fused = fuse(&FusionInput { query: "q", text: &text, vector: &vector }, 7);
        assert_eq!(fused.len(), 7);
        assert!(fused.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(fuse(&FusionInput { query: "q", text: &text, vector: &vector }, 0).is_empty());
    }

    #[test]
    fn one_empty_list_keeps_the_other_order() {
        let text = [(4, 2.0), (1, 1.5), (9, 0.1)];
        assert_eq!(fused_keys(&text, &[], 10), vec![4, 1, 9]);
        let vector = [(8, 0.7), (2, 0.6)];
        assert_eq!(fused_keys(&[], &vector, 10), vec![8, 2]);
        assert!(fused_keys(&[], &[], 10).is_empty());
    }

    #[test]
    fn ties_are_broken_by_rank_then_key() {
        // Keys 3 and 1 are both first in one list: equal scores, equal best ranks, so the smaller key leads.
        assert_eq!(fused_keys(&[(3, 1.0)], &[(1, 0.9)], 10), vec![1, 3]);
        // The same regardless of which list holds which.
        assert_eq!(fused_keys(&[(1, 1.0)], &[(3, 0.9)], 10), vec![1, 3]);
    }

    #[test]
    fn a_repeated_key_counts_once() {
        let text = [(1, 2.0), (1, 1.0), (2, 0.5)];
        let fused = fuse(&FusionInput { query: "q", text: &text, vector: &[] }, 10);
        assert_eq!(fused.len(), 2);
        assert!((fused[0].1 - 1.0 / 61.0).abs() < 1e-12);
    }
}
