//! Our own HNSW graph (Malkov & Yashunin, 2016): layered proximity graphs searched top-down, greedy on the sparse
//! upper layers and with a beam of width `ef` on the dense bottom layer.
//!
//! The graph holds only links; it reads vectors through `NodeVectors`, so the index can keep one copy of them (its
//! `VectorSet`) and still route through removed nodes, which stay in the graph as tombstones until a rebuild.
//! Building and walking the graph compare `i8` codes (`quant`), a quarter of the memory traffic of `f32` rows;
//! the index re-ranks the final candidates with `f32` scores.
//! Links live in flat arrays of `AtomicU32` (a count, then the neighbours), one block per node and layer: searches
//! read them without locks, and a bulk build inserts on several threads at once, each writer holding a striped
//! lock of the node whose list it rewrites. Relaxed reads during a build may see a list mid-rewrite; every value
//! in it is still a valid node, so the worst case is a slightly worse neighbour choice, never a wrong answer.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering as Memory};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::quant::dot_codes;

/// How a graph finds the vector of a node: its `i8` codes and their scale.
pub(crate) trait NodeVectors: Sync {
    fn code(&self, node: u32) -> Code<'_>;
}

/// A vector as codes and the scale that turns them back into components.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Code<'a> {
    pub(crate) codes: &'a [i8],
    pub(crate) scale: f32,
}

impl Code<'_> {
    /// Approximate dot product of the two vectors.
    #[inline]
    pub(crate) fn score(self, other: Code<'_>) -> f32 {
        self.scale * other.scale * dot_codes(self.codes, other.codes) as f32
    }
}

/// Shape and effort of an HNSW graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node on the upper layers; the bottom layer keeps twice as many.
    pub m: usize,
    /// Beam width while inserting: larger builds slower and finds better neighbours.
    pub ef_construction: usize,
    /// Default beam width of a search (raised to `k` when `k` is larger).
    pub ef_search: usize,
    /// Seed of the level draws, so a build is repeatable.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self { m: 16, ef_construction: 128, ef_search: 64, seed: 0x5eed_1e7e }
    }
}

/// Highest layer a node can reach; with m = 16 layer 15 would need about 16^15 nodes.
pub(crate) const MAX_LEVEL: u8 = 15;
/// `upper_at` of a node that lives only on the bottom layer.
const NO_UPPER: u32 = u32::MAX;
/// Number of writer locks shared by all nodes.
const LOCK_STRIPES: usize = 1_024;
/// Nodes inserted on one thread before a parallel build fans out, so early inserts see a real graph.
const SEQUENTIAL_PREFIX: usize = 2_048;
/// Nodes a build thread claims at a time.
const BUILD_CHUNK: usize = 64;
/// Visited lists kept for reuse by searches.
const POOLED_VISITED: usize = 8;

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

/// Which nodes a search has already seen: a mark per node, reset in O(1) by moving to a new epoch.
#[derive(Debug, Default)]
pub(crate) struct Visited {
    marks: Vec<u32>,
    epoch: u32,
}

impl Visited {
    fn reset(&mut self, nodes: usize) {
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
    visited_pool: Mutex<Vec<Visited>>,
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

/// SplitMix64 step: the level draws need a few random bits, not a crate.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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
            visited_pool: Mutex::new(Vec::new()),
        }
    }

    /// Nodes in the graph, tombstones included.
    pub(crate) fn len(&self) -> usize {
        self.levels.len()
    }

    pub(crate) fn m0(&self) -> usize {
        self.params.m * 2
    }

    /// Bytes held by the graph (links, levels, tombstones, pooled visited lists).
    pub(crate) fn memory_bytes(&self) -> usize {
        let pooled: usize = self.pool().iter().map(|visited| visited.marks.capacity() * 4).sum();
        (self.layer0.capacity() + self.upper.capacity() + self.upper_at.capacity()) * 4
            + self.levels.capacity()
            + self.deleted.capacity()
            + pooled
    }

    /// Draws a level: P(level ≥ l) = m^-l.
    fn draw_level(&mut self) -> u8 {
        let unit = ((next_random(&mut self.rng) >> 11) + 1) as f64 / (1u64 << 53) as f64;
        let level = -unit.ln() / (self.params.m as f64).ln();
        (level as u64).min(u64::from(MAX_LEVEL)) as u8
    }

    /// Appends a node with `level` and empty link blocks.
    fn allocate(&mut self, level: u8) -> u32 {
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

    /// The link block of `node` on `level` (count first).
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
    fn set_neighbours(&self, node: u32, level: u8, links: &[u32]) {
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

    fn lock(&self, node: u32) -> MutexGuard<'_, ()> {
        self.locks[node as usize % LOCK_STRIPES].lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pool(&self) -> MutexGuard<'_, Vec<Visited>> {
        self.visited_pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take_visited(&self) -> Visited {
        self.pool().pop().unwrap_or_default()
    }

    fn return_visited(&self, visited: Visited) {
        let mut pool = self.pool();
        if pool.len() < POOLED_VISITED {
            pool.push(visited);
        }
    }

    /// Hill-climbs on one layer from `best` to a local optimum.
    fn greedy(
        &self,
        vectors: &impl NodeVectors,
        query: Code<'_>,
        mut best: Near,
        level: u8,
        links: &mut Vec<u32>,
    ) -> Near {
        loop {
            let mut moved = false;
            self.neighbours(best.node, level, links);
            for &next in links.iter() {
                let score = query.score(vectors.code(next));
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

    /// Beam search on one layer. Every reachable node may be traversed; only those `keep` accepts are returned
    /// (at most `ef`, in no particular order).
    #[allow(clippy::too_many_arguments)]
    fn search_layer(
        &self,
        vectors: &impl NodeVectors,
        query: Code<'_>,
        entries: &[Near],
        ef: usize,
        level: u8,
        visited: &mut Visited,
        keep: &impl Fn(u32) -> bool,
    ) -> BinaryHeap<Reverse<Near>> {
        let mut candidates: BinaryHeap<Near> = BinaryHeap::with_capacity(ef * 2);
        let mut results: BinaryHeap<Reverse<Near>> = BinaryHeap::with_capacity(ef + 1);
        for &entry in entries {
            if visited.first_visit(entry.node) {
                candidates.push(entry);
                if keep(entry.node) {
                    results.push(Reverse(entry));
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
        let mut links = Vec::with_capacity(self.m0());
        while let Some(current) = candidates.pop() {
            let floor = if results.len() >= ef { results.peek().map(|worst| worst.0.score) } else { None };
            if floor.is_some_and(|floor| current.score < floor) {
                break;
            }
            self.neighbours(current.node, level, &mut links);
            for &next in &links {
                if !visited.first_visit(next) {
                    continue;
                }
                let score = query.score(vectors.code(next));
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

    /// The heuristic of the paper (algorithm 4): walking candidates from the closest, keep one only if it is
    /// closer to the base than to every neighbour kept so far, so links spread in different directions.
    fn select(&self, vectors: &impl NodeVectors, sorted: &[Near], m: usize, out: &mut Vec<u32>) {
        out.clear();
        let mut kept: Vec<Code<'_>> = Vec::with_capacity(m);
        for candidate in sorted {
            if out.len() >= m {
                break;
            }
            let code = vectors.code(candidate.node);
            if kept.iter().all(|other| code.score(*other) < candidate.score) {
                kept.push(code);
                out.push(candidate.node);
            }
        }
    }

    /// Adds `new` to the links of `node` on `level`, re-selecting them with the heuristic if the block is full.
    fn link_back(&self, vectors: &impl NodeVectors, node: u32, new: u32, level: u8, links: &mut Vec<u32>) {
        let capacity = if level == 0 { self.m0() } else { self.params.m };
        let _guard = self.lock(node);
        self.neighbours(node, level, links);
        if links.contains(&new) || node == new {
            return;
        }
        if links.len() < capacity {
            links.push(new);
            self.set_neighbours(node, level, links);
            return;
        }
        let base = vectors.code(node);
        let mut candidates: Vec<Near> = links
            .iter()
            .chain(std::iter::once(&new))
            .map(|&other| Near { score: base.score(vectors.code(other)), node: other })
            .collect();
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        let mut chosen = Vec::with_capacity(capacity);
        self.select(vectors, &candidates, capacity, &mut chosen);
        self.set_neighbours(node, level, &chosen);
    }

    /// Links an allocated `node` into the graph entered at `entry` (whose top layer is `top`).
    fn insert(&self, vectors: &impl NodeVectors, node: u32, entry: u32, top: u8, visited: &mut Visited) {
        if node == entry {
            return;
        }
        let level = self.levels[node as usize];
        let query = vectors.code(node);
        let mut links = Vec::with_capacity(self.m0() + 1);
        let mut best = Near { score: query.score(vectors.code(entry)), node: entry };
        for layer in (level.saturating_add(1)..=top).rev() {
            best = self.greedy(vectors, query, best, layer, &mut links);
        }
        let mut entries = vec![best];
        let mut chosen = Vec::with_capacity(self.m0());
        for layer in (0..=level.min(top)).rev() {
            visited.reset(self.len());
            let found =
                self.search_layer(vectors, query, &entries, self.params.ef_construction, layer, visited, &|other| {
                    other != node
                });
            entries = found.into_sorted_vec().into_iter().map(|Reverse(near)| near).collect();
            self.select(vectors, &entries, self.params.m, &mut chosen);
            {
                let _guard = self.lock(node);
                self.set_neighbours(node, layer, &chosen);
            }
            for &neighbour in &chosen {
                self.link_back(vectors, neighbour, node, layer, &mut links);
            }
        }
    }

    /// Builds a graph over nodes `0..nodes` on `threads` threads.
    pub(crate) fn build(params: HnswParams, nodes: usize, vectors: &impl NodeVectors, threads: usize) -> Self {
        let mut graph = Self::new(params);
        for _ in 0..nodes {
            let level = graph.draw_level();
            graph.allocate(level);
        }
        // The node with the highest level enters first, so the entry point never changes during the build and
        // parallel inserts need no lock around it.
        let Some(entry) = (0..nodes as u32).max_by_key(|&node| (graph.levels[node as usize], Reverse(node))) else {
            return graph;
        };
        let top = graph.levels[entry as usize];
        graph.entry = Some(entry);
        graph.max_level = top;
        let order: Vec<u32> = (0..nodes as u32).filter(|&node| node != entry).collect();
        let prefix = order.len().min(SEQUENTIAL_PREFIX);
        let mut visited = Visited::default();
        for &node in &order[..prefix] {
            graph.insert(vectors, node, entry, top, &mut visited);
        }
        let rest = &order[prefix..];
        let cursor = AtomicUsize::new(0);
        let work = |visited: &mut Visited| {
            loop {
                let start = cursor.fetch_add(BUILD_CHUNK, Memory::Relaxed);
                if start >= rest.len() {
                    break;
                }
                for &node in &rest[start..(start + BUILD_CHUNK).min(rest.len())] {
                    graph.insert(vectors, node, entry, top, visited);
                }
            }
        };
        std::thread::scope(|scope| {
            for _ in 1..threads.max(1) {
                scope.spawn(|| work(&mut Visited::default()));
            }
            work(&mut visited);
        });
        graph
    }

    /// Adds node `self.len()` (its vector must already be readable through `vectors`) and links it in.
    pub(crate) fn add(&mut self, vectors: &impl NodeVectors) -> u32 {
        let level = self.draw_level();
        let node = self.allocate(level);
        match self.entry {
            None => {
                self.entry = Some(node);
                self.max_level = level;
            }
            Some(entry) => {
                let mut visited = self.take_visited();
                self.insert(vectors, node, entry, self.max_level, &mut visited);
                self.return_visited(visited);
                if level > self.max_level {
                    self.entry = Some(node);
                    self.max_level = level;
                }
            }
        }
        node
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

    /// Up to `ef` live nodes accepted by `accept`, most similar first by code score, found with a beam of width
    /// `ef`; the caller re-ranks them with exact scores and keeps its `k`.
    pub(crate) fn search(
        &self,
        vectors: &impl NodeVectors,
        query: Code<'_>,
        ef: usize,
        accept: &impl Fn(u32) -> bool,
    ) -> Vec<Near> {
        let Some(entry) = self.entry else {
            return Vec::new();
        };
        if ef == 0 {
            return Vec::new();
        }
        let mut links = Vec::with_capacity(self.m0());
        let mut best = Near { score: query.score(vectors.code(entry)), node: entry };
        for layer in (1..=self.max_level).rev() {
            best = self.greedy(vectors, query, best, layer, &mut links);
        }
        let mut visited = self.take_visited();
        visited.reset(self.len());
        let keep = |node: u32| !self.deleted.get(node as usize).copied().unwrap_or(true) && accept(node);
        let found = self.search_layer(vectors, query, &[best], ef, 0, &mut visited, &keep);
        self.return_visited(visited);
        found.into_sorted_vec().into_iter().map(|Reverse(near)| near).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::distance::dot;
    use crate::vector::quant::quantize_into;
    use crate::vector::synthetic::{Shape, points, queries_near};

    const DIM: usize = 32;

    /// Rows with their codes, as the graph reads them.
    struct Flat {
        rows: Vec<f32>,
        codes: Vec<i8>,
        scales: Vec<f32>,
    }

    impl Flat {
        fn new(rows: Vec<f32>) -> Self {
            let mut codes = vec![0i8; rows.len()];
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

    fn params() -> HnswParams {
        HnswParams { m: 12, ef_construction: 64, ef_search: 48, seed: 7 }
    }

    fn exact(flat: &Flat, query: &[f32], k: usize, accept: impl Fn(u32) -> bool) -> Vec<u32> {
        let mut all: Vec<Near> = (0..(flat.rows.len() / DIM) as u32)
            .filter(|&node| accept(node))
            .map(|node| Near { score: dot(query, flat.row(node)), node })
            .collect();
        all.sort_unstable_by(|a, b| b.cmp(a));
        all.into_iter().take(k).map(|near| near.node).collect()
    }

    /// What the index does: walk the graph on codes, re-rank the beam with f32 scores, keep `k`.
    fn search(
        graph: &Hnsw,
        flat: &Flat,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: &impl Fn(u32) -> bool,
    ) -> Vec<u32> {
        let mut codes = vec![0i8; DIM];
        let (scale, _) = quantize_into(query, &mut codes);
        let found = graph.search(flat, Code { codes: &codes, scale }, ef.max(k), accept);
        assert!(found.windows(2).all(|pair| pair[0].score >= pair[1].score), "beam comes back best first");
        let mut exact: Vec<Near> =
            found.iter().map(|near| Near { score: dot(query, flat.row(near.node)), node: near.node }).collect();
        exact.sort_unstable_by(|a, b| b.cmp(a));
        exact.into_iter().take(k).map(|near| near.node).collect()
    }

    /// Mean share of the exact top 10 that the graph returns, over `queries`.
    fn recall(graph: &Hnsw, flat: &Flat, queries: &[f32], accept: impl Fn(u32) -> bool) -> f64 {
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

    fn data(n: usize) -> (Flat, Vec<f32>) {
        let flat = Flat::new(points(n, DIM, Shape::CLUSTERED, 11, 2));
        let queries = queries_near(&flat.rows, DIM, 100, Shape::CLUSTERED, 12);
        (flat, queries)
    }

    #[test]
    fn parallel_build_finds_the_true_neighbours() {
        let (flat, queries) = data(6_000);
        let graph = Hnsw::build(params(), 6_000, &flat, 2);
        let plain = recall(&graph, &flat, &queries, |_| true);
        assert!(plain >= 0.95, "recall@10 {plain}");
        let tenth = recall(&graph, &flat, &queries, |node| node % 10 == 3);
        assert!(tenth >= 0.95, "recall@10 with a 10% filter {tenth}");
    }

    #[test]
    fn incremental_inserts_build_an_equally_good_graph() {
        let (flat, queries) = data(3_000);
        let mut graph = Hnsw::new(params());
        for node in 0..3_000 {
            assert_eq!(graph.add(&flat), node);
        }
        let plain = recall(&graph, &flat, &queries, |_| true);
        assert!(plain >= 0.95, "recall@10 {plain}");
    }

    #[test]
    fn filtered_search_returns_only_accepted_nodes() {
        let (flat, queries) = data(2_000);
        let graph = Hnsw::build(params(), 2_000, &flat, 2);
        for query in queries.chunks_exact(DIM).take(20) {
            let hits = search(&graph, &flat, query, 10, 48, &|node| node % 100 == 0);
            assert_eq!(hits.len(), 10);
            assert!(hits.iter().all(|node| node % 100 == 0));
            assert!(search(&graph, &flat, query, 10, 48, &|_| false).is_empty());
        }
    }

    #[test]
    fn tombstones_are_never_returned_and_recall_holds_over_the_live_nodes() {
        let (flat, queries) = data(4_000);
        let mut graph = Hnsw::build(params(), 4_000, &flat, 2);
        for node in (0..4_000).filter(|node| node % 4 == 1) {
            assert!(graph.mark_deleted(node));
        }
        assert!(!graph.mark_deleted(1), "already a tombstone");
        assert!(!graph.mark_deleted(4_000), "no such node");
        assert_eq!(graph.deleted_count, 1_000);
        for query in queries.chunks_exact(DIM) {
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
        let mut codes = vec![0i8; DIM];
        let (scale, _) = quantize_into(query, &mut codes);
        assert!(three.search(&flat, Code { codes: &codes, scale }, 0, &|_| true).is_empty());
    }
}
