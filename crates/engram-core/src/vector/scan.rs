//! Exact top-k scans over a `VectorSet`, on one or more threads.
//!
//! The default scan is two-pass and still exact. Pass one reads only the one-byte codes (a quarter of the bytes of
//! the `f32` rows, which is what bounds a scan) and gives every accepted row an interval that provably holds its
//! `f32` score (`quant::CodedQuery::bound`). Once `k` rows have lower ends above some value, no row whose upper end
//! is below it can be in the top `k`; the rows that survive get their `f32` score in pass two. The plain scan
//! (`full_scan_threads`), which computes every accepted row's `f32` score, is kept as the reference the tests and
//! the benchmark compare against, and serves dimensions too large for codes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;

use super::distance::dot;
use super::hit::{Hit, TopK, into_hits};
use super::quant::CodedQuery;
use super::set::VectorSet;

/// An `f32` ordered by `total_cmp`, for heaps of scores.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Score(f32);

impl Eq for Score {}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The `k` largest lower bounds seen; the smallest of them is a floor no top-k score can be below.
struct Floor {
    k: usize,
    lows: BinaryHeap<Reverse<Score>>,
}

impl Floor {
    fn new(k: usize) -> Self {
        Self { k, lows: BinaryHeap::with_capacity(k.min(4096) + 1) }
    }

    #[inline]
    fn value(&self) -> f32 {
        if self.lows.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.lows.peek().map_or(f32::NEG_INFINITY, |low| low.0.0)
        }
    }

    #[inline]
    fn offer(&mut self, low: f32) {
        if self.lows.len() < self.k {
            self.lows.push(Reverse(Score(low)));
        } else if let Some(mut smallest) = self.lows.peek_mut()
            && low > smallest.0.0
        {
            *smallest = Reverse(Score(low));
        }
    }
}

impl<A: Copy> VectorSet<A> {
    /// The `k` rows most similar to `query` among those `accept` lets through, best first, ties by smaller key.
    ///
    /// `query` should be normalised for the scores to be cosines. A query of the wrong dimension matches nothing
    /// (`VectorIndex::search` reports it as an error). Runs on the calling thread.
    pub fn exact_search(&self, query: &[f32], k: usize, accept: impl Fn(i64, &A) -> bool + Sync) -> Vec<Hit>
    where
        A: Sync,
    {
        self.exact_search_threads(query, k, 1, accept)
    }

    /// `exact_search` on exactly `threads` threads (at least one; the calling thread does a share).
    pub fn exact_search_threads(
        &self,
        query: &[f32],
        k: usize,
        threads: usize,
        accept: impl Fn(i64, &A) -> bool + Sync,
    ) -> Vec<Hit>
    where
        A: Sync,
    {
        if !self.coded() {
            return self.full_scan_threads(query, k, threads, accept);
        }
        let coded = CodedQuery::new(query);
        self.split(query, k, threads, |range| self.pruned_scan(query, &coded, range, k, &accept))
    }

    /// The same answer as `exact_search_threads`, computing the `f32` score of every accepted row.
    pub fn full_scan_threads(
        &self,
        query: &[f32],
        k: usize,
        threads: usize,
        accept: impl Fn(i64, &A) -> bool + Sync,
    ) -> Vec<Hit>
    where
        A: Sync,
    {
        self.split(query, k, threads, |range| self.full_scan(query, range, k, &accept))
    }

    /// Runs `part` over `threads` contiguous ranges of rows and merges the partial top-k lists.
    fn split(&self, query: &[f32], k: usize, threads: usize, part: impl Fn(Range<usize>) -> TopK + Sync) -> Vec<Hit> {
        if query.len() != self.dim || k == 0 || self.is_empty() {
            return Vec::new();
        }
        let rows = self.len();
        let threads = threads.clamp(1, rows);
        if threads == 1 {
            return into_hits(part(0..rows));
        }
        let share = rows.div_ceil(threads);
        let range = |index: usize| (index * share).min(rows)..((index + 1) * share).min(rows);
        let part = &part;
        std::thread::scope(|scope| {
            let workers: Vec<_> = (1..threads).map(|index| scope.spawn(move || part(range(index)))).collect();
            let mut top = part(range(0));
            for worker in workers {
                match worker.join() {
                    Ok(partial) => top.merge(partial),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            into_hits(top)
        })
    }

    /// Top-k over `range` scoring every accepted row in `f32`.
    fn full_scan(&self, query: &[f32], range: Range<usize>, k: usize, accept: &impl Fn(i64, &A) -> bool) -> TopK {
        let mut top = TopK::new(k);
        let rows = self.data[range.start * self.dim..range.end * self.dim].chunks_exact(self.dim);
        for ((row, key), attr) in rows.zip(&self.keys[range.clone()]).zip(&self.attrs[range]) {
            if !accept(*key, attr) {
                continue;
            }
            let score = dot(query, row);
            if top.floor().is_some_and(|floor| score < floor) {
                continue;
            }
            top.offer(*key, score);
        }
        top
    }

    /// Top-k over `range`: bounds from codes first, `f32` scores only for rows that might make the top `k`.
    fn pruned_scan(
        &self,
        query: &[f32],
        coded: &CodedQuery,
        range: Range<usize>,
        k: usize,
        accept: &impl Fn(i64, &A) -> bool,
    ) -> TopK {
        let mut floor = Floor::new(k);
        let mut candidates: Vec<(usize, f32)> = Vec::new();
        let mut compact_at = k.max(256).saturating_mul(4);
        let codes = self.codes[range.start * self.dim..range.end * self.dim].chunks_exact(self.dim);
        let rows = codes
            .zip(&self.keys[range.clone()])
            .zip(&self.attrs[range.clone()])
            .zip(&self.scales[range.clone()])
            .zip(&self.errors[range.clone()]);
        for (offset, ((((code, key), attr), scale), error)) in rows.enumerate() {
            if !accept(*key, attr) {
                continue;
            }
            let approximate = coded.score(code, *scale);
            let bound = coded.bound(*error);
            let upper = approximate + bound;
            if upper < floor.value() {
                continue;
            }
            floor.offer(approximate - bound);
            candidates.push((range.start + offset, upper));
            if candidates.len() >= compact_at {
                let value = floor.value();
                candidates.retain(|&(_, upper)| upper >= value);
                compact_at = compact_at.max(candidates.len() * 2);
            }
        }
        let value = floor.value();
        let mut top = TopK::new(k);
        for (slot, upper) in candidates {
            if upper >= value {
                top.offer(self.keys[slot], dot(query, self.row(slot)));
            }
        }
        top
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::set::normalized;
    use crate::vector::synthetic::{Rng, Shape, points, queries_near};

    fn random_set(rows: usize, dim: usize, seed: u64) -> VectorSet<u32> {
        let mut rng = Rng::new(seed);
        let mut set = VectorSet::new(dim);
        for key in 0..rows as i64 {
            let vector: Vec<f32> = (0..dim).map(|_| rng.gaussian()).collect();
            set.push(key * 3 + 1, &vector, (key % 10) as u32).unwrap();
        }
        set
    }

    /// Brute force: score every accepted row, sort by score then key, keep `k`.
    fn brute(set: &VectorSet<u32>, query: &[f32], k: usize, accept: impl Fn(i64, &u32) -> bool) -> Vec<Hit> {
        let mut all: Vec<Hit> = (0..set.len())
            .filter(|&slot| accept(set.key_at(slot), set.attr_at(slot)))
            .map(|slot| Hit { key: set.key_at(slot), score: dot(query, set.row(slot)).clamp(-1.0, 1.0) })
            .collect();
        all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.key.cmp(&b.key)));
        all.truncate(k);
        all
    }

    fn query(dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        normalized(dim, &(0..dim).map(|_| rng.gaussian()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn exact_search_equals_brute_force_with_and_without_filter() {
        let set = random_set(3_000, 24, 1);
        for seed in 0..5 {
            let q = query(24, 100 + seed);
            for k in [1, 10, 57] {
                assert_eq!(set.exact_search(&q, k, |_, _| true), brute(&set, &q, k, |_, _| true));
                let even = |_: i64, attr: &u32| attr.is_multiple_of(2);
                assert_eq!(set.exact_search(&q, k, even), brute(&set, &q, k, even));
                let rare = |key: i64, _: &u32| key % 97 == 1;
                assert_eq!(set.exact_search(&q, k, rare), brute(&set, &q, k, rare));
            }
        }
    }

    #[test]
    fn threads_give_the_same_hits_as_one_thread() {
        let set = random_set(2_001, 16, 2);
        let q = query(16, 7);
        let one = set.exact_search_threads(&q, 25, 1, |_, _| true);
        for threads in [2, 3, 8] {
            assert_eq!(set.exact_search_threads(&q, 25, threads, |_, _| true), one);
        }
        let tiny = random_set(3, 16, 3);
        assert_eq!(tiny.exact_search_threads(&q, 10, 8, |_, _| true), brute(&tiny, &q, 10, |_, _| true));
    }

    #[test]
    fn equal_scores_come_back_in_key_order() {
        let mut set = VectorSet::new(2);
        for key in [40, 10, 30, 20] {
            set.push(key, &[1.0, 1.0], ()).unwrap();
        }
        set.push(5, &[-1.0, 0.0], ()).unwrap();
        let hits = set.exact_search(&[0.6, 0.8], 3, |_, _| true);
        assert_eq!(hits.iter().map(|hit| hit.key).collect::<Vec<_>>(), vec![10, 20, 30]);
        assert!((hits[0].score - 0.98995).abs() < 1e-4);
    }

    #[test]
    fn removed_keys_disappear_and_moved_rows_stay_findable() {
        let mut set = random_set(500, 8, 4);
        let q = query(8, 9);
        for key in (1..1_500).step_by(6) {
            assert!(set.remove(key));
        }
        assert!(!set.remove(1), "second removal finds nothing");
        assert_eq!(set.len(), 250);
        let hits = set.exact_search(&q, 300, |_, _| true);
        assert_eq!(hits.len(), 250);
        assert!(hits.iter().all(|hit| (hit.key - 1) % 6 != 0));
        assert_eq!(hits, brute(&set, &q, 300, |_, _| true));
        for hit in &hits {
            let (row, _) = set.get(hit.key).unwrap();
            assert_eq!(dot(&q, row).clamp(-1.0, 1.0), hit.score);
        }
    }

    #[test]
    fn pruned_scan_equals_the_full_scan_on_clustered_data() {
        let dim = 48;
        for shape in [Shape::CLUSTERED, Shape::ISOTROPIC, Shape::UNIFORM] {
            let rows = points(1_500, dim, Shape { clusters: 20, ..shape }, 8, 1);
            let mut set = VectorSet::new(dim);
            for (key, row) in rows.chunks_exact(dim).enumerate() {
                set.push(key as i64, row, (key % 7) as u32).unwrap();
            }
            let queries = queries_near(&rows, dim, 6, shape, 9);
            for q in queries.chunks_exact(dim) {
                for k in [1, 10, 100] {
                    let full = set.full_scan_threads(q, k, 1, |_, _| true);
                    assert_eq!(set.exact_search_threads(q, k, 1, |_, _| true), full);
                    assert_eq!(set.exact_search_threads(q, k, 3, |_, _| true), full);
                    let filtered = set.full_scan_threads(q, k, 1, |_, attr| *attr == 3);
                    assert_eq!(set.exact_search_threads(q, k, 2, |_, attr| *attr == 3), filtered);
                }
            }
        }
    }

    #[test]
    fn pruned_scan_keeps_every_tied_row_in_key_order() {
        let mut set = VectorSet::new(40);
        let row: Vec<f32> = (0..40).map(|i| (i as f32 * 0.37).sin()).collect();
        for key in (0..500).rev() {
            set.push(key, &row, ()).unwrap();
        }
        let hits = set.exact_search_threads(&normalized(40, &row).unwrap(), 15, 2, |_, _| true);
        assert_eq!(hits.iter().map(|hit| hit.key).collect::<Vec<_>>(), (0..15).collect::<Vec<_>>());
        assert!(hits.iter().all(|hit| (hit.score - 1.0).abs() < 1e-5));
    }

    #[test]
    fn huge_k_returns_every_accepted_row() {
        let set = random_set(50, 8, 6);
        let q = query(8, 1);
        let hits = set.exact_search(&q, usize::MAX, |key, _| key % 2 == 0);
        assert_eq!(hits, brute(&set, &q, 50, |key, _| key % 2 == 0));
        assert_eq!(hits.len(), 25);
    }

    #[test]
    fn wrong_dimension_or_zero_k_match_nothing() {
        let set = random_set(10, 4, 5);
        assert!(set.exact_search(&[1.0, 0.0], 3, |_, _| true).is_empty());
        assert!(set.exact_search(&[1.0, 0.0, 0.0, 0.0], 0, |_, _| true).is_empty());
        assert_eq!(set.exact_search(&[1.0, 0.0, 0.0, 0.0], 50, |_, _| true).len(), 10);
    }
}
