//! Full-text search over an agent's passages and messages: the generated `search` tsvector columns (GIN-indexed),
//! matched against a tsquery built from [`query_terms`] and ranked with `ts_rank`.
//!
//! Each term is bound as a parameter and turned into a tsquery with `plainto_tsquery('engram_english', …)`; the
//! terms are joined with `||` (OR), so rows sharing any word match, and no user text is ever read as tsquery syntax.
//! `engram_english` stems like SQLite's porter tokenizer and keeps every word (no stop-word list), so a query made
//! only of function words still matches. `ts_rank` with normalisation 1 (divided by 1 + the log of the row's
//! length) ranks rows with more occurrences of the words first, shorter rows first among equals; it has no inverse
//! document frequency, unlike SQLite's BM25, so scores differ between the backends but are higher-is-better on
//! both. The filters are part of the statement, so they apply before ranking and the limit.

use sqlx::{Postgres, QueryBuilder, Row};

use engram_core::id::AgentId;
use engram_core::message::Message;
use engram_core::org::OrgId;
use engram_core::passage::Passage;
use engram_core::search::{MessageSearch, PassageQuery, Scored, query_terms};

use super::filters::Filter;
use super::rows::{self, MESSAGE_COLUMNS, PASSAGE_COLUMNS};
use super::{PostgresStore, agents};
use crate::error::StoreError;

/// `SELECT <columns>, ts_rank(…) AS rank FROM <table> <alias> … WHERE <alias>.search @@ <query>`, the start of
/// both searches, or `None` when the text has no words.
fn matching(columns: &str, table: &str, alias: &str, text: &str) -> Option<QueryBuilder<Postgres>> {
    let terms = query_terms(text);
    if terms.is_empty() {
        return None;
    }
    let mut sql = QueryBuilder::<Postgres>::new(format!(
        "SELECT {columns}, ts_rank({alias}.search, q.query, 1) AS rank FROM {table} {alias} CROSS JOIN (SELECT "
    ));
    for (i, term) in terms.into_iter().enumerate() {
        if i > 0 {
            sql.push(" || ");
        }
        sql.push("plainto_tsquery('engram_english', ").push_bind(term).push(")");
    }
    sql.push(format!(" AS query) q WHERE {alias}.search @@ q.query"));
    Some(sql)
}

pub(super) async fn passages(
    store: &PostgresStore,
    org: &OrgId,
    agent: AgentId,
    query: &PassageQuery,
) -> Result<Vec<Scored<Passage>>, StoreError> {
    let mut conn = store.conn().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    let Some(mut sql) = matching(PASSAGE_COLUMNS, "passages", "p", &query.text) else {
        return Ok(Vec::new());
    };
    sql.push(" AND p.agent_id = ").push_bind(agent_id);
    Filter::Passages(&query.filter).push(&mut sql, "p");
    sql.push(" ORDER BY rank DESC, p.pk LIMIT ").push_bind(i64::from(query.k));
    let found = sql.build().fetch_all(&mut *conn).await?;
    found.iter().map(|row| Ok(Scored { item: rows::passage(row, None)?.item, score: rank(row)? })).collect()
}

pub(super) async fn messages(
    store: &PostgresStore,
    org: &OrgId,
    agent: AgentId,
    query: &MessageSearch,
) -> Result<Vec<Scored<Message>>, StoreError> {
    let mut conn = store.conn().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let Some(mut sql) = matching(MESSAGE_COLUMNS, "messages", "m", &query.text) else {
        return Ok(Vec::new());
    };
    sql.push(" AND m.org_id = ").push_bind(org.as_str().to_owned());
    sql.push(" AND m.agent_id = ").push_bind(agent_id);
    Filter::messages(query).push(&mut sql, "m");
    // Equal ranks fall back to position, so results are deterministic.
    sql.push(" ORDER BY rank DESC, m.position LIMIT ").push_bind(i64::from(query.limit));
    let found = sql.build().fetch_all(&mut *conn).await?;
    found.iter().map(|row| Ok(Scored { item: rows::message(row)?, score: rank(row)? })).collect()
}

fn rank(row: &sqlx::postgres::PgRow) -> Result<f64, StoreError> {
    let rank: f32 = row.try_get("rank").map_err(|e| rows::corrupt("rank", e))?;
    Ok(f64::from(rank))
}
