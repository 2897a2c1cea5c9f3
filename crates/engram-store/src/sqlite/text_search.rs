//! Full-text (BM25) search over passages and messages: filters turned into a row predicate, the agent's in-memory
//! text index (`text_cache`) ranked with it, and the hits read back from the database in rank order (`ranked`).
//! Messages are found in or out of the context window (compaction only flips `in_context`).

use engram_core::id::AgentId;
use engram_core::message::Message;
use engram_core::org::OrgId;
use engram_core::passage::Passage;
use engram_core::search::{MessageSearch, PassageQuery, Scored};

use super::ranked::{fetch_by_key, in_rank_order, time_bounds};
use super::rows::{self, MESSAGE_COLUMNS, PASSAGE_COLUMNS};
use super::vectors::{Kind, RowAttr, role_code};
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
    let tagged = store.inner.tags.matching(&mut conn, &agent_id, &query.filter).await?;
    let (from, to) = time_bounds(query.filter.from, query.filter.to);
    let accept = move |key: i64, attr: &RowAttr| {
        attr.time >= from && attr.time <= to && tagged.as_ref().is_none_or(|keys| keys.contains(&key))
    };
    let k = query.k as usize;
    let ranked =
        store.inner.texts.search(&mut conn, Kind::Passages, org.as_str(), &agent_id, &query.text, k, accept).await?;
    let sql = format!("SELECT {PASSAGE_COLUMNS} FROM passages p WHERE p.pk IN ");
    let found = fetch_by_key(&mut conn, &sql, &ranked).await?;
    in_rank_order(&ranked, found, |row| Ok(rows::passage(row, false)?.item))
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
    let (from, to) = time_bounds(query.from, query.to);
    let role = query.role.map(role_code);
    let accept = move |_key: i64, attr: &RowAttr| {
        attr.time >= from && attr.time <= to && role.is_none_or(|role| attr.role == role)
    };
    let k = query.limit as usize;
    let ranked =
        store.inner.texts.search(&mut conn, Kind::Messages, org.as_str(), &agent_id, &query.text, k, accept).await?;
    let sql = format!("SELECT pk, {MESSAGE_COLUMNS} FROM messages WHERE pk IN ");
    let found = fetch_by_key(&mut conn, &sql, &ranked).await?;
    in_rank_order(&ranked, found, rows::message)
}
