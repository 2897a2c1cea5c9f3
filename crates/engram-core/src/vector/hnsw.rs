//! Our own HNSW graph (Malkov & Yashunin, 2016): layered proximity graphs searched top-down, greedy on the sparse
//! upper layers and with a beam of width `ef` on the dense bottom layer. This file holds the graph's storage and
//! its search; `hnsw_build` inserts nodes.
//!
//! The graph holds only links; it reads vectors through `NodeVectors`, so the index can keep one copy of them (its
//! `VectorSet`) and still route through removed nodes, which stay in the graph as tombstones until a rebuild.
//! Building and walking the graph compare one-byte codes (`quant`), a quarter of the memory traffic of `f32` rows;
//! the index re-ranks the final candidates with `f32` scores. Links live in flat arrays of `AtomicU32` (a count,
//! then the neighbours), one block per node and layer: searches read them without locks, and a bulk build inserts
//! on several threads at once, each writer holding a striped lock of the node whose list it rewrites. Relaxed
//! reads during a build may see a list mid-rewrite; every value in it is still a valid node, so the worst case is
//! a slightly worse neighbour choice, never a wrong answer.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, Ordering as Memory};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::quant::Probe;

/// How a graph finds the vector of a node: its codes and their scale.
pub(crate) trait NodeVectors: Sync {
    fn code(&self, node: u32) -> Code<'_>;
}

/// A vector as codes and the scale that turns them back into components.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Code<'a> {
    pub(crate) codes: &'a [u8],
    pub(crate) scale: f32,
}

/// Shape and effort of an HNSW graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node on the upper layers; the bottom layer keeps twice as many.
    pub m: usize,
    /// Beam width while inserting: larger builds slower and finds better neighbours.
    pub ef_construction: usize,
    /// Beam width of a search (raised to `k` when `k` is larger); 0 scales it with the graph (`auto_ef`).
    pub ef_search: usize,
    /// Seed of the level draws, so a build is repeatable.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self { m: 16, ef_construction: 100, ef_search: 0, seed: 0x5eed_1e7e }
    }
}

/// The beam width `ef_search: 0` stands for: 64 up to 160k live nodes, then one per 2,500 nodes, at most 512
/// (400 at a million). Larger graphs need wider beams for the same recall; measured on clustered synthetic data
/// (`benches/vectors.rs`), recall@10 at a million nodes was 0.90 with a beam of 128, 0.95 with 256, 0.96 with 400
/// and 0.97 with 512, at 1–3 ms a query.
pub fn auto_ef(live_nodes: usize) -> usize {
    (live_nodes / 2_500).clamp(64, 512)
}

/// Highest layer a node can reach; with m = 16 layer 15 would need about 16^15 nodes.
pub(crate) const MAX_LEVEL: u8 = 15;
/// `upper_at` of a node that lives only on the bottom layer.
pub(crate) const NO_UPPER: u32 = u32::MAX;
/// Number of writer locks shared by all nodes.
const LOCK_STRIPES: usize = 1_024;
/// Walk buffers kept for reuse by searches.
const POOLED_WALKS: usize = 8;

/// A node and its similarity to whatever is being searched for; greater means more similar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Near {
    pub(crate) score: f32,
    pub(crate) node: u32,
}

impl Eq for Near {}

impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then(other.node.cmp(&self.node))
    }
}

impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Buffers of one walk through the graph: which nodes it has seen (a mark per node, reset in O(1) by moving to a
/// new epoch) and the neighbour lists it is working on.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    marks: Vec<u32>,
    epoch: u32,
    links: Vec<u32>,
    fresh: Vec<u32>,
}

impl Walk {
    pub(crate) fn reset(&mut self, nodes: usize) {
        if self.marks.len() < nodes {
            self.marks.resize(nodes, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `node`; true if it was not marked yet. Out-of-range nodes count as seen.
    #[inline]
    fn first_visit(&mut self, node: u32) -> bool {
        match self.marks.get_mut(node as usize) {
            Some(mark) if *mark != self.epoch => {
                *mark = self.epoch;
                true
            }
            _ => false,
        }
    }
}

/// Reads one byte of every other cache line of each node's codes before any of them is scored, so their memory
/// loads overlap instead of each waiting for the last (the hardware fetches the neighbouring line with each): a
/// safe stand-in for prefetch instructions, which matters once the codes no longer fit in cache.
#[inline]
pub(crate) fn touch(vectors: &impl NodeVectors, nodes: &[u32]) {
    let mut sum = 0u8;
    for &node in nodes {
        for pair in vectors.code(node).codes.chunks(128) {
            sum = sum.wrapping_add(pair[0]);
        }
    }
    std::hint::black_box(sum);
}

/// The graph: per-node levels and link blocks, the entry point, and tombstones.
pub(crate) struct Hnsw {
    pub(crate) params: HnswParams,
    pub(crate) levels: Vec<u8>,
    /// `node * (2m + 1)`: count, then up to `2m` neighbours on layer 0.
    pub(crate) layer0: Vec<AtomicU32>,
    /// Where a node's upper-layer blocks start in `upper` (layer 1 first), or `NO_UPPER`.
    pub(crate) upper_at: Vec<u32>,
    /// Blocks of `m + 1`: count, then up to `m` neighbours.
    pub(crate) upper: Vec<AtomicU32>,
    pub(crate) entry: Option<u32>,
    pub(crate) max_level: u8,
    pub(crate) deleted: Vec<bool>,
    pub(crate) deleted_count: usize,
    pub(crate) rng: u64,
    locks: Vec<Mutex<()>>,
    walks: Mutex<Vec<Walk>>,
}

impl std::fmt::Debug for Hnsw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hnsw")
            .field("params", &self.params)
            .field("nodes", &self.len())
            .field("deleted", &self.deleted_count)
            .field("max_level", &self.max_level)
            .finish_non_exhaustive()
    }
}

impl Hnsw {
    /// An empty graph.
    pub(crate) fn new(params: HnswParams) -> Self {
        let params = HnswParams { m: params.m.clamp(2, 255), ef_construction: params.ef_construction.max(1), ..params };
        Self {
            params,
            levels: Vec::new(),
            layer0: Vec::new(),
            upper_at: Vec::new(),
            upper: Vec::new(),
            entry: None,
            max_level: 0,
            deleted: Vec::new(),
            deleted_count: 0,
            rng: params.seed,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            walks: Mutex::new(Vec::new()),
        }
    }

    /// Nodes in the graph, tombstones included.
    pub(crate) fn len(&self) -> usize {
        self.levels.len()
    }

    pub(crate) fn m0(&self) -> usize {
        self.params.m * 2
    }

    /// Bytes held by the graph (links, levels, tombstones, pooled walk buffers).
    pub(crate) fn memory_bytes(&self) -> usize {
        let pooled: usize = self.pool().iter().map(|walk| walk.marks.capacity() * 4).sum();
        (self.layer0.capacity() + self.upper.capacity() + self.upper_at.capacity()) * 4
            + self.levels.capacity()
            + self.deleted.capacity()
            + pooled
    }

    /// The link block of `node` on `level` (count first), empty if the node has no such layer.
    #[inline]
    fn block(&self, node: u32, level: u8) -> &[AtomicU32] {
        if level == 0 {
            let width = self.m0() + 1;
            self.layer0.get(node as usize * width..(node as usize + 1) * width).unwrap_or(&[])
        } else {
            let width = self.params.m + 1;
            let start = self.upper_at.get(node as usize).copied().unwrap_or(NO_UPPER);
            if start == NO_UPPER || level > self.levels.get(node as usize).copied().unwrap_or(0) {
                return &[];
            }
            let start = start as usize + (usize::from(level) - 1) * width;
            self.upper.get(start..start + width).unwrap_or(&[])
        }
    }

    /// Copies the neighbours of `node` on `level` into `out`.
    #[inline]
    pub(crate) fn neighbours(&self, node: u32, level: u8, out: &mut Vec<u32>) {
        out.clear();
        let block = self.block(node, level);
        let Some((count, links)) = block.split_first() else {
            return;
        };
        let count = (count.load(Memory::Acquire) as usize).min(links.len());
        out.extend(links[..count].iter().map(|link| link.load(Memory::Relaxed)));
    }

    /// Replaces the neighbours of `node` on `level` (caller holds the node's lock or `&mut self`).
    pub(crate) fn set_neighbours(&self, node: u32, level: u8, links: &[u32]) {
        let block = self.block(node, level);
        let Some((count, slots)) = block.split_first() else {
            return;
        };
        let written = links.len().min(slots.len());
        for (slot, link) in slots.iter().zip(&links[..written]) {
            slot.store(*link, Memory::Relaxed);
        }
        count.store(written as u32, Memory::Release);
    }

    /// Appends a node with `level` and empty link blocks.
    pub(crate) fn allocate(&mut self, level: u8) -> u32 {
        let node = self.levels.len() as u32;
        self.levels.push(level);
        self.deleted.push(false);
        self.layer0.extend((0..=self.m0()).map(|_| AtomicU32::new(0)));
        if level == 0 {
            self.upper_at.push(NO_UPPER);
        } else {
            self.upper_at.push(self.upper.len() as u32);
            self.upper.extend((0..usize::from(level) * (self.params.m + 1)).map(|_| AtomicU32::new(0)));
        }
        node
    }

    /// The writer lock of `node`'s link blocks.
    pub(crate) fn lock(&self, node: u32) -> MutexGuard<'_, ()> {
        self.locks[node as usize % LOCK_STRIPES].lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pool(&self) -> MutexGuard<'_, Vec<Walk>> {
        self.walks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn take_walk(&self) -> Walk {
        self.pool().pop().unwrap_or_default()
    }

    pub(crate) fn return_walk(&self, walk: Walk) {
        let mut pool = self.pool();
        if pool.len() < POOLED_WALKS {
            pool.push(walk);
        }
    }

    /// Marks `node` removed: searches still route through it but never return it. True if it was live.
    pub(crate) fn mark_deleted(&mut self, node: u32) -> bool {
        match self.deleted.get_mut(node as usize) {
            Some(deleted) if !*deleted => {
                *deleted = true;
                self.deleted_count += 1;
                true
            }
            _ => false,
        }
    }

    /// Hill-climbs on one layer from `best` to a local optimum.
    pub(crate) fn greedy(
        &self,
        vectors: &impl NodeVectors,
        query: &Probe,
        mut best: Near,
        level: u8,
        walk: &mut Walk,
    ) -> Near {
        loop {
            let mut moved = false;
            self.neighbours(best.node, level, &mut walk.links);
            touch(vectors, &walk.links);
            for &next in &walk.links {
                let code = vectors.code(next);
                let score = query.score(code.codes, code.scale);
                if score > best.score {
                    best = Near { score, node: next };
                    moved = true;
                }
            }
            if !moved {
                return best;
            }
        }
    }

    /// Beam search on one layer (`walk` must be reset). Every reachable node may be traversed; only those `keep`
    /// accepts are returned (at most `ef`, in no particular order).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn search_layer(
        &self,
        vectors: &impl NodeVectors,
        query: &Probe,
        entries: &[Near],
        ef: usize,
        level: u8,
        walk: &mut Walk,
        keep: &impl Fn(u32) -> bool,
    ) -> BinaryHeap<Reverse<Near>> {
        let mut candidates: BinaryHeap<Near> = BinaryHeap::with_capacity(ef.min(4_096) * 2);
        let mut results: BinaryHeap<Reverse<Near>> = BinaryHeap::with_capacity(ef.min(4_096) + 1);
        for &entry in entries {
            if walk.first_visit(entry.node) {
                candidates.push(entry);
                if keep(entry.node) {
                    results.push(Reverse(entry));
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
        while let Some(current) = candidates.pop() {
            let floor = if results.len() >= ef { results.peek().map(|worst| worst.0.score) } else { None };
            if floor.is_some_and(|floor| current.score < floor) {
                break;
            }
            self.neighbours(current.node, level, &mut walk.links);
            walk.fresh.clear();
            for index in 0..walk.links.len() {
                let next = walk.links[index];
                if walk.first_visit(next) {
                    walk.fresh.push(next);
                }
            }
            touch(vectors, &walk.fresh);
            for &next in &walk.fresh {
                let code = vectors.code(next);
                let score = query.score(code.codes, code.scale);
                let floor = if results.len() >= ef { results.peek().map(|worst| worst.0.score) } else { None };
                if floor.is_some_and(|floor| score <= floor) {
                    continue;
                }
                let near = Near { score, node: next };
                candidates.push(near);
                if keep(next) {
                    results.push(Reverse(near));
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
        results
    }

    /// Up to `ef` live nodes accepted by `accept`, most similar first by code score, found with a beam of width
    /// `ef`; the caller re-ranks them with exact scores and keeps its `k`.
    pub(crate) fn search(
        &self,
        vectors: &impl NodeVectors,
        query: &Probe,
        ef: usize,
        accept: &impl Fn(u32) -> bool,
    ) -> Vec<Near> {
        let Some(entry) = self.entry else {
            return Vec::new();
        };
        if ef == 0 {
            return Vec::new();
        }
        let mut walk = self.take_walk();
        let code = vectors.code(entry);
        let mut best = Near { score: query.score(code.codes, code.scale), node: entry };
        for layer in (1..=self.max_level).rev() {
            best = self.greedy(vectors, query, best, layer, &mut walk);
        }
        walk.reset(self.len());
        let keep = |node: u32| !self.deleted.get(node as usize).copied().unwrap_or(true) && accept(node);
        let found = self.search_layer(vectors, query, &[best], ef, 0, &mut walk, &keep);
        self.return_walk(walk);
        found.into_sorted_vec().into_iter().map(|Reverse(near)| near).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::vector::distance::dot;
    use crate::vector::quant::quantize_into;
    use crate::vector::synthetic::{Shape, points, queries_near};

    pub(crate) const DIM: usize = 16;

    /// Rows with their codes, as the graph reads them.
    pub(crate) struct Flat {
        rows: Vec<f32>,
        codes: Vec<u8>,
        scales: Vec<f32>,
    }

    impl Flat {
        fn new(rows: Vec<f32>) -> Self {
            let mut codes = vec![0u8; rows.len()];
            let scales = rows
                .chunks_exact(DIM)
                .zip(codes.chunks_exact_mut(DIM))
                .map(|(row, code)| quantize_into(row, code).0)
                .collect();
            Self { rows, codes, scales }
        }

        fn row(&self, node: u32) -> &[f32] {
            &self.rows[node as usize * DIM..][..DIM]
        }
    }

    impl NodeVectors for Flat {
        fn code(&self, node: u32) -> Code<'_> {
            Code { codes: &self.codes[node as usize * DIM..][..DIM], scale: self.scales[node as usize] }
        }
    }

    pub(crate) fn params() -> HnswParams {
        HnswParams { m: 8, ef_construction: 40, ef_search: 40, seed: 7 }
    }

    /// `n` clustered rows and 50 queries near them.
    pub(crate) fn data(n: usize) -> (Flat, Vec<f32>) {
        let flat = Flat::new(points(n, DIM, Shape::CLUSTERED, 11, 2));
        let queries = queries_near(&flat.rows, DIM, 50, Shape::CLUSTERED, 12);
        (flat, queries)
    }

    pub(crate) fn exact(flat: &Flat, query: &[f32], k: usize, accept: impl Fn(u32) -> bool) -> Vec<u32> {
        let mut all: Vec<Near> = (0..(flat.rows.len() / DIM) as u32)
            .filter(|&node| accept(node))
            .map(|node| Near { score: dot(query, flat.row(node)), node })
            .collect();
        all.sort_unstable_by(|a, b| b.cmp(a));
        all.into_iter().take(k).map(|near| near.node).collect()
    }

    /// What the index does: walk the graph on codes, re-rank the beam with f32 scores, keep `k`.
    pub(crate) fn search(
        graph: &Hnsw,
        flat: &Flat,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: &impl Fn(u32) -> bool,
    ) -> Vec<u32> {
        let mut codes = vec![0u8; DIM];
        let (scale, _) = quantize_into(query, &mut codes);
        let found = graph.search(flat, &Probe::of(&codes, scale), ef.max(k), accept);
        assert!(found.windows(2).all(|pair| pair[0].score >= pair[1].score), "beam comes back best first");
        let mut exact: Vec<Near> =
            found.iter().map(|near| Near { score: dot(query, flat.row(near.node)), node: near.node }).collect();
        exact.sort_unstable_by(|a, b| b.cmp(a));
        exact.into_iter().take(k).map(|near| near.node).collect()
    }

    /// Mean share of the exact top 10 (among live accepted nodes) that the graph returns, over `queries`.
    pub(crate) fn recall(graph: &Hnsw, flat: &Flat, queries: &[f32], accept: impl Fn(u32) -> bool) -> f64 {
        let mut found = 0usize;
        let mut wanted = 0usize;
        for query in queries.chunks_exact(DIM) {
            let truth = exact(flat, query, 10, |node| !graph.deleted[node as usize] && accept(node));
            let hits = search(graph, flat, query, 10, graph.params.ef_search, &accept);
            found += hits.iter().filter(|node| truth.contains(node)).count();
            wanted += truth.len();
        }
        found as f64 / wanted.max(1) as f64
    }

    #[test]
    fn filtered_search_returns_only_accepted_nodes() {
        let (flat, queries) = data(1_000);
        let graph = Hnsw::build(params(), 1_000, &flat, 2);
        for query in queries.chunks_exact(DIM).take(10) {
            let hits = search(&graph, &flat, query, 10, 48, &|node| node % 100 == 0);
            assert_eq!(hits.len(), 10);
            assert!(hits.iter().all(|node| node % 100 == 0));
            assert!(search(&graph, &flat, query, 10, 48, &|_| false).is_empty());
        }
    }

    #[test]
    fn tombstones_are_never_returned_and_recall_holds_over_the_live_nodes() {
        let (flat, queries) = data(1_600);
        let mut graph = Hnsw::build(params(), 1_600, &flat, 2);
        for node in (0..1_600).filter(|node| node % 4 == 1) {
            assert!(graph.mark_deleted(node));
        }
        assert!(!graph.mark_deleted(1), "already a tombstone");
        assert!(!graph.mark_deleted(1_600), "no such node");
        assert_eq!(graph.deleted_count, 400);
        for query in queries.chunks_exact(DIM).take(20) {
            let hits = search(&graph, &flat, query, 50, 64, &|_| true);
            assert_eq!(hits.len(), 50);
            assert!(hits.iter().all(|node| node % 4 != 1));
        }
        let live = recall(&graph, &flat, &queries, |_| true);
        assert!(live >= 0.95, "recall@10 over live nodes {live}");
    }

    #[test]
    fn tiny_graphs_answer_sensibly() {
        let (flat, queries) = data(3);
        let query = &queries[..DIM];
        assert!(search(&Hnsw::new(params()), &flat, query, 5, 10, &|_| true).is_empty());
        let one = Hnsw::build(params(), 1, &flat, 2);
        assert_eq!(search(&one, &flat, query, 5, 10, &|_| true).len(), 1);
        let three = Hnsw::build(params(), 3, &flat, 2);
        assert_eq!(search(&three, &flat, query, 5, 10, &|_| true), exact(&flat, query, 5, |_| true));
        assert!(three.search(&flat, &Probe::of(&[128; DIM], 0.0), 0, &|_| true).is_empty());
    }
}
