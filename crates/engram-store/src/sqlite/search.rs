//! Full-text (BM25) search over an agent's passages through the FTS5 index `passages_fts`.
//!
//! The query is built from [`query_terms`]: each word double-quoted (so no user text is read as FTS syntax) and
//! joined with `OR`, so passages sharing any word match and BM25 ranks those sharing more, rarer words first. Tag
//! and time filters are part of the same statement, so they apply before ranking and the limit.

use std::collections::BTreeSet;

use sqlx::{QueryBuilder, Row, Sqlite};

use engram_core::id::AgentId;
use engram_core::org::OrgId;
use engram_core::passage::Passage;
use engram_core::search::{PassageQuery, Scored, TagMode, query_terms};

use super::rows::{self, PASSAGE_COLUMNS, micros};
use super::{SqliteStore, agents};
use crate::error::StoreError;

/// The FTS5 expression matching any of the terms, or `None` when the text has no words.
pub(super) fn match_expression(text: &str) -> Option<String> {
    let terms = query_terms(text);
    if terms.is_empty() {
        return None;
    }
    let quoted: Vec<String> = terms.iter().map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect();
    Some(quoted.join(" OR "))
}

pub(super) async fn passages_text(
    store: &SqliteStore,
    org: &OrgId,
    agent: AgentId,
    query: &PassageQuery,
) -> Result<Vec<Scored<Passage>>, StoreError> {
    let mut conn = store.read().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    let Some(expression) = match_expression(&query.text) else {
        return Ok(Vec::new());
    };

    // `CROSS JOIN` pins the join order: the full-text index drives and each hit is looked up by primary key.
    // Left to itself (no ANALYZE statistics), SQLite prefers the `agent_id` index and then re-runs the whole MATCH
    // once per passage of the agent, which took seconds at 10k passages instead of milliseconds.
    let mut sql = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {PASSAGE_COLUMNS}, bm25(passages_fts) AS rank FROM passages_fts \
         CROSS JOIN passages p ON p.pk = passages_fts.rowid WHERE passages_fts MATCH "
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

    let found = sql.build().fetch_all(&mut *conn).await?;
    found
        .iter()
        .map(|row| {
            let rank: f64 = row.try_get("rank").map_err(|e| rows::corrupt("rank", e))?;
            Ok(Scored { item: rows::passage(row, false)?.item, score: -rank })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_expressions_quote_every_term() {
        assert_eq!(match_expression("Where's the cat?").as_deref(), Some("\"where\" OR \"s\" OR \"the\" OR \"cat\""));
        assert_eq!(match_expression("NEAR(a b) AND *"), Some("\"near\" OR \"a\" OR \"b\" OR \"and\"".to_owned()));
        assert_eq!(match_expression(" -- "), None);
    }
}
