//! What the in-memory rankings (vector and text) share: the time bounds they turn into a row predicate (the tag
//! filter's keys come from `tag_cache`) and reading their ranked keys back from the database, best first.

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use engram_core::search::Scored;

use super::rows::{self, micros};
use crate::error::StoreError;

/// Inclusive time bounds in micros; an absent bound is open.
pub(super) fn time_bounds(
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> (i64, i64) {
    (from.map_or(i64::MIN, micros), to.map_or(i64::MAX, micros))
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
