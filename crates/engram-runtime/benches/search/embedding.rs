//! The part that needs the real embedding model (all-MiniLM-L6-v2 on the CPU): archival inserts through
//! `Retrieval::insert_passages`, which embed every passage first; the model alone on the same batches; the latency
//! of embedding one query (what a real vector or hybrid search adds); and whole hybrid searches through
//! `Retrieval::search_passages`, query embedding included, checked against the bench's own hybrid path.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use engram_core::agent::ModelRef;
use engram_core::passage::{Embedding, NewPassage};
use engram_core::search::{PassageQuery, SearchMode};
use engram_embed::{Embedders, EmbeddersConfig};
use engram_runtime::retrieval::Retrieval;
use engram_store::{SqliteOptions, SqliteStore, Store};

use crate::archive::{self, EMBEDDING_MODEL};
use crate::corpus::Corpus;
use crate::measure::{Latencies, Progress};
use crate::modes::Searcher;

/// Where the local model's files are: `ENGRAM_EMBEDDING_MODEL_DIR`, else the workspace's `engram-data/models/`.
fn model_dir() -> PathBuf {
    match std::env::var_os("ENGRAM_EMBEDDING_MODEL_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../engram-data/models/all-minilm-l6-v2"),
    }
}

pub struct EmbedFigures {
    pub dir: PathBuf,
    pub load_seconds: f64,
    pub passages: usize,
    pub batch: usize,
    /// `Retrieval::insert_passages`: embedding and storing, passages per second.
    pub insert_per_second: f64,
    /// The model alone on the same batches, passages per second.
    pub embed_per_second: f64,
    /// Embedding one query text.
    pub query: Latencies,
    /// `Retrieval::search_passages` in hybrid mode, query embedding included.
    pub hybrid: Latencies,
    /// Of the hybrid searches, how many the bench's own hybrid path answered identically.
    pub identical: usize,
}

/// Runs the real-model measurements, or says why not (model not installed) and returns `None`.
pub async fn measure(
    corpus: &Corpus,
    passages: usize,
    batch: usize,
    queries: usize,
) -> anyhow::Result<Option<EmbedFigures>> {
    let dir = model_dir();
    let started = Instant::now();
    let embedders = Embedders::new(EmbeddersConfig { model_dir: Some(dir.clone()), ..EmbeddersConfig::default() });
    let load_seconds = started.elapsed().as_secs_f64();
    if let Err(reason) = embedders.local_status() {
        eprintln!("real-model measurements skipped: the local model is not loaded from {} ({reason})", dir.display());
        return Ok(None);
    }
    let embedder = embedders.get(&ModelRef::parse("embedding", EMBEDDING_MODEL)?)?;
    let data = tempfile::tempdir()?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(data.path(), SqliteOptions::default()).await?);
    let retrieval = Retrieval::new(store.clone(), embedders.clone());
    let (org, ctx, agent) = archive::agent(store.as_ref()).await?;

    let rows: Vec<Vec<NewPassage>> = (0..passages)
        .collect::<Vec<_>>()
        .chunks(batch)
        .map(|chunk| chunk.iter().map(|&row| archive::passage(corpus, row, None)).collect())
        .collect::<anyhow::Result<_>>()?;
    // Warm-up outside the timing: the model's first call pays for page faults and thread start-up.
    embedder.embed(&[corpus.text(passages)]).await?;
    let mut progress = Progress::new("real model: inserting with embedding", passages);
    let started = Instant::now();
    let mut done = 0;
    for chunk in &rows {
        done += retrieval.insert_passages(&ctx, agent, chunk.clone()).await?.len();
        progress.update(done);
    }
    let insert_per_second = done as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    for chunk in &rows {
        let texts: Vec<String> = chunk.iter().map(|p| p.text.clone()).collect();
        embedder.embed(&texts).await?;
    }
    let embed_per_second = passages as f64 / started.elapsed().as_secs_f64();

    let searcher = Searcher { store, retrieval: retrieval.clone(), org: org.clone(), agent };
    let warmup = 10;
    let all = corpus.queries(passages, queries + warmup);
    let (mut query, mut hybrid, mut identical) = (Latencies::default(), Latencies::default(), 0);
    for (i, q) in all.iter().enumerate() {
        let search = PassageQuery { text: q.text.clone(), k: 10, filter: Default::default() };
        let started = Instant::now();
        let vector = embedder.embed(std::slice::from_ref(&q.text)).await?.pop().unwrap_or_default();
        let embed_time = started.elapsed();
        let started = Instant::now();
        let outcome = retrieval.search_passages(&org, agent, &search, SearchMode::Hybrid).await?;
        let hybrid_time = started.elapsed();
        anyhow::ensure!(outcome.mode == SearchMode::Hybrid, "hybrid search fell back to {:?}", outcome.note);
        let embedding = Embedding { model: EMBEDDING_MODEL.to_owned(), vector };
        let ours = searcher.search(SearchMode::Hybrid, &search, &embedding).await?;
        if i < warmup {
            continue;
        }
        query.push(embed_time);
        hybrid.push(hybrid_time);
        let ids = |results: &[engram_core::search::Scored<engram_core::passage::Passage>]| {
            results.iter().map(|s| s.item.id).collect::<Vec<_>>()
        };
        identical += usize::from(ids(&outcome.results) == ids(&ours));
    }
    Ok(Some(EmbedFigures {
        dir,
        load_seconds,
        passages,
        batch,
        insert_per_second,
        embed_per_second,
        query,
        hybrid,
        identical,
    }))
}
