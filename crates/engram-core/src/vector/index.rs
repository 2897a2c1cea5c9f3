//! `VectorIndex`: the per-agent search policy over one `VectorSet`, exact below a size threshold and HNSW above.
//!
//! The set is always kept: it is the exact data and answers every search up to `ann_threshold` rows, where a scan
//! is fast enough. Past the threshold the index builds an HNSW graph over the same rows (on `build_threads`
//! threads) and keeps it current on every push and removal. A filtered search above the threshold samples the
//! filter first: when it lets few rows through, scanning those rows is both faster than walking the graph and
//! exact, so that is what runs.

use super::VectorError;
use super::ann::Ann;
use super::hnsw::HnswParams;
use super::set::{VectorSet, normalized};
use super::topk::Hit;

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
    /// Threads an exact scan uses once the set has `parallel_scan_min_rows` rows.
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
            scan_threads: 2,
            parallel_scan_min_rows: 20_000,
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

    /// Sets the beam width of graph searches (recall against speed); at least `k` is always used.
    pub fn set_ef_search(&mut self, ef_search: usize) {
        self.config.hnsw.ef_search = ef_search.max(1);
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

    /// Stores `vector` (normalised) under `key`, replacing any earlier vector of that key. Crossing
    /// `ann_threshold` builds the graph, which takes a while (seconds at 100k rows); after that pushes are
    /// incremental.
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
        self.after_removal();
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
        self.after_removal();
        true
    }

    /// Drops the graph when the set has shrunk well below the threshold, rebuilds it when tombstones pile up.
    fn after_removal(&mut self) {
        let Some(ann) = &self.ann else {
            return;
        };
        if self.set.len() <= self.config.ann_threshold / 2 {
            self.ann = None;
        } else if ann.tombstone_fraction() > self.config.max_tombstone_fraction {
            self.build_graph();
        }
    }

    /// (Re)builds the graph over every row. Rows of more than 65,536 dimensions have no codes and get no graph.
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
            return Ok(ann.search(&self.set, &query, k, self.config.hnsw.ef_search, &accept));
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
