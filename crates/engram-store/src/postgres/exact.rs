//! Ranking without pgvector: the agent's vectors that pass the filters are read (little-endian `f32` bytea) in the
//! search's snapshot and scanned exactly in engram with `engram_core::vector`, on a blocking thread.
//!
//! Nothing is cached between searches: another engram process may add or delete vectors at any time, and reading
//! them in the same snapshot as the rows returned is what guarantees that a search never returns a deleted row or
//! misses a committed one. The cost is reading the agent's filtered vectors per search (about 1.5 kB per
//! 384-dimension vector), which is what the pgvector path avoids.

use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use engram_core::vector::{VectorSet, normalize};

use super::rows;
use super::vector_search::{Ranked, Search, decode_bytes};
use crate::error::StoreError;

/// The `k` best rows for the search, best first, ties by key.
pub(super) async fn rank(conn: &mut PgConnection, search: &Search<'_>) -> Result<Vec<Ranked>, StoreError> {
    let dim = search.vector.len();
    let table = search.kind.table();
    let mut sql = QueryBuilder::<Postgres>::new(format!("SELECT t.pk, t.embedding FROM {table} t WHERE t.agent_id = "));
    sql.push_bind(search.agent_id.to_owned());
    sql.push(" AND t.embedding_model IS NOT NULL AND t.embedding_dim = ").push_bind(dim as i64);
    search.filter.push(&mut sql, "t");
    let found = sql.build().fetch_all(&mut *conn).await?;
    let mut rows_read = Vec::with_capacity(found.len());
    for row in &found {
        let pk: i64 = row.try_get("pk").map_err(|e| rows::corrupt("pk", e))?;
        let bytes: Vec<u8> = row.try_get("embedding").map_err(|e| rows::corrupt("embedding", e))?;
        rows_read.push((pk, decode_bytes(&bytes)?));
    }
    drop(found);
    let mut query = search.vector.to_vec();
    let k = search.k;
    let scan = tokio::task::spawn_blocking(move || {
        let mut set = VectorSet::<()>::new(dim);
        for (pk, vector) in rows_read {
            if let Err(e) = set.push(pk, &vector, ()) {
                tracing::warn!(error = %e, key = pk, "a stored vector could not be searched");
            }
        }
        normalize(&mut query);
        set.exact_search(&query, k, |_, _| true)
    });
    let hits = scan.await.map_err(|e| StoreError::Corrupt(format!("vector scan failed: {e}")))?;
    Ok(hits.into_iter().map(|hit| Ranked { pk: hit.key, score: f64::from(hit.score) }).collect())
}
