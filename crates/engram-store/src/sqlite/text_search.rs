//! Full-text (BM25) search over passages and messages: filters turned into a row predicate, the agent's in-memory
//! text index (`text_cache`) ranked with it, and the hits read back from the database in rank order (`ranked`).
//! Messages are found in or out of the context window (compaction only flips `in_context`).

use engram_core::id::AgentId;
use engram_core::message::Message;
use engram_core::org::OrgId;
use engram_core::passage::Passage;
use engram_core::search::{MessageSearch, PassageQuery, Scored};

use super::ranked::{message_filter, messages_in_order, passage_filter, passages_in_order};
use super::vectors::Kind;
use super::{SqliteStore, agents};
use crate::error::StoreError;

pub(super) async fn passages(
    store: &SqliteStore,
    org: &OrgId,
    agent: AgentId,
    query: &PassageQuery,
) -> Result<Vec<Scored<Passage>>, StoreError> {
    let mut conn = store.read().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    if query.k == 0 {
        return Ok(Vec::new());
    }
    let accept = passage_filter(store, &mut conn, &agent_id, &query.filter).await?;
    let k = query.k as usize;
    let ranked =
        store.inner.texts.search(&mut conn, Kind::Passages, org.as_str(), &agent_id, &query.text, k, accept).await?;
    passages_in_order(&mut conn, &ranked).await
}

pub(super) async fn messages(
    store: &SqliteStore,
    org: &OrgId,
    agent: AgentId,
    query: &MessageSearch,
) -> Result<Vec<Scored<Message>>, StoreError> {
    let mut conn = store.read().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let accept = message_filter(query);
    let k = query.limit as usize;
    let ranked =
        store.inner.texts.search(&mut conn, Kind::Messages, org.as_str(), &agent_id, &query.text, k, accept).await?;
    messages_in_order(&mut conn, &ranked).await
}
