//! Ranking with pgvector: cosine distance (`<=>`) computed by PostgreSQL.
//!
//! By default the ranking is exact: the agent's rows that pass the filters, ordered by their distance to the query
//! vector (parsed once, in a `MATERIALIZED` common table expression). An agent with more than `ann_threshold`
//! vectors of a dimension that has an HNSW index (the partial expression indexes of the migration:
//! `embedding::vector(N)` where `embedding_dim = N`) is first asked through that index, with `hnsw.ef_search`
//! raised for the request. The index holds every agent's vectors of that
//! dimension and pgvector 0.6 applies the other conditions after the index scan, so when that answer comes back
//! with fewer than `k` rows the exact ranking runs instead: a filter can never make results go missing.

use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use super::rows;
use super::vector_search::{Ranked, Search, vector_text};
use crate::error::StoreError;

/// The dimensions the migration made HNSW indexes for.
pub(super) const INDEXED_DIMS: [usize; 4] = [384, 768, 1024, 1536];

/// The `k` best rows for the search, best first, ties by key.
pub(super) async fn rank(
    conn: &mut PgConnection,
    search: &Search<'_>,
    ann_threshold: usize,
) -> Result<Vec<Ranked>, StoreError> {
    let dim = search.vector.len();
    if INDEXED_DIMS.contains(&dim) && vector_count_above(conn, search, ann_threshold).await? {
        let approximate = rank_with_index(conn, search).await?;
        if approximate.len() >= search.k {
            return Ok(approximate);
        }
    }
    rank_exactly(conn, search).await
}

/// Whether the agent has more than `threshold` vectors of the search's kind and dimension (counting at most one
/// more than the threshold).
async fn vector_count_above(
    conn: &mut PgConnection,
    search: &Search<'_>,
    threshold: usize,
) -> Result<bool, StoreError> {
    let limit = i64::try_from(threshold).unwrap_or(i64::MAX - 1) + 1;
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE agent_id = $1 AND embedding_model IS NOT NULL \
         AND embedding_dim = $2 LIMIT $3) AS counted",
        table = search.kind.table()
    );
    let dim = search.vector.len() as i64;
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(search.agent_id)
        .bind(dim)
        .bind(limit)
        .fetch_one(&mut *conn)
        .await?;
    Ok(n >= limit)
}

/// The exact ranking over the agent's rows that pass the filters.
async fn rank_exactly(conn: &mut PgConnection, search: &Search<'_>) -> Result<Vec<Ranked>, StoreError> {
    let dim = search.vector.len();
    let table = search.kind.table();
    // The query vector is parsed once, in a CTE of its own: written inline as `$1::vector`, a generic plan (which
    // PostgreSQL switches a prepared statement to after a few runs) parses its text form again for every row,
    // which made this ranking ~50 µs a row. Ordering by `t.embedding`, not the indexes' `embedding::vector(N)`
    // expression, keeps the planner from answering through an approximate index.
    let mut sql = QueryBuilder::<Postgres>::new("WITH query AS MATERIALIZED (SELECT ");
    sql.push_bind(vector_text(search.vector));
    sql.push(format!(
        "::vector AS v) SELECT t.pk, t.embedding <=> query.v AS distance FROM {table} t CROSS JOIN query \
         WHERE t.agent_id = "
    ));
    sql.push_bind(search.agent_id.to_owned());
    sql.push(format!(" AND t.embedding_model IS NOT NULL AND t.embedding_dim = {dim}"));
    search.filter.push(&mut sql, "t");
    sql.push(" ORDER BY distance, t.pk LIMIT ").push_bind(search.k as i64);
    fetch(conn, sql).await
}

/// The ranking through the HNSW index of the search's dimension (approximate).
async fn rank_with_index(conn: &mut PgConnection, search: &Search<'_>) -> Result<Vec<Ranked>, StoreError> {
    // A wider beam than pgvector's default of 40, since the other agents' rows and the filters take their share;
    // four times `k` beyond that (hybrid search asks for 50): the beam's cost grows with it, its recall hardly.
    let ef_search = (search.k * 4).clamp(100, 1000);
    sqlx::query("SELECT set_config('hnsw.ef_search', $1, true)")
        .bind(ef_search.to_string())
        .execute(&mut *conn)
        .await?;
    let mut ranked = fetch(conn, index_query("", search)).await?;
    // Equal distances in key order, like every other ranking.
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.pk.cmp(&b.pk)));
    Ok(ranked)
}

/// The statement of [`rank_with_index`], optionally behind a `prefix` such as `EXPLAIN `.
fn index_query<'a>(prefix: &str, search: &Search<'a>) -> QueryBuilder<Postgres> {
    let dim = search.vector.len();
    let table = search.kind.table();
    // The ORDER BY expression and the `embedding_dim` condition are the index's, written out as literals so that
    // the planner can match them.
    // The query vector is a scalar subquery (an init plan, parsed once) rather than `$1::vector(N)`, which a
    // generic plan would parse again for every row it does not get from the index.
    let mut sql =
        QueryBuilder::<Postgres>::new(format!("{prefix}SELECT t.pk, t.embedding::vector({dim}) <=> (SELECT "));
    sql.push_bind(vector_text(search.vector));
    sql.push(format!("::vector({dim})) AS distance FROM {table} t WHERE t.embedding_dim = {dim} AND t.agent_id = "));
    sql.push_bind(search.agent_id.to_owned());
    search.filter.push(&mut sql, "t");
    sql.push(" ORDER BY distance LIMIT ").push_bind(search.k as i64);
    sql
}

async fn fetch(conn: &mut PgConnection, mut sql: QueryBuilder<Postgres>) -> Result<Vec<Ranked>, StoreError> {
    let found = sql.build().fetch_all(&mut *conn).await?;
    found
        .iter()
        .map(|row| {
            let pk: i64 = row.try_get("pk").map_err(|e| rows::corrupt("pk", e))?;
            let distance: f64 = row.try_get("distance").map_err(|e| rows::corrupt("distance", e))?;
            Ok(Ranked { pk, score: 1.0 - distance })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use engram_core::search::{PassageFilter, TagMode};
    use engram_testkit::postgres::{PgVersion, TestDatabase};
    use sqlx::ConnectOptions;
    use sqlx::postgres::PgConnectOptions;

    use super::*;
    use crate::postgres::filters::Filter;
    use crate::postgres::vector_search::Kind;
    use crate::postgres::{VectorPath, migrate};

    /// The plan, not the timing: the index statement must be able to use the partial expression index of its
    /// dimension (its ORDER BY expression and `embedding_dim` condition match the index's), with and without
    /// filters. Sequential scans are switched off so that the planner shows what it can use, not what an empty
    /// table makes cheapest.
    #[tokio::test]
    async fn the_index_statement_can_use_the_hnsw_index_of_its_dimension() {
        let database = TestDatabase::create(PgVersion::Pg16).await;
        let mut conn = PgConnectOptions::from_str(database.url()).unwrap().connect().await.unwrap();
        assert_eq!(migrate::run(&mut conn).await.unwrap(), VectorPath::Pgvector);
        sqlx::query("SET enable_seqscan = off").execute(&mut conn).await.unwrap();
        let tags = vec![engram_core::agent::Tag::parse("tag", "x").unwrap()];
        let tagged = PassageFilter { tags, tag_mode: TagMode::All, from: Some(chrono::Utc::now()), to: None };
        let plain = PassageFilter::default();
        for dim in INDEXED_DIMS {
            let vector = vec![0.5_f32; dim];
            let searches = [
                (Kind::Passages, Filter::Passages(&plain)),
                (Kind::Passages, Filter::Passages(&tagged)),
                (Kind::Messages, Filter::Messages { role: None, from: None, to: None }),
                (
                    Kind::Messages,
                    Filter::Messages { role: Some(engram_core::message::Role::User), from: None, to: None },
                ),
            ];
            for (kind, filter) in searches {
                let search = Search { kind, agent_id: "agent_x", vector: &vector, k: 10, filter };
                let plan = index_query("EXPLAIN ", &search).build().fetch_all(&mut conn).await.unwrap();
                let plan: Vec<String> = plan.iter().map(|row| row.get::<String, _>(0)).collect();
                let index = format!("{}_embedding_{dim}", kind.table());
                assert!(plan.iter().any(|line| line.contains(&index)), "{dim} {filter:?}: {plan:#?}");
            }
        }
    }
}
