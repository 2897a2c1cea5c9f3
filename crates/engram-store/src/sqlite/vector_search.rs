//! Vector search over passages and messages: filters turned into a row predicate, the agent's in-memory index
//! (`vectors`) scanned with it, and the hits read back from the database in rank order (`ranked`).

use engram_core::id::AgentId;
use engram_core::message::Message;
use engram_core::org::OrgId;
use engram_core::passage::{Embedding, Passage};
use engram_core::search::{MessageSearch, PassageQuery, Scored};
use engram_core::vector::Hit;

use super::ranked::{message_filter, messages_in_order, passage_filter, passages_in_order};
use super::vectors::{Kind, Probe};
use super::{SqliteStore, agents};
use crate::error::StoreError;

pub(super) async fn passages(
    store: &SqliteStore,
    org: &OrgId,
    agent: AgentId,
    query: &PassageQuery,
    embedding: &Embedding,
) -> Result<Vec<Scored<Passage>>, StoreError> {
    let mut conn = store.read().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    let accept = passage_filter(store, &mut conn, &agent_id, &query.filter).await?;
    let probe = Probe { model: &embedding.model, vector: &embedding.vector };
    let k = query.k as usize;
    let hits = store.inner.vectors.search(&mut conn, Kind::Passages, &agent_id, probe, k, accept).await?;
    passages_in_order(&mut conn, &ranked(&hits)).await
}

pub(super) async fn messages(
    store: &SqliteStore,
    org: &OrgId,
    agent: AgentId,
    query: &MessageSearch,
    embedding: &Embedding,
) -> Result<Vec<Scored<Message>>, StoreError> {
    let mut conn = store.read().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let accept = message_filter(query);
    let probe = Probe { model: &embedding.model, vector: &embedding.vector };
    let k = query.limit as usize;
    let hits = store.inner.vectors.search(&mut conn, Kind::Messages, &agent_id, probe, k, accept).await?;
    messages_in_order(&mut conn, &ranked(&hits)).await
}

/// The hits as (key, score) pairs, best first.
fn ranked(hits: &[Hit]) -> Vec<(i64, f64)> {
    hits.iter().map(|hit| (hit.key, f64::from(hit.score))).collect()
}
