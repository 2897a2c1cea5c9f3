//! Full-text (BM25) search over an agent's passages through the FTS5 index `passages_fts`.
//!
//! The query is `fts_query`'s expression: the words double-quoted (so no user text is read as FTS syntax) and joined
//! with `OR`, so passages sharing any word match and BM25 ranks those sharing more, rarer words first. Tag
//! and time filters are part of the same statement, so they apply before ranking and the limit.

use std::collections::BTreeSet;

use sqlx::{QueryBuilder, Row, Sqlite};

use engram_core::id::AgentId;
use engram_core::org::OrgId;
use engram_core::passage::Passage;
use engram_core::search::{PassageQuery, Scored, TagMode};

use super::rows::{self, PASSAGE_COLUMNS, micros};
use super::{SqliteStore, agents, fts_query};
use crate::error::StoreError;

pub(super) async fn passages_text(
    store: &SqliteStore,
    org: &OrgId,
    agent: AgentId,
    query: &PassageQuery,
) -> Result<Vec<Scored<Passage>>, StoreError> {
    let mut conn = store.read().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    let Some(expression) = fts_query::selective_expression(&mut conn, "passages_fts", &query.text).await? else {
        return Ok(Vec::new());
    };

    let mut sql = search_sql("", expression, agent_id, query);
    let found = sql.build().fetch_all(&mut *conn).await?;
    found
        .iter()
        .map(|row| {
            let rank: f64 = row.try_get("rank").map_err(|e| rows::corrupt("rank", e))?;
            Ok(Scored { item: rows::passage(row, false)?.item, score: -rank })
        })
        .collect()
}

/// The search statement, optionally behind a `prefix` such as `EXPLAIN QUERY PLAN `.
fn search_sql(prefix: &str, expression: String, agent_id: String, query: &PassageQuery) -> QueryBuilder<Sqlite> {
    // `CROSS JOIN` pins the join order: the full-text index drives and each hit is looked up by primary key.
    // Left to itself (no ANALYZE statistics), SQLite prefers the `agent_id` index and then re-runs the whole MATCH
    // once per passage of the agent, which took seconds at 10k passages instead of milliseconds.
    // The ranking sorts only (pk, rank) pairs; the k winners' columns are read afterwards, so a query matching
    // thousands of rows does not carry their text through the sort.
    let mut sql = QueryBuilder::<Sqlite>::new(format!(
        "{prefix}SELECT {PASSAGE_COLUMNS}, hits.rank AS rank FROM (SELECT p.pk AS pk, bm25(passages_fts) AS rank \
         FROM passages_fts CROSS JOIN passages p ON p.pk = passages_fts.rowid WHERE passages_fts MATCH "
    ));
    sql.push_bind(expression);
    sql.push(" AND p.agent_id = ").push_bind(agent_id);
    let filter = &query.filter;
    if let Some(from) = filter.from {
        sql.push(" AND p.created_at >= ").push_bind(micros(from));
    }
    if let Some(to) = filter.to {
        sql.push(" AND p.created_at <= ").push_bind(micros(to));
    }
    let tags: BTreeSet<&str> = filter.tags.iter().map(|t| t.as_str()).collect();
    if !tags.is_empty() {
        sql.push(match filter.tag_mode {
            TagMode::Any => " AND EXISTS (SELECT 1",
            TagMode::All => " AND (SELECT COUNT(*)",
        });
        sql.push(" FROM passage_tags t WHERE t.passage_pk = p.pk AND t.tag IN (");
        let mut list = sql.separated(", ");
        for tag in &tags {
            list.push_bind(tag.to_string());
        }
        sql.push("))");
        if filter.tag_mode == TagMode::All {
            sql.push(" = ").push_bind(tags.len() as i64);
        }
    }
    sql.push(" ORDER BY rank LIMIT ").push_bind(i64::from(query.k));
    sql.push(") hits CROSS JOIN passages p ON p.pk = hits.pk ORDER BY hits.rank");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan, not the timing: the full-text index must drive the join, with every filter in play. (Without the
    /// pinned order SQLite 3.51 drove from the agent index and re-ran the match per passage.)
    #[tokio::test]
    async fn the_full_text_index_drives_the_search() {
        use engram_core::agent::Tag;
        use engram_core::search::PassageFilter;

        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), super::super::SqliteOptions::default()).await.unwrap();
        let query = PassageQuery {
            text: "who moved to Lisbon".into(),
            k: 10,
            filter: PassageFilter {
                tags: vec![Tag::parse("t", "a").unwrap(), Tag::parse("t", "b").unwrap()],
                tag_mode: TagMode::All,
                from: Some(chrono::Utc::now()),
                to: Some(chrono::Utc::now()),
            },
        };
        for filtered in [false, true] {
            let mut q = query.clone();
            if !filtered {
                q.filter = PassageFilter::default();
            }
            let expression = fts_query::match_expression(&q.text).unwrap();
            let mut sql = search_sql("EXPLAIN QUERY PLAN ", expression, "agent_x".into(), &q);
            let mut conn = store.read().await.unwrap();
            let rows = sql.build().fetch_all(&mut *conn).await.unwrap();
            let steps: Vec<String> = rows.iter().map(|r| r.get::<String, _>("detail")).collect();
            let scan = steps.iter().position(|s| s.starts_with("SCAN passages_fts VIRTUAL TABLE"));
            assert!(scan.is_some(), "filtered={filtered}: {steps:?}");
            assert!(!steps.iter().any(|s| s.contains("passages_agent")), "no agent index: {steps:?}");
            assert!(steps.iter().any(|s| s.starts_with("SEARCH p USING INTEGER PRIMARY KEY")), "{steps:?}");
        }
    }
}
