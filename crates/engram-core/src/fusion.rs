//! Hybrid ranking: fuses a full-text (BM25) result list and a vector (cosine) result list into one list, best
//! first. The store computes both lists; this module only decides the order, so it stays pure and testable.
//!
//! The method is a convex combination of min-max normalised scores. Each list's scores are mapped onto [0, 1] over
//! the list itself (its best → 1, its last → 0); a key a list does not hold gets 0 from it, since an item the
//! retriever did not return scores at most what its last returned item scored. The fused score is
//! `TEXT_WEIGHT × text + (1 − TEXT_WEIGHT) × vector`. A list whose scores are all equal (one item, or a flat list)
//! carries no order, only membership: each of its keys gets 1 from it. An empty list contributes nothing, so the
//! other list's order comes through unchanged.
//!
//! Why not reciprocal rank fusion: ranks throw away how far apart the scores are, so a lone strong keyword match
//! counts no more than a faint one. On the LoCoMo dev conversations (`engram bench locomo`; figures and the change
//! log in `docs/benchmarks.md`), evidence recall@10 was 58.3 for BM25 alone, 50.8 for vectors alone, 58.4 for
//! equal-weight RRF (k = 60) and 64.0 for this combination; with function words left out of the text query, 60.9
//! for BM25 and 66.2 for this combination.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

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

/// The weight of the normalised text score; the vector score gets the rest. Chosen on the LoCoMo dev conversations
/// (replayed over the same lists): with function words left out of the text query, recall@10 was 65.6 at 0.5, 66.0
/// to 66.3 from 0.58 to 0.62, and fell below 65.5 under 0.5 or above 0.7.
pub const TEXT_WEIGHT: f64 = 0.6;

/// At most `k` keys from either list, best first, with their fused score in [0, 1] (higher is better; comparable
/// only within one result). A key repeated within one list counts once, at its first (best) place. Equal scores are
/// ordered by the number of lists holding the key (both first), then the best place in either list, then the smaller
/// key, so the order never depends on hashing.
pub fn fuse(input: &FusionInput<'_>, k: usize) -> Vec<(i64, f64)> {
    let mut fused: HashMap<i64, Candidate> = HashMap::new();
    for (weight, list) in [(TEXT_WEIGHT, normalise(input.text)), (1.0 - TEXT_WEIGHT, normalise(input.vector))] {
        for (rank, (key, score)) in list.into_iter().enumerate() {
            let candidate = fused.entry(key).or_insert(Candidate { key, score: 0.0, lists: 0, best_rank: usize::MAX });
            candidate.score += weight * score;
            candidate.lists += 1;
            candidate.best_rank = candidate.best_rank.min(rank);
        }
    }
    let mut ranked: Vec<Candidate> = fused.into_values().collect();
    ranked.sort_by(Candidate::order);
    ranked.truncate(k);
    ranked.into_iter().map(|c| (c.key, c.score)).collect()
}

/// The list's keys in order, first occurrence only, with scores mapped onto [0, 1] by min-max. A score that is not
/// a finite number counts as the list's worst.
fn normalise(list: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut seen = HashSet::with_capacity(list.len());
    let unique: Vec<(i64, f64)> = list.iter().filter(|(key, _)| seen.insert(*key)).copied().collect();
    let finite = unique.iter().map(|&(_, score)| score).filter(|score| score.is_finite());
    let (low, high) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| (lo.min(s), hi.max(s)));
    let spread = high - low;
    // Flat within rounding (or no finite score at all): membership is all the list says.
    let flat = !spread.is_finite() || spread <= f64::EPSILON * high.abs().max(low.abs()).max(1.0);
    unique
        .into_iter()
        .map(|(key, score)| {
            let normalised = if flat {
                1.0
            } else if score.is_finite() {
                (score - low) / spread
            } else {
                0.0
            };
            (key, normalised)
        })
        .collect()
}

/// A key being fused.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    key: i64,
    score: f64,
    /// How many of the two lists hold the key.
    lists: u8,
    /// The best (smallest, 0-based) place the key has in either list.
    best_rank: usize,
}

impl Candidate {
    /// Best first: higher score, then found by more lists, then better single-list place, then smaller key.
    fn order(a: &Self, b: &Self) -> Ordering {
        b.score
            .total_cmp(&a.score)
            .then(b.lists.cmp(&a.lists))
            .then(a.best_rank.cmp(&b.best_rank))
            .then(a.key.cmp(&b.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fused(text: &[(i64, f64)], vector: &[(i64, f64)], k: usize) -> Vec<(i64, f64)> {
        fuse(&FusionInput { query: "what did Ann paint", text, vector }, k)
    }

    fn keys(text: &[(i64, f64)], vector: &[(i64, f64)], k: usize) -> Vec<i64> {
        fused(text, vector, k).into_iter().map(|(key, _)| key).collect()
    }

    #[test]
    fn scores_combine_after_min_max_normalisation() {
        // Text normalises to 1 → 1.0, 2 → 0.5, 3 → 0; vector to 4 → 1.0, 2 → 6/7, 5 → 0.
        let text = [(1, 9.0), (2, 5.0), (3, 1.0)];
        let vector = [(4, 0.9), (2, 0.8), (5, 0.2)];
        let result = fused(&text, &vector, 10);
        let order: Vec<i64> = result.iter().map(|&(key, _)| key).collect();
        assert_eq!(order, vec![2, 1, 4, 3, 5]);
        assert!((result[0].1 - (TEXT_WEIGHT * 0.5 + (1.0 - TEXT_WEIGHT) * 6.0 / 7.0)).abs() < 1e-12);
        assert!((result[1].1 - TEXT_WEIGHT).abs() < 1e-12);
        assert_eq!(result[4].1, 0.0);
    }

    #[test]
    fn a_strong_text_match_outranks_a_weak_key_found_by_both() {
        // BM25 scores far apart: the top text hit should not lose to a key that is mediocre in both lists.
        let text = [(1, 20.0), (2, 4.0), (3, 3.0), (4, 2.0)];
        let vector = [(5, 0.60), (2, 0.45), (6, 0.44), (4, 0.40)];
        assert_eq!(keys(&text, &vector, 2), vec![1, 5]);
    }

    #[test]
    fn at_equal_ranks_a_key_in_both_lists_wins() {
        // Keys 1 and 2 tie in the text list; only key 2 is also in the vector list, even as its last item.
        let text = [(1, 2.0), (2, 2.0), (3, 1.0)];
        let vector = [(7, 0.9), (2, 0.3)];
        assert_eq!(keys(&text, &vector, 10), vec![2, 1, 7, 3]);
    }

    #[test]
    fn k_limits_the_result_and_scores_descend() {
        let text: Vec<(i64, f64)> = (0..30).map(|i| (i, 30.0 - i as f64)).collect();
        let vector: Vec<(i64, f64)> = (20..50).map(|i| (i, 1.0 - i as f64 / 100.0)).collect();
        let result = fused(&text, &vector, 7);
        assert_eq!(result.len(), 7);
        assert!(result.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(result.iter().all(|&(_, score)| (0.0..=1.0).contains(&score)));
        assert!(fused(&text, &vector, 0).is_empty());
    }

    #[test]
    fn one_empty_list_keeps_the_other_order() {
        let text = [(4, 2.0), (1, 1.5), (9, 0.1)];
        assert_eq!(keys(&text, &[], 10), vec![4, 1, 9]);
        let vector = [(8, 0.7), (2, 0.6), (3, -0.2)];
        assert_eq!(keys(&[], &vector, 10), vec![8, 2, 3]);
        assert!(keys(&[], &[], 10).is_empty());
    }

    #[test]
    fn a_flat_or_single_list_counts_as_membership() {
        // One text hit: it weighs as much as the best vector hit, and more than vector hits it does not match.
        let vector = [(5, 0.8), (6, 0.5), (7, 0.1)];
        assert_eq!(keys(&[(6, 3.2)], &vector, 10), vec![6, 5, 7]);
        // A flat vector list gives every member the same lift; the text order decides among them.
        let text = [(1, 5.0), (2, 4.0), (3, 1.0)];
        let flat = [(3, 0.25), (2, 0.25)];
        assert_eq!(keys(&text, &flat, 10), vec![2, 1, 3]);
        assert_eq!(keys(&text, &[(3, 0.25), (1, 0.25)], 10), vec![1, 2, 3]);
    }

    #[test]
    fn ties_are_broken_deterministically() {
        // Equal scores and lists: the better place leads, then the smaller key.
        assert_eq!(keys(&[(9, 2.0), (4, 1.0), (8, 1.0)], &[], 10), vec![9, 4, 8]);
        let text: Vec<(i64, f64)> = (0..40).rev().map(|i| (i, 1.0)).collect();
        assert_eq!(keys(&text, &[], 40), (0..40).rev().collect::<Vec<_>>());
    }

    #[test]
    fn repeated_keys_and_odd_scores_are_handled() {
        // A repeated key counts once, at its first place.
        let result = fused(&[(1, 2.0), (1, 1.0), (2, 0.5)], &[], 10);
        assert_eq!(result.iter().map(|&(key, _)| key).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(result[0].1, TEXT_WEIGHT);
        // A NaN or infinite score ranks as the list's worst and never poisons the others.
        let text = [(1, 3.0), (2, f64::NAN), (3, 1.0), (4, f64::INFINITY)];
        let order = keys(&text, &[], 10);
        assert_eq!(order[0], 1);
        assert!(fused(&text, &[], 10).iter().all(|&(_, score)| score.is_finite()));
    }
}
