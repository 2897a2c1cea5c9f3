//! Inserting into the HNSW graph: one node at a time (`add`, as rows arrive) or all at once on several threads
//! (`build`), with the neighbour-selection heuristic of the paper.
//!
//! A parallel build draws every node's level first and inserts the highest node first, so the entry point never
//! changes while threads insert; each thread claims nodes in small chunks from a shared counter and holds a node's
//! striped lock only while rewriting that node's links.

use std::cmp::Reverse;
use std::sync::atomic::{AtomicUsize, Ordering as Memory};

use super::hnsw::{Hnsw, HnswParams, MAX_LEVEL, Near, NodeVectors, Walk, touch};
use super::quant::Probe;

/// Nodes inserted on one thread before a parallel build fans out, so early inserts see a real graph.
const SEQUENTIAL_PREFIX: usize = 2_048;
/// Nodes a build thread claims at a time.
const BUILD_CHUNK: usize = 64;

/// Buffers one inserting thread reuses from node to node.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    walk: Walk,
    /// The node being inserted, widened once.
    probe: Probe,
    /// The node whose links are being re-selected.
    base: Probe,
    /// Neighbours kept so far by `select`, widened.
    kept: Vec<Probe>,
    chosen: Vec<u32>,
    links: Vec<u32>,
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
    /// Draws a level: P(level ≥ l) = m^-l.
    fn draw_level(&mut self) -> u8 {
        let unit = ((next_random(&mut self.rng) >> 11) + 1) as f64 / (1u64 << 53) as f64;
        let level = -unit.ln() / (self.params.m as f64).ln();
        (level as u64).min(u64::from(MAX_LEVEL)) as u8
    }

    /// The heuristic of the paper (algorithm 4): walking candidates from the closest, keep one only if it is
    /// closer to the base than to every neighbour kept so far, so links spread in different directions.
    fn select(vectors: &impl NodeVectors, sorted: &[Near], m: usize, kept: &mut Vec<Probe>, out: &mut Vec<u32>) {
        out.clear();
        for candidate in sorted {
            if out.len() >= m {
                break;
            }
            let code = vectors.code(candidate.node);
            if kept[..out.len()].iter().all(|other| other.score(code.codes, code.scale) < candidate.score) {
                if kept.len() <= out.len() {
                    kept.push(Probe::default());
                }
                kept[out.len()].set(code.codes, code.scale);
                out.push(candidate.node);
            }
        }
    }

    /// Adds `new` to the links of `node` on `level`, re-selecting them with the heuristic if the block is full.
    fn link_back(&self, vectors: &impl NodeVectors, node: u32, new: u32, level: u8, scratch: &mut Scratch) {
        let capacity = if level == 0 { self.m0() } else { self.params.m };
        let _guard = self.lock(node);
        let links = &mut scratch.links;
        self.neighbours(node, level, links);
        if links.contains(&new) || node == new {
            return;
        }
        if links.len() < capacity {
            links.push(new);
            self.set_neighbours(node, level, links);
            return;
        }
        links.push(new);
        touch(vectors, links);
        let base = vectors.code(node);
        scratch.base.set(base.codes, base.scale);
        let mut candidates: Vec<Near> = links
            .iter()
            .map(|&other| {
                let code = vectors.code(other);
                Near { score: scratch.base.score(code.codes, code.scale), node: other }
            })
            .collect();
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        Self::select(vectors, &candidates, capacity, &mut scratch.kept, &mut scratch.chosen);
        self.set_neighbours(node, level, &scratch.chosen);
    }

    /// Links an allocated `node` into the graph entered at `entry` (whose top layer is `top`).
    fn insert(&self, vectors: &impl NodeVectors, node: u32, entry: u32, top: u8, scratch: &mut Scratch) {
        if node == entry {
            return;
        }
        let level = self.levels[node as usize];
        let code = vectors.code(node);
        scratch.probe.set(code.codes, code.scale);
        let entry_code = vectors.code(entry);
        let mut best = Near { score: scratch.probe.score(entry_code.codes, entry_code.scale), node: entry };
        for layer in (level.saturating_add(1)..=top).rev() {
            best = self.greedy(vectors, &scratch.probe, best, layer, &mut scratch.walk);
        }
        let mut entries = vec![best];
        let mut chosen = Vec::with_capacity(self.params.m);
        for layer in (0..=level.min(top)).rev() {
            scratch.walk.reset(self.len());
            let ef = self.params.ef_construction;
            let found = self
                .search_layer(vectors, &scratch.probe, &entries, ef, layer, &mut scratch.walk, &|other| other != node);
            entries = found.into_sorted_vec().into_iter().map(|Reverse(near)| near).collect();
            Self::select(vectors, &entries, self.params.m, &mut scratch.kept, &mut chosen);
            {
                let _guard = self.lock(node);
                self.set_neighbours(node, layer, &chosen);
            }
            for &neighbour in &chosen {
                self.link_back(vectors, neighbour, node, layer, scratch);
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
        let mut scratch = Scratch::default();
        for &node in &order[..prefix] {
            graph.insert(vectors, node, entry, top, &mut scratch);
        }
        let rest = &order[prefix..];
        let cursor = AtomicUsize::new(0);
        let graph_ref = &graph;
        let work = |scratch: &mut Scratch| {
            loop {
                let start = cursor.fetch_add(BUILD_CHUNK, Memory::Relaxed);
                if start >= rest.len() {
                    break;
                }
                for &node in &rest[start..(start + BUILD_CHUNK).min(rest.len())] {
                    graph_ref.insert(vectors, node, entry, top, scratch);
                }
            }
        };
        std::thread::scope(|scope| {
            for _ in 1..threads.max(1) {
                scope.spawn(|| work(&mut Scratch::default()));
            }
            work(&mut scratch);
        });
        graph
    }

    /// Adds node `self.len()` (its codes must already be readable through `vectors`) and links it in.
    pub(crate) fn add(&mut self, vectors: &impl NodeVectors) -> u32 {
        let level = self.draw_level();
        let node = self.allocate(level);
        match self.entry {
            None => {
                self.entry = Some(node);
                self.max_level = level;
            }
            Some(entry) => {
                let mut scratch = Scratch { walk: self.take_walk(), ..Scratch::default() };
                self.insert(vectors, node, entry, self.max_level, &mut scratch);
                self.return_walk(scratch.walk);
                if level > self.max_level {
                    self.entry = Some(node);
                    self.max_level = level;
                }
            }
        }
        node
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::hnsw::tests::{data, params, recall};

    #[test]
    fn parallel_build_finds_the_true_neighbours() {
        let (flat, queries) = data(2_500);
        let graph = Hnsw::build(params(), 2_500, &flat, 2);
        let plain = recall(&graph, &flat, &queries, |_| true);
        assert!(plain >= 0.95, "recall@10 {plain}");
        let tenth = recall(&graph, &flat, &queries, |node| node % 10 == 3);
        assert!(tenth >= 0.95, "recall@10 with a 10% filter {tenth}");
    }

    #[test]
    fn incremental_inserts_build_an_equally_good_graph() {
        let (flat, queries) = data(1_500);
        let mut graph = Hnsw::new(params());
        for node in 0..1_500 {
            assert_eq!(graph.add(&flat), node);
        }
        let plain = recall(&graph, &flat, &queries, |_| true);
        assert!(plain >= 0.95, "recall@10 {plain}");
    }

    #[test]
    fn levels_thin_out_geometrically() {
        let mut graph = Hnsw::new(HnswParams { m: 16, ..params() });
        let levels: Vec<u8> = (0..20_000).map(|_| graph.draw_level()).collect();
        let above = |level: u8| levels.iter().filter(|&&l| l >= level).count();
        assert!((1_000..1_500).contains(&above(1)), "{} nodes reach layer 1", above(1));
        assert!((40..120).contains(&above(2)), "{} nodes reach layer 2", above(2));
    }
}
