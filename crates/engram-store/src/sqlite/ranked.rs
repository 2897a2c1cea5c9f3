//! What the in-memory rankings (vector and text) share: the filters they turn into a row predicate (time bounds and
//! role; the tag filter's keys come from `tag_cache`), and reading their ranked keys back from the database, best
//! first.

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use engram_core::message::Message;
use engram_core::passage::Passage;
use engram_core::search::{MessageSearch, PassageFilter, Scored};

use super::SqliteStore;
use super::rows::{self, MESSAGE_COLUMNS, PASSAGE_COLUMNS, micros};
use super::vectors::{RowAttr, role_code};
use crate::error::StoreError;

/// A row predicate the in-memory indexes call with a row's key and attributes.
pub(super) trait Accept: Fn(i64, &RowAttr) -> bool + Send + Sync + 'static {}

impl<F: Fn(i64, &RowAttr) -> bool + Send + Sync + 'static> Accept for F {}

/// The predicate of a passage filter: inside the time bounds and, if it names tags, holding them.
pub(super) async fn passage_filter(
    store: &SqliteStore,
    conn: &mut SqliteConnection,
    agent_id: &str,
    filter: &PassageFilter,
) -> Result<impl Accept + use<>, StoreError> {
    let tagged = store.inner.tags.matching(conn, agent_id, filter).await?;
    let (from, to) = time_bounds(filter.from, filter.to);
    Ok(move |key: i64, attr: &RowAttr| {
        attr.time >= from && attr.time <= to && tagged.as_ref().is_none_or(|keys| keys.contains(&key))
    })
}

/// The predicate of a message search's filters: inside the time bounds and of the role, if one is given.
pub(super) fn message_filter(query: &MessageSearch) -> impl Accept + use<> {
    let (from, to) = time_bounds(query.from, query.to);
    let role = query.role.map(role_code);
    move |_key: i64, attr: &RowAttr| attr.time >= from && attr.time <= to && role.is_none_or(|role| attr.role == role)
}

/// The passages of the ranked keys, best first.
pub(super) async fn passages_in_order(
    conn: &mut SqliteConnection,
    ranked: &[(i64, f64)],
) -> Result<Vec<Scored<Passage>>, StoreError> {
    let sql = format!("SELECT {PASSAGE_COLUMNS} FROM passages p WHERE p.pk IN ");
    let found = fetch_by_key(conn, &sql, ranked).await?;
    in_rank_order(ranked, found, |row| Ok(rows::passage(row, false)?.item))
}

/// The messages of the ranked keys, best first.
pub(super) async fn messages_in_order(
    conn: &mut SqliteConnection,
    ranked: &[(i64, f64)],
) -> Result<Vec<Scored<Message>>, StoreError> {
    let sql = format!("SELECT pk, {MESSAGE_COLUMNS} FROM messages WHERE pk IN ");
    let found = fetch_by_key(conn, &sql, ranked).await?;
    in_rank_order(ranked, found, rows::message)
}

/// Inclusive time bounds in micros; an absent bound is open.
fn time_bounds(from: Option<chrono::DateTime<chrono::Utc>>, to: Option<chrono::DateTime<chrono::Utc>>) -> (i64, i64) {
    (from.map_or(i64::MIN, micros), to.map_or(i64::MAX, micros))
}

/// The rows of the ranked keys (`select` ends in `pk IN `), keyed by pk.
async fn fetch_by_key(
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
fn in_rank_order<T>(
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
