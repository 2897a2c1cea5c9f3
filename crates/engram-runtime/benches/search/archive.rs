//! Filling a store: the benchmark's organisation and agent, passages built from the corpus, and the timed bulk
//! insert through `Store::insert_passages` in batches of the API's maximum size, vectors already set.

use std::time::{Duration, Instant};

use engram_core::agent::{AgentConfig, AgentName, Metadata, ModelRef, NewAgent, Tag};
use engram_core::audit::{Actor, ActorKind, WriteContext};
use engram_core::id::{AgentId, PassageId};
use engram_core::org::OrgId;
use engram_core::passage::{Embedding, MAX_BATCH, NewPassage};
use engram_store::Store;

use crate::corpus::{Corpus, MatchCounter, Query};
use crate::measure::Progress;

/// The agents' embedding model (the default one), so stored vectors and queries agree with the agent's config.
pub const EMBEDDING_MODEL: &str = "local/all-minilm-l6-v2";

/// The tag `t{index}`.
pub fn tag(index: usize) -> anyhow::Result<Tag> {
    Ok(Tag::parse("tags", &format!("t{index}"))?)
}

/// A fresh organisation's write context and one agent with the default embedding model.
pub async fn agent(store: &dyn Store) -> anyhow::Result<(OrgId, WriteContext, AgentId)> {
    let org = OrgId::parse("org", "bench")?;
    let ctx = WriteContext {
        org: org.clone(),
        actor: Actor { kind: ActorKind::Operator, id: "search-bench".into() },
        run_id: None,
        step_id: None,
        request_id: None,
    };
    let config = AgentConfig {
        name: AgentName::parse("name", "archivist")?,
        system: "You are a benchmark agent.".into(),
        model: None,
        embedding: ModelRef::parse("embedding", EMBEDDING_MODEL)?,
        context_window: 32_000,
        tools: Vec::new(),
        tags: Vec::new(),
        metadata: Metadata::default(),
    };
    let agent = store.create_agent(&ctx, NewAgent { config, blocks: Vec::new(), block_ids: Vec::new() }).await?;
    Ok((org, ctx, agent.id))
}

/// Row `row` as a passage to insert, with `vector` as its embedding when given.
pub fn passage(corpus: &Corpus, row: usize, vector: Option<Vec<f32>>) -> anyhow::Result<NewPassage> {
    Ok(NewPassage {
        text: corpus.text(row),
        tags: vec![tag(corpus.tag(row))?],
        metadata: Metadata::default(),
        created_at: None,
        embedding: vector.map(|vector| Embedding { model: EMBEDDING_MODEL.to_owned(), vector }),
    })
}

/// What filling the store took.
pub struct Filled {
    /// `ids[row]` is row `row`'s passage.
    pub ids: Vec<PassageId>,
    /// Time inside `Store::insert_passages` only (not generating the rows).
    pub store_time: Duration,
    /// Per query, the passages containing one of its words.
    pub matching: Vec<usize>,
}

/// Inserts rows `0..rows` with their vectors, `MAX_BATCH` per call, counting the passages each query's words match.
pub async fn fill(
    store: &dyn Store,
    ctx: &WriteContext,
    agent: AgentId,
    corpus: &Corpus,
    rows: usize,
    queries: &[Query],
) -> anyhow::Result<Filled> {
    let mut matches = MatchCounter::new(queries);
    let mut ids = Vec::with_capacity(rows);
    let mut store_time = Duration::ZERO;
    let mut progress = Progress::new(format!("{rows}: inserting passages"), rows);
    for start in (0..rows).step_by(MAX_BATCH) {
        let end = (start + MAX_BATCH).min(rows);
        let batch = (start..end)
            .map(|row| passage(corpus, row, Some(corpus.vector(row))))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for (row, passage) in (start..end).zip(&batch) {
            matches.add(row, &passage.text);
        }
        let started = Instant::now();
        let inserted = store.insert_passages(ctx, agent, batch).await?;
        store_time += started.elapsed();
        ids.extend(inserted.iter().map(|p| p.id));
        progress.update(end);
    }
    Ok(Filled { ids, store_time, matching: matches.into_counts() })
}
