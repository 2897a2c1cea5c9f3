//! Retrieval speed: archival insert throughput, and search latency in text, vector and hybrid mode at several
//! archive sizes, through the product path (`SqliteStore` in a temporary directory and `Retrieval`), with recall of
//! vector search against the exact answer, the vector index's load and build times, resident memory, and, with the
//! real local model, inserts that embed and the cost of embedding a query. Prints markdown tables.
//!
//! `cargo bench -p engram-runtime --bench search -- [--sizes 10000,100000,1000000] [--queries 300] [--warmup 20]
//! [--modes text,vector,hybrid] [--embed-passages 2000] [--embed-batch 100] [--no-parts] [--data-dir DIR]`
//!
//! `--data-dir` keeps each size's database in `DIR/passages-<size>` (for looking at it with `sqlite3` afterwards)
//! instead of a temporary directory.
//!
//! The local model comes from `ENGRAM_EMBEDDING_MODEL_DIR`, else `engram-data/models/all-minilm-l6-v2`; without it
//! the real-model table is skipped. See `docs/benchmarks.md` ("Retrieval speed") for what each figure means.

#[path = "../../engram-core/src/vector/synthetic.rs"]
mod synthetic;

#[path = "search/archive.rs"]
mod archive;
#[path = "search/corpus.rs"]
mod corpus;
#[path = "search/embedding.rs"]
mod embedding;
#[path = "search/measure.rs"]
mod measure;
#[path = "search/modes.rs"]
mod modes;
#[path = "search/recall.rs"]
mod recall;
#[path = "search/report.rs"]
mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use engram_core::id::PassageId;
use engram_core::passage::Embedding;
use engram_core::search::{PassageFilter, PassageQuery, SearchMode};
use engram_embed::Embedders;
use engram_runtime::retrieval::Retrieval;
use engram_store::{SqliteOptions, SqliteStore, Store};

use archive::EMBEDDING_MODEL;
use corpus::{Corpus, Query};
use measure::{Latencies, Progress, dir_bytes, mib, rss_mib};
use modes::{MODES, Searcher, pool};
use report::{Series, SizeReport};

/// Results per search.
const K: u32 = 10;
/// The tag the filtered searches ask for (one of ten, uniformly spread: about 10% of rows).
const FILTER_TAG: usize = 3;
const DIM: usize = 384;
const SEED: u64 = 0x5ea7_c0de;

struct Options {
    sizes: Vec<usize>,
    queries: usize,
    warmup: usize,
    embed_passages: usize,
    embed_batch: usize,
    modes: Vec<SearchMode>,
    parts: bool,
    data_dir: Option<PathBuf>,
}

fn number(flag: &str, value: Option<&String>) -> anyhow::Result<usize> {
    let value = value.with_context(|| format!("{flag} needs a value"))?;
    value.replace(['_', ','], "").parse().with_context(|| format!("{flag}: `{value}` is not a number"))
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        sizes: vec![10_000, 100_000, 1_000_000],
        queries: 300,
        warmup: 20,
        embed_passages: 2_000,
        embed_batch: 100,
        modes: MODES.to_vec(),
        parts: true,
        data_dir: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--sizes" => {
                let list = args.next().context("--sizes needs a value")?;
                options.sizes = list
                    .split(',')
                    .map(|size| number("--sizes", Some(&size.trim().to_owned())))
                    .collect::<anyhow::Result<_>>()?;
            }
            "--modes" => {
                let list = args.next().context("--modes needs a value")?;
                options.modes =
                    list.split(',').map(|mode| SearchMode::parse("--modes", mode.trim())).collect::<Result<_, _>>()?;
            }
            "--queries" => options.queries = number(flag, args.next())?.max(1),
            "--warmup" => options.warmup = number(flag, args.next())?,
            "--embed-passages" => options.embed_passages = number(flag, args.next())?,
            "--embed-batch" => options.embed_batch = number(flag, args.next())?.max(1),
            "--no-parts" => options.parts = false,
            "--data-dir" => options.data_dir = Some(args.next().context("--data-dir needs a value")?.into()),
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => {}
            other => anyhow::bail!("unknown option `{other}`; see the top of benches/search.rs"),
        }
    }
    Ok(options)
}

fn main() -> anyhow::Result<()> {
    let options = options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(&options))
}

async fn run(options: &Options) -> anyhow::Result<()> {
    let cpus = std::thread::available_parallelism().map(usize::from).unwrap_or(0);
    let load = measure::load_average();
    let corpus = Corpus::new(DIM, SEED);
    let mut sizes = Vec::new();
    for &rows in &options.sizes {
        let size = bench_size(&corpus, rows, options).await?;
        report::log_size(&size);
        sizes.push(size);
    }
    let embed = if options.embed_passages > 0 {
        embedding::measure(&corpus, options.embed_passages, options.embed_batch, options.queries).await?
    } else {
        None
    };
    println!(
        "engram retrieval bench: {cpus} CPUs, load average {load} at start and {} at the end; k = {K}, \
         {} queries per series after {} warm-up queries; {DIM}-d vectors",
        measure::load_average(),
        options.queries,
        options.warmup
    );
    report::print(&sizes, embed.as_ref());
    Ok(())
}

/// Prepared queries: the search (unfiltered and filtered) and the query's vector as an embedding.
struct Prepared {
    plain: PassageQuery,
    filtered: PassageQuery,
    embedding: Embedding,
}

fn prepare(queries: &[Query]) -> anyhow::Result<Vec<Prepared>> {
    let filter = PassageFilter { tags: vec![archive::tag(FILTER_TAG)?], ..PassageFilter::default() };
    Ok(queries
        .iter()
        .map(|q| {
            let plain = PassageQuery { text: q.text.clone(), k: K, filter: PassageFilter::default() };
            let filtered = PassageQuery { filter: filter.clone(), ..plain.clone() };
            let embedding = Embedding { model: EMBEDDING_MODEL.to_owned(), vector: q.vector.clone() };
            Prepared { plain, filtered, embedding }
        })
        .collect())
}

async fn bench_size(corpus: &Corpus, rows: usize, options: &Options) -> anyhow::Result<SizeReport> {
    let (path, temporary) = match &options.data_dir {
        Some(dir) => {
            let path = dir.join(format!("passages-{rows}"));
            anyhow::ensure!(
                !path.exists(),
                "{} exists already; remove it or choose another --data-dir",
                path.display()
            );
            (path, None)
        }
        None => {
            let temporary = tempfile::tempdir()?;
            (temporary.path().to_owned(), Some(temporary))
        }
    };
    let rss_before = rss_mib();
    let sqlite = SqliteStore::open(&path, SqliteOptions::default()).await?;
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let retrieval = Retrieval::new(store.clone(), Embedders::disabled());
    let (org, ctx, agent) = archive::agent(store.as_ref()).await?;
    let queries = corpus.queries(rows, options.queries + options.warmup);
    let filled = archive::fill(store.as_ref(), &ctx, agent, corpus, rows, &queries).await?;
    let rss_inserted = rss_mib();
    let db_mib = mib(dir_bytes(&path));
    let searcher = Searcher { store: store.clone(), retrieval, org, agent };

    let prepared = prepare(&queries)?;
    let (measured, warm) = prepared.split_at(options.queries.min(prepared.len()));

    // The first vector search loads the agent's index from the database (and builds its graph above the threshold).
    eprintln!("{rows}: first vector search (loads the index)");
    let first = measured.first().context("no queries")?;
    let started = Instant::now();
    searcher.search(SearchMode::Vector, &first.plain, &first.embedding).await?;
    let load_seconds = started.elapsed().as_secs_f64();
    let rss_loaded = rss_mib();

    let bench = Bench { searcher: &searcher, measured, warm, rows };
    let mut series = Vec::new();
    let mut found = (Vec::new(), Vec::new());
    for filtered in [false, true] {
        for &mode in &options.modes {
            let label = mode.as_str().to_owned();
            let (latencies, ids) = bench.series(mode, K, filtered, &label).await?;
            if mode == SearchMode::Vector {
                if filtered { found.1 = ids } else { found.0 = ids }
            }
            series.push(Series { label, mode, filtered, latencies });
        }
        if options.parts && !filtered && options.modes.contains(&SearchMode::Hybrid) {
            for mode in [SearchMode::Text, SearchMode::Vector] {
                let label = format!("{} k={} (hybrid's half)", mode.as_str(), pool(K));
                let (latencies, _) = bench.series(mode, pool(K), filtered, &label).await?;
                series.push(Series { label, mode, filtered, latencies });
            }
        }
    }
    drop(searcher);
    store.close().await;
    drop(store);
    drop(temporary);

    let queries = &queries[..measured.len()];
    let index = recall::measure(corpus, rows, queries, K as usize, FILTER_TAG)?;
    let recall = options.modes.contains(&SearchMode::Vector).then(|| {
        (
            recall::store_recall(&found.0, &index.truth, &filled.ids),
            recall::store_recall(&found.1, &index.truth_filtered, &filled.ids),
        )
    });
    Ok(SizeReport {
        rows,
        insert_seconds: filled.store_time.as_secs_f64(),
        db_mib,
        load_seconds,
        rss: [rss_before, rss_inserted, rss_loaded],
        series,
        recall,
        index,
        matching: filled.matching[..measured.len()].to_vec(),
    })
}

/// The queries of one size, run against its archive.
struct Bench<'a> {
    searcher: &'a Searcher,
    measured: &'a [Prepared],
    warm: &'a [Prepared],
    rows: usize,
}

impl Bench<'_> {
    /// Warm-up, then one timed search per measured query, one at a time. Returns the latencies and the passages
    /// found.
    async fn series(
        &self,
        mode: SearchMode,
        k: u32,
        filtered: bool,
        label: &str,
    ) -> anyhow::Result<(Latencies, Vec<Vec<PassageId>>)> {
        let query = |p: &Prepared| {
            let q = if filtered { &p.filtered } else { &p.plain };
            PassageQuery { k, ..q.clone() }
        };
        for p in self.warm {
            self.searcher.search(mode, &query(p), &p.embedding).await?;
        }
        let filter = if filtered { "tag filter" } else { "no filter" };
        let mut progress = Progress::new(format!("{}: {label}, {filter}", self.rows), self.measured.len());
        let mut latencies = Latencies::default();
        let mut found = Vec::with_capacity(self.measured.len());
        for (i, p) in self.measured.iter().enumerate() {
            let search = query(p);
            let started = Instant::now();
            let results = self.searcher.search(mode, &search, &p.embedding).await?;
            latencies.push(started.elapsed());
            found.push(results.iter().map(|s| s.item.id).collect());
            progress.update(i + 1);
        }
        Ok((latencies, found))
    }
}
