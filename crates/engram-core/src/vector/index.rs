//! `VectorIndex`: the per-agent search policy over one `VectorSet`, exact below a size threshold and HNSW above.
//!
//! The set is always kept: it is the exact data and answers every search up to `ann_threshold` rows, where a scan
//! is fast enough. Past the threshold the index builds an HNSW graph over the same rows (on `build_threads`
//! threads) and keeps it current on every push and removal. A filtered search above the threshold samples the
//! filter first: when it lets few rows through, scanning those rows is both faster than walking the graph and
//! exact, so that is what runs.

use super::VectorError;
use super::ann::Ann;
use super::hit::Hit;
use super::hnsw::{HnswParams, auto_ef};
use super::set::{VectorSet, normalized};

/// Rows of the set the filter is tried on to estimate how many rows it accepts.
const FILTER_SAMPLE: usize = 256;

/// Tuning of a `VectorIndex`. `Default` is what the store uses.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexConfig {
    /// Above this many vectors the index keeps an HNSW graph and answers unselective searches from it.
    pub ann_threshold: usize,
    /// Graph shape, build effort and default search beam.
    pub hnsw: HnswParams,
    /// Threads a graph build uses.
    pub build_threads: usize,
    /// Threads an exact scan uses once the set has `parallel_scan_min_rows` rows. One by default: on the
    /// two-core machines measured, a second thread did not make a 100k or 1M scan faster (memory bandwidth is
    /// the limit, and the other core is busy with other requests).
    pub scan_threads: usize,
    /// Rows from which an exact scan splits across `scan_threads`.
    pub parallel_scan_min_rows: usize,
    /// Above the threshold, a filtered search scans exactly when the filter is estimated to accept at most this
    /// many rows.
    pub exact_filtered_max_rows: usize,
    /// Share of graph nodes that may be tombstones (removed or replaced rows) before the graph is rebuilt.
    pub max_tombstone_fraction: f64,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            ann_threshold: 100_000,
            hnsw: HnswParams::default(),
            build_threads: 2,
            scan_threads: 1,
            parallel_scan_min_rows: 200_000,
            exact_filtered_max_rows: 50_000,
            max_tombstone_fraction: 0.2,
        }
    }
}

/// Which algorithm answers a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchPath {
    /// The index decides: exact up to the threshold or for selective filters, else the graph.
    #[default]
    Auto,
    /// Always scan every accepted row.
    Exact,
    /// The graph when there is one (else exact).
    Approximate,
}

/// An agent's vectors with exact search, and approximate search once they are many.
#[derive(Debug)]
pub struct VectorIndex<A> {
    config: IndexConfig,
    set: VectorSet<A>,
    ann: Option<Ann>,
}

impl<A: Copy + Send + Sync> VectorIndex<A> {
    pub fn new(dim: usize, config: IndexConfig) -> Self {
        Self { config, set: VectorSet::new(dim), ann: None }
    }

    pub fn dim(&self) -> usize {
        self.set.dim()
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    pub fn contains(&self, key: i64) -> bool {
        self.set.contains(key)
    }

    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    /// The exact data: stored (normalised) vectors and attributes.
    pub fn vectors(&self) -> &VectorSet<A> {
        &self.set
    }

    /// Whether an HNSW graph is currently kept.
    pub fn has_graph(&self) -> bool {
        self.ann.is_some()
    }

    /// Sets the beam width of graph searches (recall against speed); at least `k` is always used, and 0 lets
    /// the index scale it with its size (`auto_ef`).
    pub fn set_ef_search(&mut self, ef_search: usize) {
        self.config.hnsw.ef_search = ef_search;
    }

    /// The beam width graph searches use now.
    pub fn ef_search(&self) -> usize {
        match self.config.hnsw.ef_search {
            0 => auto_ef(self.set.len()),
            ef => ef,
        }
    }

    /// Changes the threshold, building the graph now if the index is above the new one (and dropping it if the
    /// index is at or below half of it).
    pub fn set_ann_threshold(&mut self, ann_threshold: usize) {
        self.config.ann_threshold = ann_threshold;
        if self.ann.is_none() && self.set.len() > ann_threshold {
            self.build_graph();
        } else if self.set.len() <= ann_threshold / 2 {
            self.ann = None;
        }
    }

    /// Bytes held by the vectors, keys, attributes and graph.
    pub fn memory_bytes(&self) -> usize {
        self.set.memory_bytes() + self.ann.as_ref().map_or(0, Ann::memory_bytes)
    }

    /// Stores `vector` (normalised) under `key`, replacing any earlier vector of that key. The push that crosses
    /// `ann_threshold` builds the graph, which takes a while (one to two minutes for 100k rows of 384 dimensions
    /// on two busy cores); after that pushes are incremental (a millisecond or two each).
    pub fn push(&mut self, key: i64, vector: &[f32], attr: A) -> Result<(), VectorError> {
        let Self { config, set, ann } = self;
        let Some(graph) = ann else {
            set.push(key, vector, attr)?;
            if set.len() > config.ann_threshold {
                self.build_graph();
            }
            return Ok(());
        };
        if let Some(slot) = set.slot_of(key) {
            // Check before burying the old row, so a bad vector leaves the index as it was.
            normalized(set.dim(), vector)?;
            graph.bury(set, slot);
            set.remove(key);
        }
        set.push(key, vector, attr)?;
        graph.append(set);
        self.maintain_graph();
        Ok(())
    }

    /// Stores many rows at once; the graph, if one is needed, is built once at the end, on `build_threads`
    /// threads, which is much faster than growing it push by push. Stops at the first bad row (rows before it
    /// stay stored, and the graph covers them).
    pub fn extend<V: AsRef<[f32]>>(&mut self, rows: impl IntoIterator<Item = (i64, V, A)>) -> Result<(), VectorError> {
        self.ann = None;
        let mut outcome = Ok(());
        for (key, vector, attr) in rows {
            outcome = self.set.push(key, vector.as_ref(), attr);
            if outcome.is_err() {
                break;
            }
        }
        if self.set.len() > self.config.ann_threshold {
            self.build_graph();
        }
        outcome
    }

    /// Removes `key`. Returns whether it was present.
    pub fn remove(&mut self, key: i64) -> bool {
        let Some(slot) = self.set.slot_of(key) else {
            return false;
        };
        if let Some(ann) = &mut self.ann {
            ann.bury(&self.set, slot);
        }
        self.set.remove(key);
        self.maintain_graph();
        true
    }

    /// Drops the graph when the set has shrunk well below the threshold, rebuilds it when tombstones pile up.
    fn maintain_graph(&mut self) {
        let Some(ann) = &self.ann else {
            return;
        };
        if self.set.len() <= self.config.ann_threshold / 2 {
            self.ann = None;
        } else if ann.tombstone_fraction() > self.config.max_tombstone_fraction {
            self.build_graph();
        }
    }

    /// (Re)builds the graph over every row. Rows of more than 16,384 dimensions have no codes and get no graph.
    fn build_graph(&mut self) {
        self.ann = None;
        if self.set.coded() {
            self.ann = Some(Ann::build(&self.set, self.config.hnsw, self.config.build_threads.max(1)));
        }
    }

    /// The graph as bytes to persist next to the rows, or `None` while the index has no graph. The bytes name
    /// rows by key and hold no row vectors; `restore` reattaches them to the same rows.
    pub fn graph_to_bytes(&self) -> Option<Vec<u8>> {
        self.ann.as_ref().map(|ann| ann.to_bytes(&self.set))
    }

    /// An index over `rows` with a persisted graph reattached instead of rebuilt. Fails if a row is bad, or if
    /// the bytes are damaged, from another version, or do not describe exactly these rows (keys); the caller then
    /// builds afresh with `new` and `extend`. A graph whose rows changed vectors but kept their keys is accepted:
    /// scores always come from the current vectors, only the graph's routing is older.
    pub fn restore<V: AsRef<[f32]>>(
        dim: usize,
        config: IndexConfig,
        rows: impl IntoIterator<Item = (i64, V, A)>,
        graph: &[u8],
    ) -> Result<Self, VectorError> {
        let mut index = Self::new(dim, config);
        for (key, vector, attr) in rows {
            index.set.push(key, vector.as_ref(), attr)?;
        }
        if !index.set.coded() {
            return Err(VectorError::BadGraph(format!("{dim}-dimensional rows are searched without a graph")));
        }
        index.ann = Some(Ann::from_bytes(graph, &index.set)?);
        Ok(index)
    }

    /// The `k` stored vectors most similar to `query` (cosine, best first) among those `accept` lets through.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        accept: impl Fn(i64, &A) -> bool + Sync,
    ) -> Result<Vec<Hit>, VectorError> {
        self.search_using(SearchPath::Auto, query, k, accept)
    }

    /// `search` with the algorithm chosen by the caller (benchmarks, or an explicit request for exact results).
    pub fn search_using(
        &self,
        path: SearchPath,
        query: &[f32],
        k: usize,
        accept: impl Fn(i64, &A) -> bool + Sync,
    ) -> Result<Vec<Hit>, VectorError> {
        let query = normalized(self.dim(), query)?;
        let graph = match path {
            SearchPath::Exact => None,
            SearchPath::Approximate => self.ann.as_ref(),
            SearchPath::Auto => self.ann.as_ref().filter(|_| {
                self.set.len() > self.config.ann_threshold
                    && self.estimated_accepted(&accept) > self.config.exact_filtered_max_rows
            }),
        };
        if let Some(ann) = graph {
            return Ok(ann.search(&self.set, &query, k, self.ef_search(), &accept));
        }
        let threads =
            if self.set.len() >= self.config.parallel_scan_min_rows { self.config.scan_threads.max(1) } else { 1 };
        Ok(self.set.exact_search_threads(&query, k, threads, accept))
    }

    /// Rows `accept` would let through, estimated from evenly spaced samples.
    fn estimated_accepted(&self, accept: &impl Fn(i64, &A) -> bool) -> usize {
        let rows = self.set.len();
        let samples = FILTER_SAMPLE.min(rows);
        if samples == 0 {
            return 0;
        }
        let step = rows / samples;
        let accepted = (0..samples)
            .map(|sample| sample * step)
            .filter(|&slot| accept(self.set.key_at(slot), self.set.attr_at(slot)))
            .count();
        accepted * rows / samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::synthetic::{Shape, points, queries_near};

    const DIM: usize = 24;

    fn config(ann_threshold: usize) -> IndexConfig {
        IndexConfig {
            ann_threshold,
            hnsw: HnswParams { m: 8, ef_construction: 48, ef_search: 32, seed: 3 },
            exact_filtered_max_rows: 100,
            ..IndexConfig::default()
        }
    }

    fn rows(n: usize) -> Vec<f32> {
        points(n, DIM, Shape { clusters: 30, ..Shape::CLUSTERED }, 21, 1)
    }

    fn index(rows: &[f32], ann_threshold: usize) -> VectorIndex<u32> {
        let mut index = VectorIndex::new(DIM, config(ann_threshold));
        for (key, row) in rows.chunks_exact(DIM).enumerate() {
            index.push(key as i64, row, key as u32 % 100).unwrap();
        }
        index
    }

    fn keys(hits: &[Hit]) -> Vec<i64> {
        hits.iter().map(|hit| hit.key).collect()
    }

    /// Share of the exact top 10 the index returns, over queries near the rows.
    fn recall(index: &VectorIndex<u32>, rows: &[f32], accept: impl Fn(i64, &u32) -> bool + Sync + Copy) -> f64 {
        let queries = queries_near(rows, DIM, 40, Shape::CLUSTERED, 22);
        let (mut found, mut wanted) = (0, 0);
        for query in queries.chunks_exact(DIM) {
            let truth = keys(&index.search_using(SearchPath::Exact, query, 10, accept).unwrap());
            let hits = index.search(query, 10, accept).unwrap();
            assert!(hits.iter().all(|hit| (-1.0..=1.0).contains(&hit.score)));
            found += hits.iter().filter(|hit| truth.contains(&hit.key)).count();
            wanted += truth.len();
        }
        found as f64 / wanted as f64
    }

    #[test]
    fn index_is_send_and_sync_for_the_store() {
        fn check<T: Send + Sync>() {}
        check::<VectorIndex<(i64, u8)>>();
    }

    #[test]
    fn graph_appears_past_the_threshold_and_keeps_recall() {
        let data = rows(1_000);
        let mut index = index(&data[..600 * DIM], 600);
        assert!(!index.has_graph(), "at the threshold the scan is exact");
        index.push(600, &data[600 * DIM..601 * DIM], 0).unwrap();
        assert!(index.has_graph(), "one past the threshold builds the graph");
        for (key, row) in data.chunks_exact(DIM).enumerate().skip(601) {
            index.push(key as i64, row, key as u32 % 100).unwrap();
        }
        assert_eq!(index.len(), 1_000);
        let plain = recall(&index, &data, |_, _| true);
        assert!(plain >= 0.95, "recall@10 {plain}");
        let half = recall(&index, &data, |_, attr| attr % 2 == 0);
        assert!(half >= 0.95, "recall@10 with a 50% filter {half}");
    }

    #[test]
    fn selective_filters_scan_exactly() {
        let data = rows(1_000);
        let index = index(&data, 300);
        assert!(index.has_graph());
        let rare = |_: i64, attr: &u32| *attr == 7;
        assert!(index.estimated_accepted(&rare) <= 100);
        assert!(index.estimated_accepted(&|_, _| true) == 1_000);
        for query in queries_near(&data, DIM, 10, Shape::CLUSTERED, 5).chunks_exact(DIM) {
            let hits = index.search(query, 10, rare).unwrap();
            assert_eq!(hits, index.search_using(SearchPath::Exact, query, 10, rare).unwrap());
            assert_eq!(hits.len(), 10);
        }
    }

    #[test]
    fn removed_and_replaced_rows_are_never_returned_from_the_graph() {
        let data = rows(800);
        let mut index = index(&data, 500);
        for key in (0..800).step_by(7) {
            assert!(index.remove(key));
        }
        assert!(!index.remove(0));
        // Row 1 now points where row 2 was: searching near row 2 must find key 1 with row 2's vector.
        index.push(1, &data[2 * DIM..3 * DIM], 1).unwrap();
        assert!(index.has_graph());
        let stored: Vec<f32> = index.vectors().get(1).unwrap().0.to_vec();
        for query in data.chunks_exact(DIM).take(100) {
            let hits = index.search_using(SearchPath::Approximate, query, 20, |_, _| true).unwrap();
            assert!(hits.iter().all(|hit| hit.key % 7 != 0), "removed key returned");
            if let Some(hit) = hits.iter().find(|hit| hit.key == 1) {
                assert_eq!(hit.score, crate::vector::dot(index.vectors().get(1).unwrap().0, query).clamp(-1.0, 1.0));
            }
        }
        let near_two = index.search_using(SearchPath::Approximate, &stored, 2, |_, _| true).unwrap();
        assert_eq!(keys(&near_two), vec![1, 2]);
        assert!(recall(&index, &data, |_, _| true) >= 0.95);
    }

    #[test]
    fn tombstones_trigger_a_rebuild_and_shrinking_drops_the_graph() {
        let data = rows(500);
        let mut index = index(&data, 200);
        let tombstones = |index: &VectorIndex<u32>| index.ann.as_ref().map(|ann| ann.graph.deleted_count);
        for key in 0..75 {
            index.remove(key);
        }
        assert_eq!(tombstones(&index), Some(75));
        for key in 75..125 {
            index.remove(key);
        }
        assert!(tombstones(&index).is_some_and(|count| count < 50), "rebuilt after 20% tombstones");
        assert_eq!(index.ann.as_ref().map(|ann| ann.graph.len()), Some(index.len() + tombstones(&index).unwrap_or(0)));
        for key in 125..400 {
            index.remove(key);
        }
        assert!(!index.has_graph(), "100 rows is at half the threshold");
        assert_eq!(index.len(), 100);
        assert!(recall(&index, &data, |_, _| true) == 1.0);
    }

    #[test]
    fn extend_builds_once_and_stops_at_a_bad_row() {
        let data = rows(900);
        let mut index = VectorIndex::new(DIM, config(500));
        index.extend(data.chunks_exact(DIM).enumerate().map(|(key, row)| (key as i64, row, 0u32))).unwrap();
        assert!(index.has_graph());
        assert!(recall(&index, &data, |_, _| true) >= 0.95);
        let mut bad = VectorIndex::new(DIM, config(5));
        let outcome = bad.extend([(1, vec![1.0; DIM], 0u32), (2, vec![0.0; DIM], 0), (3, vec![1.0; DIM], 0)]);
        assert_eq!(outcome, Err(VectorError::ZeroVector));
        assert_eq!(bad.len(), 1);
    }

    #[test]
    fn huge_k_from_the_graph_returns_every_accepted_row() {
        let data = rows(400);
        let index = index(&data, 200);
        assert!(index.has_graph());
        let hits = index.search_using(SearchPath::Approximate, &data[..DIM], usize::MAX, |_, attr| *attr < 50).unwrap();
        assert_eq!(hits.len(), 200);
        assert_eq!(
            hits,
            index.search_using(SearchPath::Exact, &data[..DIM], usize::MAX, |_, attr| *attr < 50).unwrap()
        );
    }

    #[test]
    fn bad_queries_are_errors() {
        let index = index(&rows(10), 100);
        assert_eq!(
            index.search(&[1.0; 3], 5, |_, _| true),
            Err(VectorError::DimensionMismatch { expected: DIM, got: 3 })
        );
        assert_eq!(index.search(&[0.0; DIM], 5, |_, _| true), Err(VectorError::ZeroVector));
        assert_eq!(index.search(&[f32::NAN; DIM], 5, |_, _| true), Err(VectorError::NonFinite { position: 0 }));
        assert_eq!(index.search(&[1.0; DIM], 0, |_, _| true), Ok(vec![]));
    }
}
