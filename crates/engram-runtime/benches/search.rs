//! Retrieval speed: archival insert throughput, and search latency in text, vector and hybrid mode at several
//! archive sizes, through the product path (`SqliteStore` in a temporary directory, or `PostgresStore` in a fresh
//! database, and `Retrieval`), with recall of vector search against the exact answer, the vector index's load and
//! build times, resident memory, and, with the real local model, inserts that embed and the cost of embedding a
//! query. Prints markdown tables.
//!
//! `cargo bench -p engram-runtime --bench search -- [--sizes 10000,100000,1000000] [--queries 300] [--warmup 20]
//! [--modes text,vector,hybrid] [--embed-passages 2000] [--embed-batch 100] [--no-parts] [--data-dir DIR]
//! [--database-url URL] [--backends sqlite,postgres]`
//!
//! `--data-dir` keeps each size's database in `DIR/passages-<size>` (for looking at it with `sqlite3` afterwards)
//! instead of a temporary directory.
//!
//! `--database-url postgres://USER@HOST:PORT/DATABASE` fills and searches a `PostgresStore` instead: each size gets
//! a fresh database `engram_bench_<ulid>`, created through that URL (its role needs `CREATEDB`) and dropped after
//! the size is measured. "database on disk" is then `pg_database_size`, and RSS is this process alone (the database
//! server's memory is not counted). The real-model table still runs on SQLite. `--backends sqlite,postgres` runs
//! every size on both, one after the other, and prints each backend's tables in turn (default: `postgres` when
//! `--database-url` is given, else `sqlite`).
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
use engram_store::postgres::{ScratchDatabase, describe_url};
use engram_store::{PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store};

use archive::EMBEDDING_MODEL;
use corpus::{Corpus, Query};
use measure::{Latencies, Progress, dir_bytes, mib, rss_mib};
use modes::{MODES, Searcher, pool};
use report::{Series, SizeReport};

/// The allocator the `engram` binary uses (its `main.rs`), so the store and indexes measured here allocate as the
/// server does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Results per search.
const K: u32 = 10;
/// The tag the filtered searches ask for (one of ten, uniformly spread: about 10% of rows).
const FILTER_TAG: usize = 3;
const DIM: usize = 384;
const SEED: u64 = 0x5ea7_c0de;
/// Prefix of the PostgreSQL databases the bench makes (`--database-url`).
const DATABASE_PREFIX: &str = "engram_bench";

struct Options {
    sizes: Vec<usize>,
    queries: usize,
    warmup: usize,
    embed_passages: usize,
    embed_batch: usize,
    modes: Vec<SearchMode>,
    parts: bool,
    data_dir: Option<PathBuf>,
    /// A PostgreSQL server to make each size's database on.
    database_url: Option<String>,
    /// The stores to measure, in order.
    backends: Vec<Backend>,
}

/// A store to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn parse(name: &str) -> anyhow::Result<Self> {
        match name {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" => Ok(Self::Postgres),
            other => anyhow::bail!("--backends: `{other}` is neither `sqlite` nor `postgres`"),
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
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
        database_url: None,
        backends: Vec::new(),
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
            "--backends" => {
                let list = args.next().context("--backends needs a value")?;
                for name in list.split(',') {
                    let backend = Backend::parse(name.trim())?;
                    if !options.backends.contains(&backend) {
                        options.backends.push(backend);
                    }
                }
            }
            "--database-url" => {
                options.database_url = Some(args.next().context("--database-url needs a value")?.clone())
            }
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => {}
            other => anyhow::bail!("unknown option `{other}`; see the top of benches/search.rs"),
        }
    }
    if options.backends.is_empty() {
        options.backends.push(if options.database_url.is_some() { Backend::Postgres } else { Backend::Sqlite });
    }
    anyhow::ensure!(
        options.database_url.is_some() || !options.backends.contains(&Backend::Postgres),
        "--backends postgres needs --database-url postgres://USER@HOST:PORT/DATABASE"
    );
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
    let mut runs = Vec::new();
    for &backend in &options.backends {
        let storage = storage_line(backend, options).await?;
        eprintln!("storage: {storage}");
        let mut sizes = Vec::new();
        for &rows in &options.sizes {
            let size = bench_size(&corpus, rows, backend, options).await?;
            report::log_size(&size);
            sizes.push(size);
        }
        runs.push((backend, storage, sizes));
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
    for (backend, storage, sizes) in &runs {
        if runs.len() > 1 {
            println!();
            println!("## {}", backend.title());
            println!();
        }
        println!("storage: {storage}");
        if *backend == Backend::Postgres {
            println!(
                "On PostgreSQL the store ranks vectors in the database (pgvector's HNSW index above {} vectors of an \
                 agent, exactly below; engram's own exact scan without pgvector): the \"store's vector path\" column \
                 below describes SQLite's in-process index, not this run. The real-model table runs on SQLite.",
                PostgresOptions::default().ann_threshold
            );
        }
        // The real-model table (measured on SQLite) goes with the SQLite tables, or with the only backend's.
        let with_embed = *backend == Backend::Sqlite || runs.len() == 1;
        report::print(sizes, embed.as_ref().filter(|_| with_embed));
    }
    Ok(())
}

/// Where the archives live, for the report: SQLite, or PostgreSQL's version, address and vector path.
async fn storage_line(backend: Backend, options: &Options) -> anyhow::Result<String> {
    let (Backend::Postgres, Some(url)) = (backend, &options.database_url) else {
        return Ok("SqliteStore in a fresh temporary directory per size".to_owned());
    };
    let database = ScratchDatabase::create(url, DATABASE_PREFIX).await?;
    let described = async {
        let version = database.server_version().await?;
        let store = PostgresStore::open(database.url(), PostgresOptions::default()).await?;
        let path = store.vector_path().as_str();
        store.close().await;
        anyhow::Ok(format!(
            "PostgresStore on PostgreSQL {version} at {}, a fresh database per size (vector path: {path})",
            describe_url(url).split('/').next().unwrap_or_default()
        ))
    }
    .await;
    database.drop_database().await?;
    described
}

/// Where each size's archive lives while it is measured.
enum Archive {
    Sqlite { path: PathBuf, _temporary: Option<tempfile::TempDir> },
    Postgres(Box<ScratchDatabase>),
}

impl Archive {
    /// Fresh storage for `rows` passages, and the store on it.
    async fn open(rows: usize, backend: Backend, options: &Options) -> anyhow::Result<(Self, Arc<dyn Store>)> {
        if let (Backend::Postgres, Some(url)) = (backend, &options.database_url) {
            let database = ScratchDatabase::create(url, DATABASE_PREFIX)
                .await
                .context("cannot create the benchmark's database (the --database-url role needs CREATEDB)")?;
            eprintln!("{rows}: PostgreSQL database {}", database.name());
            return match PostgresStore::open(database.url(), PostgresOptions::default()).await {
                Ok(store) => Ok((Self::Postgres(Box::new(database)), Arc::new(store))),
                Err(error) => {
                    database.drop_database().await.ok();
                    Err(error.into())
                }
            };
        }
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
        let sqlite = SqliteStore::open(&path, SqliteOptions::default()).await?;
        Ok((Self::Sqlite { path, _temporary: temporary }, Arc::new(sqlite)))
    }

    /// The database's size on disk, in MiB.
    async fn size_mib(&self) -> anyhow::Result<f64> {
        match self {
            Self::Sqlite { path, .. } => Ok(mib(dir_bytes(path))),
            Self::Postgres(database) => Ok(mib(database.size_bytes().await?)),
        }
    }

    /// Removes what [`Self::open`] made (a temporary directory removes itself when dropped).
    async fn remove(self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite { .. } => Ok(()),
            Self::Postgres(database) => Ok(database.drop_database().await?),
        }
    }
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

async fn bench_size(corpus: &Corpus, rows: usize, backend: Backend, options: &Options) -> anyhow::Result<SizeReport> {
    let rss_before = rss_mib();
    let (archive, store) = Archive::open(rows, backend, options).await?;
    let searched = search_size(corpus, rows, options, &archive, store.clone()).await;
    // Closed (and its in-process vector index freed) before the recall reference below builds its own.
    store.close().await;
    drop(store);
    let removed = archive.remove().await;
    let searched = searched?;
    removed?;

    let measured = searched.measured;
    let queries = &searched.queries[..measured];
    let index = recall::measure(corpus, rows, queries, K as usize, FILTER_TAG)?;
    let (found, filled) = (&searched.found, &searched.filled);
    let recall = options.modes.contains(&SearchMode::Vector).then(|| {
        (
            recall::store_recall(&found.0, &index.truth, &filled.ids),
            recall::store_recall(&found.1, &index.truth_filtered, &filled.ids),
        )
    });
    Ok(SizeReport {
        rows,
        insert_seconds: filled.store_time.as_secs_f64(),
        db_mib: searched.db_mib,
        load_seconds: searched.load_seconds,
        rss: [rss_before, searched.rss_inserted, searched.rss_loaded],
        series: searched.series,
        recall,
        index,
        matching: filled.matching[..measured].to_vec(),
    })
}

/// What filling and searching one size gave, before the recall reference is computed.
struct Searched {
    filled: archive::Filled,
    queries: Vec<Query>,
    /// How many of `queries` were measured (the rest warmed up).
    measured: usize,
    /// The passages vector search found per measured query: without and with the tag filter.
    found: (Vec<Vec<PassageId>>, Vec<Vec<PassageId>>),
    series: Vec<Series>,
    db_mib: f64,
    load_seconds: f64,
    rss_inserted: Option<f64>,
    rss_loaded: Option<f64>,
}

/// Fills `store` with `rows` passages and runs every series on it.
async fn search_size(
    corpus: &Corpus,
    rows: usize,
    options: &Options,
    archive: &Archive,
    store: Arc<dyn Store>,
) -> anyhow::Result<Searched> {
    let retrieval = Retrieval::new(store.clone(), Embedders::disabled());
    let (org, ctx, agent) = archive::agent(store.as_ref()).await?;
    let queries = corpus.queries(rows, options.queries + options.warmup);
    let filled = archive::fill(store.as_ref(), &ctx, agent, corpus, rows, &queries).await?;
    let rss_inserted = rss_mib();
    let db_mib = archive.size_mib().await?;
    let searcher = Searcher { store, retrieval, org, agent };

    let prepared = prepare(&queries)?;
    let (measured, warm) = prepared.split_at(options.queries.min(prepared.len()));

    // On SQLite the first vector search loads the agent's index from the database (and builds its graph above the
    // threshold); on PostgreSQL, which keeps nothing in the process, it is a search like the others on cold caches.
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
    let measured = measured.len();
    Ok(Searched { filled, queries, measured, found, series, db_mib, load_seconds, rss_inserted, rss_loaded })
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
