//! The three search modes as the API runs them, minus HTTP and minus embedding the query.
//!
//! `text` is `Retrieval::search_passages(.., SearchMode::Text)` itself. `Retrieval` embeds the query text with the
//! agent's model for the other two, and `Embedders` cannot be given a bench embedder that returns the synthetic
//! query vector, so `vector` and `hybrid` repeat what `Retrieval::search_passages` does after embedding: the agent
//! read, then the store's vector search, or both store searches over the wider candidate pool run together and
//! fused exactly as `crates/engram-runtime/src/retrieval/hybrid.rs` does. `check_against_retrieval` (in the real
//! model section) confirms on a real archive that this gives `Retrieval`'s answers.

use std::collections::HashMap;
use std::sync::Arc;

use engram_core::fusion::{FusionInput, fuse as fuse_keys};
use engram_core::id::{AgentId, PassageId};
use engram_core::org::OrgId;
use engram_core::passage::{Embedding, Passage};
use engram_core::search::{PassageQuery, Scored, SearchMode};
use engram_runtime::retrieval::Retrieval;
use engram_store::Store;

/// Most candidates either side contributes to a fusion (`hybrid.rs`'s `MAX_POOL`).
const MAX_POOL: u32 = 200;

/// Candidates each side fetches for a fused top `k` (`hybrid.rs`'s `pool`).
pub fn pool(k: u32) -> u32 {
    k.saturating_mul(4).max(50).min(MAX_POOL.max(k))
}

/// One agent's archive, searchable the way the API searches it.
#[derive(Clone)]
pub struct Searcher {
    pub store: Arc<dyn Store>,
    pub retrieval: Retrieval,
    pub org: OrgId,
    pub agent: AgentId,
}

impl Searcher {
    /// A search in `mode`; `embedding` is the query's vector, as `Retrieval` would have computed it.
    pub async fn search(
        &self,
        mode: SearchMode,
        query: &PassageQuery,
        embedding: &Embedding,
    ) -> anyhow::Result<Vec<Scored<Passage>>> {
        let (org, agent) = (&self.org, self.agent);
        match mode {
            SearchMode::Text => Ok(self.retrieval.search_passages(org, agent, query, SearchMode::Text).await?.results),
            SearchMode::Vector => {
                self.store.get_agent(org, agent).await?;
                Ok(self.store.search_passages_vector(org, agent, query, embedding).await?)
            }
            SearchMode::Hybrid => {
                self.store.get_agent(org, agent).await?;
                let wide = PassageQuery { k: pool(query.k), ..query.clone() };
                let (text, vector) = tokio::join!(
                    self.store.search_passages_text(org, agent, &wide),
                    self.store.search_passages_vector(org, agent, &wide, embedding),
                );
                Ok(fuse(&query.text, text?, vector?, query.k))
            }
        }
    }
}

/// `hybrid.rs`'s `fuse` for passages: keys for the two lists, reciprocal rank fusion, passages back in fused order.
fn fuse(query: &str, text: Vec<Scored<Passage>>, vector: Vec<Scored<Passage>>, k: u32) -> Vec<Scored<Passage>> {
    let mut keys: HashMap<PassageId, i64> = HashMap::new();
    let mut items: Vec<Option<Passage>> = Vec::new();
    let mut keyed = |scored: Vec<Scored<Passage>>| -> Vec<(i64, f64)> {
        scored
            .into_iter()
            .map(|s| {
                let key = *keys.entry(s.item.id).or_insert_with(|| {
                    items.push(None);
                    items.len() as i64 - 1
                });
                if let Some(slot) = items.get_mut(key as usize)
                    && slot.is_none()
                {
                    *slot = Some(s.item);
                }
                (key, s.score)
            })
            .collect()
    };
    let text = keyed(text);
    let vector = keyed(vector);
    let fused = fuse_keys(&FusionInput { query, text: &text, vector: &vector }, k as usize);
    fused
        .into_iter()
        .filter_map(|(key, score)| {
            let item = items.get_mut(usize::try_from(key).ok()?)?.take()?;
            Some(Scored { item, score })
        })
        .collect()
}

/// The modes in table order.
pub const MODES: [SearchMode; 3] = [SearchMode::Text, SearchMode::Vector, SearchMode::Hybrid];
