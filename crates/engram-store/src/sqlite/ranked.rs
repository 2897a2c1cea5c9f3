//! What the in-memory rankings (vector and text) share: the filters they turn into a row predicate (time bounds,
//! the passages holding the wanted tags) and reading their ranked keys back from the database, best first.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use engram_core::search::{PassageFilter, Scored, TagMode};

use super::rows::{self, micros};
use crate::error::StoreError;

/// Inclusive time bounds in micros; an absent bound is open.
pub(super) fn time_bounds(
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> (i64, i64) {
    (from.map_or(i64::MIN, micros), to.map_or(i64::MAX, micros))
}

/// The keys of the agent's passages that pass the tag filter, or `None` when there is no tag filter.
pub(super) async fn tagged_passages(
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

/// The rows of the ranked keys (`select` ends in `pk IN `), keyed by pk.
pub(super) async fn fetch_by_key(
    conn: &mut SqliteConnection,
    select: &str,
    ranked: &[(i64, f64)],
) -> Result<HashMap<i64, sqlx::sqlite::SqliteRow>, StoreError> {
    if ranked.is_empty() {
        return Ok(HashMap::new());
    }
    let mut sql = QueryBuilder::<Sqlite>::new(select);
    sql.push("(");
    let mut list = sql.separated(", ");
    for (key, _) in ranked {
        list.push_bind(*key);
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

/// The ranked keys as results, best first. A key whose row is gone (deleted after the ranking) is left out.
pub(super) fn in_rank_order<T>(
    ranked: &[(i64, f64)],
    mut found: HashMap<i64, sqlx::sqlite::SqliteRow>,
    decode: impl Fn(&sqlx::sqlite::SqliteRow) -> Result<T, StoreError>,
) -> Result<Vec<Scored<T>>, StoreError> {
    ranked
        .iter()
        .filter_map(|(key, score)| found.remove(key).map(|row| (*score, row)))
        .map(|(score, row)| Ok(Scored { item: decode(&row)?, score }))
        .collect()
}
