//! The exact answers the store's vector search is compared with, and the vector index on its own.
//!
//! After the store of one size is closed, the same rows are regenerated into an `engram_core::vector::VectorIndex`
//! that never builds a graph, whose exact scan (on the store's default scan threads) gives the true top 10 of every
//! query, with and without the tag filter. Above the store's ANN threshold the graph is then built on that index
//! with the store's default settings (timed: this is the HNSW build inside the store's index load), and the graph
//! search is timed on its own, so the store's vector latency can be split into index work and the rest.

use std::collections::HashSet;
use std::time::Instant;

use engram_core::id::PassageId;
use engram_core::vector::{IndexConfig, SearchPath, VectorIndex};

use crate::corpus::{Corpus, Query};
use crate::measure::{Latencies, Progress};

/// Top-k of one query: row numbers, best first.
pub type Truth = Vec<Vec<i64>>;

/// What the in-bench index measured for one size.
pub struct IndexFigures {
    pub truth: Truth,
    pub truth_filtered: Truth,
    /// Exact scan alone (unfiltered, filtered).
    pub exact: (Latencies, Latencies),
    /// Above the threshold: graph build seconds, graph search alone (unfiltered; filtered on the `Auto` path as
    /// the store runs it), and the graph's own recall@k unfiltered.
    pub graph: Option<GraphFigures>,
}

pub struct GraphFigures {
    pub build_seconds: f64,
    pub search: Latencies,
    pub search_filtered: Latencies,
    pub recall: f64,
}

/// Builds the exact index of `rows` rows, answers `queries` exactly (the filter keeps rows of tag `tag`), and times
/// the graph when `rows` is above the store's threshold.
pub fn measure(corpus: &Corpus, rows: usize, queries: &[Query], k: usize, tag: usize) -> anyhow::Result<IndexFigures> {
    let defaults = IndexConfig::default();
    let config = IndexConfig { ann_threshold: usize::MAX, ..defaults.clone() };
    let mut index: VectorIndex<u8> = VectorIndex::new(corpus.dim(), config);
    let mut progress = Progress::new(format!("{rows}: regenerating vectors for the exact answers"), rows);
    const CHUNK: usize = 10_000;
    for start in (0..rows).step_by(CHUNK) {
        let end = (start + CHUNK).min(rows);
        let chunk: Vec<(i64, Vec<f32>, u8)> =
            (start..end).map(|row| (row as i64, corpus.vector(row), corpus.tag(row) as u8)).collect();
        index.extend(chunk)?;
        progress.update(end);
    }
    let tag = tag as u8;
    let mut exact = (Latencies::default(), Latencies::default());
    let (mut truth, mut truth_filtered) = (Vec::new(), Vec::new());
    for query in queries {
        let started = Instant::now();
        let hits = index.search_using(SearchPath::Exact, &query.vector, k, |_, _| true)?;
        exact.0.push(started.elapsed());
        truth.push(hits.iter().map(|h| h.key).collect());
        let started = Instant::now();
        let hits = index.search_using(SearchPath::Exact, &query.vector, k, |_, &t| t == tag)?;
        exact.1.push(started.elapsed());
        truth_filtered.push(hits.iter().map(|h| h.key).collect());
    }
    let graph = if rows > defaults.ann_threshold {
        eprintln!("{rows}: building the HNSW graph with the store's default settings");
        let started = Instant::now();
        index.set_ann_threshold(defaults.ann_threshold);
        let build_seconds = started.elapsed().as_secs_f64();
        let (mut search, mut search_filtered) = (Latencies::default(), Latencies::default());
        let mut found = Vec::new();
        for query in queries {
            let started = Instant::now();
            let hits = index.search_using(SearchPath::Auto, &query.vector, k, |_, _| true)?;
            search.push(started.elapsed());
            found.push(hits.iter().map(|h| h.key).collect::<Vec<_>>());
            let started = Instant::now();
            index.search_using(SearchPath::Auto, &query.vector, k, |_, &t| t == tag)?;
            search_filtered.push(started.elapsed());
        }
        let recall = mean_recall(found.iter().map(|keys| keys.iter().copied().collect()), &truth);
        Some(GraphFigures { build_seconds, search, search_filtered, recall })
    } else {
        None
    };
    Ok(IndexFigures { truth, truth_filtered, exact, graph })
}

/// Mean over queries of |found ∩ truth| / |truth| (a query with an empty truth counts as 1).
fn mean_recall(found: impl Iterator<Item = HashSet<i64>>, truth: &Truth) -> f64 {
    let mut total = 0.0;
    let mut count = 0usize;
    for (found, truth) in found.zip(truth) {
        let hit = truth.iter().filter(|key| found.contains(key)).count();
        total += if truth.is_empty() { 1.0 } else { hit as f64 / truth.len() as f64 };
        count += 1;
    }
    if count == 0 { 1.0 } else { total / count as f64 }
}

/// Recall@k of the store's answers (passage ids per query) against the exact answers (row numbers; `ids[row]` is
/// the row's passage).
pub fn store_recall(found: &[Vec<PassageId>], truth: &Truth, ids: &[PassageId]) -> f64 {
    let mut total = 0.0;
    for (found, truth) in found.iter().zip(truth) {
        let wanted: HashSet<PassageId> = truth.iter().filter_map(|&row| ids.get(row as usize).copied()).collect();
        let hit = found.iter().filter(|id| wanted.contains(id)).count();
        total += if wanted.is_empty() { 1.0 } else { hit as f64 / wanted.len() as f64 };
    }
    total / found.len().max(1) as f64
}
