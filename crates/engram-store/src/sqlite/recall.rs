//! Full-text (BM25) search over an agent's messages through the FTS5 index `messages_fts`, in or out of the
//! context window (compaction only flips `in_context`, so evicted messages are found too).
//!
//! Built like the passage search in `search`: the query is `fts_query`'s expression (quoted words joined by `OR`), the
//! full-text index drives the join, and the role and time filters are part of the statement, so they apply before
//! ranking and the limit.

use sqlx::{QueryBuilder, Row, Sqlite};

use engram_core::id::AgentId;
use engram_core::message::Message;
use engram_core::org::OrgId;
use engram_core::search::{MessageSearch, Scored};

use super::fts_query;
use super::rows::{self, micros};
use super::{SqliteStore, agents};
use crate::error::StoreError;

/// Message columns with the table aliased `m` (the FTS table also has a `content` column).
const COLUMNS: &str = "m.id, m.agent_id, m.position, m.run_id, m.step_id, m.role, m.content, m.reasoning, \
     m.tool_calls, m.tool_call_id, m.tool_status, m.in_context, m.created_at";

pub(super) async fn messages_text(
    store: &SqliteStore,
    org: &OrgId,
    agent: AgentId,
    query: &MessageSearch,
) -> Result<Vec<Scored<Message>>, StoreError> {
    let mut conn = store.read().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    let Some(expression) = fts_query::selective_expression(&mut conn, "messages_fts", &query.text).await? else {
        return Ok(Vec::new());
    };
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let mut sql = search_sql("", expression, org, agent_id, query);
    let found = sql.build().fetch_all(&mut *conn).await?;
    found
        .iter()
        .map(|row| {
            let rank: f64 = row.try_get("rank").map_err(|e| rows::corrupt("rank", e))?;
            Ok(Scored { item: rows::message(row)?, score: -rank })
        })
        .collect()
}

/// The search statement, optionally behind a `prefix` such as `EXPLAIN QUERY PLAN `.
fn search_sql(
    prefix: &str,
    expression: String,
    org: &OrgId,
    agent_id: String,
    query: &MessageSearch,
) -> QueryBuilder<Sqlite> {
    // `CROSS JOIN` pins the join order, as for passages: the full-text index drives and each hit is looked up by
    // primary key, instead of re-running the match once per message of the agent.
    let mut sql = QueryBuilder::<Sqlite>::new(format!(
        "{prefix}SELECT {COLUMNS}, bm25(messages_fts) AS rank FROM messages_fts \
         CROSS JOIN messages m ON m.pk = messages_fts.rowid WHERE messages_fts MATCH "
    ));
    sql.push_bind(expression);
    sql.push(" AND m.org_id = ").push_bind(org.as_str().to_owned());
    sql.push(" AND m.agent_id = ").push_bind(agent_id);
    if let Some(role) = query.role {
        sql.push(" AND m.role = ").push_bind(role.as_str());
    }
    if let Some(from) = query.from {
        sql.push(" AND m.created_at >= ").push_bind(micros(from));
    }
    if let Some(to) = query.to {
        sql.push(" AND m.created_at <= ").push_bind(micros(to));
    }
    // Equal ranks fall back to position, so results are deterministic.
    sql.push(" ORDER BY rank, m.position LIMIT ").push_bind(i64::from(query.limit));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use engram_core::message::Role;

    /// The plan, not the timing: the full-text index must drive the join, with and without the filters.
    #[tokio::test]
    async fn the_full_text_index_drives_the_message_search() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), super::super::SqliteOptions::default()).await.unwrap();
        let org = OrgId::parse("org", "acme").unwrap();
        let filtered = MessageSearch {
            text: "who moved to Lisbon".into(),
            role: Some(Role::User),
            from: Some(chrono::Utc::now()),
            to: Some(chrono::Utc::now()),
            limit: 10,
        };
        let plain = MessageSearch { role: None, from: None, to: None, ..filtered.clone() };
        for query in [plain, filtered] {
            let expression = fts_query::match_expression(&query.text).unwrap();
            let mut sql = search_sql("EXPLAIN QUERY PLAN ", expression, &org, "agent_x".into(), &query);
            let mut conn = store.read().await.unwrap();
            let rows = sql.build().fetch_all(&mut *conn).await.unwrap();
            let steps: Vec<String> = rows.iter().map(|r| r.get::<String, _>("detail")).collect();
            assert!(steps[0].starts_with("SCAN messages_fts VIRTUAL TABLE"), "{query:?}: {steps:?}");
            assert!(steps.iter().any(|s| s.starts_with("SEARCH m USING INTEGER PRIMARY KEY")), "{steps:?}");
        }
    }
}
