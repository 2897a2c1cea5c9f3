//! Vector search over passages and messages: filters turned into a row predicate, the agent's in-memory index
//! (`vectors`) scanned with it, and the hits read back from the database in rank order (`ranked`).

use engram_core::id::AgentId;
use engram_core::message::Message;
use engram_core::org::OrgId;
use engram_core::passage::{Embedding, Passage};
use engram_core::search::{MessageSearch, PassageQuery, Scored};
use engram_core::vector::Hit;

use super::ranked::{fetch_by_key, in_rank_order, time_bounds};
use super::rows::{self, MESSAGE_COLUMNS, PASSAGE_COLUMNS};
use super::vectors::{Kind, Probe, RowAttr, role_code};
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
    let tagged = store.inner.tags.matching(&mut conn, &agent_id, &query.filter).await?;
    let (from, to) = time_bounds(query.filter.from, query.filter.to);
    let accept = move |key: i64, attr: &RowAttr| {
        attr.time >= from && attr.time <= to && tagged.as_ref().is_none_or(|keys| keys.contains(&key))
    };
    let probe = Probe { model: &embedding.model, vector: &embedding.vector };
    let k = query.k as usize;
    let hits = store.inner.vectors.search(&mut conn, Kind::Passages, &agent_id, probe, k, accept).await?;
    let sql = format!("SELECT {PASSAGE_COLUMNS} FROM passages p WHERE p.pk IN ");
    let ranked = ranked(&hits);
    let found = fetch_by_key(&mut conn, &sql, &ranked).await?;
    in_rank_order(&ranked, found, |row| Ok(rows::passage(row, false)?.item))
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
    let (from, to) = time_bounds(query.from, query.to);
    let role = query.role.map(role_code);
    let accept = move |_key: i64, attr: &RowAttr| {
        attr.time >= from && attr.time <= to && role.is_none_or(|role| attr.role == role)
    };
    let probe = Probe { model: &embedding.model, vector: &embedding.vector };
    let k = query.limit as usize;
    let hits = store.inner.vectors.search(&mut conn, Kind::Messages, &agent_id, probe, k, accept).await?;
    let sql = format!("SELECT pk, {MESSAGE_COLUMNS} FROM messages WHERE pk IN ");
    let ranked = ranked(&hits);
    let found = fetch_by_key(&mut conn, &sql, &ranked).await?;
    in_rank_order(&ranked, found, rows::message)
}

/// The hits as (key, score) pairs, best first.
fn ranked(hits: &[Hit]) -> Vec<(i64, f64)> {
    hits.iter().map(|hit| (hit.key, f64::from(hit.score))).collect()
}
