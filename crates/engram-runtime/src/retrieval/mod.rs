//! Retrieval: archival and recall search by words, by meaning, or both fused, and archival inserts that embed their
//! passages first. The HTTP API and the agent's tools both come here, so they rank the same way.
//!
//! - `text` is BM25 from the store's full-text index.
//! - `vector` embeds the query with the agent's embedding model and asks the store's vector index.
//! - `hybrid` (the default) runs both over a wider candidate pool and fuses them with
//!   [`engram_core::fusion::fuse`].
//!
//! When the agent's embedding model cannot be used (the local model is not installed, a provider has no key),
//! `hybrid` answers from text alone and says so in [`SearchOutcome::mode`]; `vector` is refused. A text ranking is
//! never presented as a semantic one.

mod hybrid;
mod indexer;

use std::sync::Arc;

use engram_core::agent::{Agent, ModelRef};
use engram_core::audit::WriteContext;
use engram_core::id::AgentId;
use engram_core::message::Message;
use engram_core::org::OrgId;
use engram_core::passage::{Embedding, NewPassage, Passage};
use engram_core::search::{MessageSearch, PassageQuery, Scored, SearchMode};
use engram_embed::{EmbedError, Embedder, Embedders};
use engram_store::Store;

use crate::error::RuntimeError;

pub use indexer::IndexerHandle;

/// What a search found, and how it ranked: `mode` is the mode actually used (text when semantic search was asked
/// for but is unavailable, with `note` saying why).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome<T> {
    pub results: Vec<Scored<T>>,
    pub mode: SearchMode,
    pub note: Option<String>,
}

/// Search and embedding-aware inserts over one store. Cheap to clone.
#[derive(Clone)]
pub struct Retrieval {
    store: Arc<dyn Store>,
    embedders: Embedders,
    indexer: indexer::Wake,
}

impl std::fmt::Debug for Retrieval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retrieval").field("embedders", &self.embedders).finish_non_exhaustive()
    }
}

impl Retrieval {
    pub fn new(store: Arc<dyn Store>, embedders: Embedders) -> Self {
        Self { store, embedders, indexer: indexer::Wake::default() }
    }

    pub fn embedders(&self) -> &Embedders {
        &self.embedders
    }

    /// The embedder of `model`, or why it cannot be used.
    fn embedder(&self, model: &ModelRef) -> Result<Arc<dyn Embedder>, EmbedError> {
        self.embedders.get(model)
    }

    /// Inserts passages, embedded first with the agent's model when it can be used. When it cannot (not installed,
    /// no key), they are stored with text only, found by text search at once, and embedded by the background
    /// indexer once the model is available. A failing provider call fails the insert, which changes nothing.
    pub async fn insert_passages(
        &self,
        ctx: &WriteContext,
        agent: AgentId,
        mut passages: Vec<NewPassage>,
    ) -> Result<Vec<Passage>, RuntimeError> {
        let config = self.store.get_agent(&ctx.org, agent).await?;
        match self.embedder(&config.config.embedding) {
            Ok(embedder) => {
                let texts: Vec<String> = passages.iter().map(|p| p.text.clone()).collect();
                let vectors = embedder.embed(&texts).await.map_err(RuntimeError::Embedding)?;
                for (passage, vector) in passages.iter_mut().zip(vectors) {
                    passage.embedding = Some(Embedding { model: embedder.model().to_owned(), vector });
                }
            }
            Err(e) => tracing::debug!(agent = %agent, error = %e, "passages stored without embeddings for now"),
        }
        Ok(self.store.insert_passages(ctx, agent, passages).await?)
    }

    /// Archival search in `mode`.
    pub async fn search_passages(
        &self,
        org: &OrgId,
        agent: AgentId,
        query: &PassageQuery,
        mode: SearchMode,
    ) -> Result<SearchOutcome<Passage>, RuntimeError> {
        if mode == SearchMode::Text {
            let results = self.store.search_passages_text(org, agent, query).await?;
            return Ok(SearchOutcome { results, mode, note: None });
        }
        let config = self.store.get_agent(org, agent).await?;
        let Some(embedding) = self.embed_query(&config, &query.text, mode).await? else {
            let results = self.store.search_passages_text(org, agent, query).await?;
            return Ok(text_only(results, &config, &self.embedders));
        };
        if mode == SearchMode::Vector {
            let results = self.store.search_passages_vector(org, agent, query, &embedding).await?;
            return Ok(SearchOutcome { results, mode, note: None });
        }
        let pool = hybrid::pool(query.k);
        let wide = PassageQuery { k: pool, ..query.clone() };
        let (text, vector) = tokio::join!(
            self.store.search_passages_text(org, agent, &wide),
            self.store.search_passages_vector(org, agent, &wide, &embedding),
        );
        let results = hybrid::fuse(&query.text, text?, vector?, query.k, |p: &Passage| p.id);
        Ok(SearchOutcome { results, mode, note: None })
    }

    /// Recall search in `mode`. Messages written since the background indexer last ran are embedded first, so a
    /// search sees the whole history.
    pub async fn search_messages(
        &self,
        org: &OrgId,
        agent: AgentId,
        query: &MessageSearch,
        mode: SearchMode,
    ) -> Result<SearchOutcome<Message>, RuntimeError> {
        if mode == SearchMode::Text {
            let results = self.store.search_messages_text(org, agent, query).await?;
            return Ok(SearchOutcome { results, mode, note: None });
        }
        let config = self.store.get_agent(org, agent).await?;
        let Some(embedding) = self.embed_query(&config, &query.text, mode).await? else {
            let results = self.store.search_messages_text(org, agent, query).await?;
            return Ok(text_only(results, &config, &self.embedders));
        };
        indexer::catch_up(self, org, agent).await;
        if mode == SearchMode::Vector {
            let results = self.store.search_messages_vector(org, agent, query, &embedding).await?;
            return Ok(SearchOutcome { results, mode, note: None });
        }
        let wide = MessageSearch { limit: hybrid::pool(query.limit), ..query.clone() };
        let (text, vector) = tokio::join!(
            self.store.search_messages_text(org, agent, &wide),
            self.store.search_messages_vector(org, agent, &wide, &embedding),
        );
        let results = hybrid::fuse(&query.text, text?, vector?, query.limit, |m: &Message| m.id);
        Ok(SearchOutcome { results, mode, note: None })
    }

    /// The query's embedding; `None` when `hybrid` must fall back to text. `vector` without a usable model is an
    /// error, and so is a failing provider call in either mode.
    async fn embed_query(
        &self,
        agent: &Agent,
        text: &str,
        mode: SearchMode,
    ) -> Result<Option<Embedding>, RuntimeError> {
        let embedder = match self.embedder(&agent.config.embedding) {
            Ok(embedder) => embedder,
            Err(e) if mode == SearchMode::Hybrid => {
                tracing::debug!(agent = %agent.id, error = %e, "hybrid search answered by text alone");
                return Ok(None);
            }
            Err(e) => return Err(RuntimeError::SearchModeUnavailable(e.to_string())),
        };
        let mut vectors = embedder.embed(&[text.to_owned()]).await.map_err(RuntimeError::Embedding)?;
        let vector = vectors.pop().ok_or_else(|| {
            RuntimeError::Embedding(EmbedError::Malformed("no vector was returned for the query".to_owned()))
        })?;
        Ok(Some(Embedding { model: embedder.model().to_owned(), vector }))
    }

    /// Tells the background indexer that there is new text to embed.
    pub fn wake_indexer(&self) {
        self.indexer.wake();
    }

    /// Starts the background indexer, which embeds passages and messages still without vectors. It stops when the
    /// handle is dropped or [`IndexerHandle::stop`]ped.
    pub fn spawn_indexer(&self) -> IndexerHandle {
        indexer::spawn(self.clone())
    }
}

/// A text-only answer to a hybrid search, with why.
fn text_only<T>(results: Vec<Scored<T>>, agent: &Agent, embedders: &Embedders) -> SearchOutcome<T> {
    let reason = match embedders.get(&agent.config.embedding) {
        Err(e) => e.to_string(),
        Ok(_) => "the embedding model is unavailable".to_owned(),
    };
    SearchOutcome { results, mode: SearchMode::Text, note: Some(format!("semantic search unavailable: {reason}")) }
}
