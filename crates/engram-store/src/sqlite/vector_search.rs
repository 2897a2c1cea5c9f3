//! Vector search over passages and messages: filters turned into a row predicate, the agent's in-memory index
//! (`vectors`) scanned with it, and the hits read back from the database in rank order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use engram_core::id::AgentId;
use engram_core::message::Message;
use engram_core::org::OrgId;
use engram_core::passage::{Embedding, Passage};
use engram_core::search::{MessageSearch, PassageFilter, PassageQuery, Scored, TagMode};
use engram_core::vector::Hit;

use super::rows::{self, MESSAGE_COLUMNS, PASSAGE_COLUMNS, micros};
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
    let tagged = tagged_passages(&mut conn, &agent_id, &query.filter).await?;
    let (from, to) = time_bounds(query.filter.from, query.filter.to);
    let accept = move |key: i64, attr: &RowAttr| {
        attr.time >= from && attr.time <= to && tagged.as_ref().is_none_or(|keys| keys.contains(&key))
    };
    let probe = Probe { model: &embedding.model, vector: &embedding.vector };
    let k = query.k as usize;
    let hits = store.inner.vectors.search(&mut conn, Kind::Passages, &agent_id, probe, k, accept).await?;
    let sql = format!("SELECT {PASSAGE_COLUMNS} FROM passages p WHERE p.pk IN ");
    let found = fetch_by_key(&mut conn, &sql, &hits).await?;
    in_rank_order(&hits, found, |row| Ok(rows::passage(row, false)?.item))
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
    let found = fetch_by_key(&mut conn, &sql, &hits).await?;
    in_rank_order(&hits, found, rows::message)
}

/// Inclusive time bounds in micros; an absent bound is open.
fn time_bounds(from: Option<chrono::DateTime<chrono::Utc>>, to: Option<chrono::DateTime<chrono::Utc>>) -> (i64, i64) {
    (from.map_or(i64::MIN, micros), to.map_or(i64::MAX, micros))
}

/// The keys of the agent's passages that pass the tag filter, or `None` when there is no tag filter.
async fn tagged_passages(
    conn: &mut SqliteConnection,
    agent_id: &str,
    filter: &PassageFilter,
) -> Result<Option<Arc<HashSet<i64>>>, StoreError> {
    let tags: std::collections::BTreeSet<&str> = filter.tags.iter().map(|t| t.as_str()).collect();
    if tags.is_empty() {
        return Ok(None);
    }
    let mut sql = QueryBuilder::<Sqlite>::new("SELECT passage_pk FROM passage_tags WHERE agent_id = ");
    sql.push_bind(agent_id.to_owned()).push(" AND tag IN (");
    let mut list = sql.separated(", ");
    for tag in &tags {
        list.push_bind(tag.to_string());
    }
    sql.push(")");
    // Any: a passage holding two of the tags comes twice and the set keeps it once, so no grouping is needed and
    // the covering index `(agent_id, tag, passage_pk)` answers alone.
    if filter.tag_mode == TagMode::All {
        sql.push(" GROUP BY passage_pk HAVING COUNT(*) = ").push_bind(tags.len() as i64);
    }
    let keys: Vec<i64> = sql.build_query_scalar().fetch_all(&mut *conn).await?;
    Ok(Some(Arc::new(keys.into_iter().collect())))
}

/// The rows with the hits' keys (`select` ends in `pk IN `), keyed by pk.
async fn fetch_by_key(
    conn: &mut SqliteConnection,
    select: &str,
    hits: &[Hit],
) -> Result<HashMap<i64, sqlx::sqlite::SqliteRow>, StoreError> {
    if hits.is_empty() {
        return Ok(HashMap::new());
    }
    let mut sql = QueryBuilder::<Sqlite>::new(select);
    sql.push("(");
    let mut list = sql.separated(", ");
    for hit in hits {
        list.push_bind(hit.key);
    }
    sql.push(")");
    let found = sql.build().fetch_all(&mut *conn).await?;
    found
        .into_iter()
        .map(|row| {
            let pk: i64 = row.try_get("pk").map_err(|e| rows::corrupt("pk", e))?;
            Ok((pk, row))
        })
        .collect()
}

/// The hits as results, best first. A hit whose row is gone (deleted after the scan) is left out.
fn in_rank_order<T>(
    hits: &[Hit],
    mut found: HashMap<i64, sqlx::sqlite::SqliteRow>,
    decode: impl Fn(&sqlx::sqlite::SqliteRow) -> Result<T, StoreError>,
) -> Result<Vec<Scored<T>>, StoreError> {
    hits.iter()
        .filter_map(|hit| found.remove(&hit.key).map(|row| (hit.score, row)))
        .map(|(score, row)| Ok(Scored { item: decode(&row)?, score: f64::from(score) }))
        .collect()
}
