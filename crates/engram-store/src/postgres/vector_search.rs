//! Vector search over passages and messages, and what the write paths share about vectors: how an embedding is
//! bound and read back on either [`VectorPath`], and the check that an agent's vectors all come from one model.
//!
//! A search runs in one read-only snapshot: the agent's existence, the model check, the ranking (by `pgvector` in
//! the database, or by `exact` in engram) and the reading of the ranked rows all see the same committed state, so a
//! row deleted meanwhile is never returned and a committed one is never missed. The filters are conditions of the
//! ranking statement (`filters`), so they apply before the limit.

use std::collections::HashMap;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgConnection, Postgres, Row};

use engram_core::id::AgentId;
use engram_core::message::Message;
use engram_core::org::OrgId;
use engram_core::passage::{Embedding, Passage};
use engram_core::search::{MessageSearch, PassageQuery, Scored};

use super::filters::Filter;
use super::rows::{self, MESSAGE_COLUMNS, PASSAGE_COLUMNS};
use super::{PostgresStore, VectorPath, agents, commit, exact, pgvector};
use crate::error::StoreError;

/// Passages or messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Passages,
    Messages,
}

impl Kind {
    pub(super) fn table(self) -> &'static str {
        match self {
            Kind::Passages => "passages",
            Kind::Messages => "messages",
        }
    }

    /// The word errors use.
    pub(super) fn plural(self) -> &'static str {
        self.table()
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// The placeholder of a vector parameter `$n` in an insert or update on `path`.
pub(super) fn placeholder(path: VectorPath, n: usize) -> String {
    match path {
        VectorPath::Pgvector => format!("${n}::vector"),
        VectorPath::Exact => format!("${n}::bytea"),
    }
}

/// Binds a vector (or NULL) in the form `path` stores: pgvector's text form, or little-endian `f32` bytes.
pub(super) fn bind_vector<'q>(query: PgQuery<'q>, path: VectorPath, vector: Option<&[f32]>) -> PgQuery<'q> {
    match path {
        VectorPath::Pgvector => query.bind(vector.map(vector_text)),
        VectorPath::Exact => query.bind(vector.map(encode_bytes)),
    }
}

/// The bytea form of a vector is SQLite's: little-endian `f32`s.
pub(super) use crate::codec::{decode_vector as decode_bytes, encode_vector as encode_bytes};
pub(super) use crate::codec::{parse_vector_text, vector_text};

/// The select expression for the embedding of the table aliased `alias`, read with [`embedding_col`].
pub(super) fn embedding_select(path: VectorPath, alias: &str) -> String {
    match path {
        VectorPath::Pgvector => format!("{alias}.embedding::text AS embedding, {alias}.embedding_model"),
        VectorPath::Exact => format!("{alias}.embedding, {alias}.embedding_model"),
    }
}

/// The embedding selected with [`embedding_select`], if the row has one.
pub(super) fn embedding_col(row: &PgRow, path: VectorPath) -> Result<Option<Embedding>, StoreError> {
    let model: Option<String> = rows::col(row, "embedding_model")?;
    let vector = match path {
        VectorPath::Pgvector => {
            rows::col::<Option<String>>(row, "embedding")?.map(|text| parse_vector_text(&text)).transpose()?
        }
        VectorPath::Exact => rows::col::<Option<Vec<u8>>>(row, "embedding")?.map(|b| decode_bytes(&b)).transpose()?,
    };
    match (vector, model) {
        (Some(vector), Some(model)) => Ok(Some(Embedding { model, vector })),
        (None, None) => Ok(None),
        _ => Err(rows::corrupt("embedding", "vector and model must be stored together")),
    }
}

/// The model and dimension of an agent's stored vectors of `kind` that differ from `model`/`dim`, if any: the check
/// a write or a search makes first. Four index seeks (a model sorting before or after `model`, or `model` with a
/// smaller or larger dimension), so it costs the same at any number of rows.
pub(super) async fn other_model(
    conn: &mut PgConnection,
    kind: Kind,
    agent_id: &str,
    model: &str,
    dim: usize,
) -> Result<Option<(String, usize)>, StoreError> {
    let table = kind.table();
    let probe = |condition: &str| {
        format!(
            "(SELECT embedding_model, embedding_dim FROM {table} WHERE agent_id = $1 AND embedding_model IS NOT NULL \
             AND {condition} LIMIT 1)"
        )
    };
    let sql = [
        probe("embedding_model < $2"),
        probe("embedding_model > $2"),
        probe("embedding_model = $2 AND embedding_dim < $3"),
        probe("embedding_model = $2 AND embedding_dim > $3"),
    ]
    .join(" UNION ALL ");
    let dim = i64::try_from(dim).unwrap_or(i64::MAX);
    let found: Vec<(String, Option<i64>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(agent_id).bind(model).bind(dim).fetch_all(&mut *conn).await?;
    Ok(found.into_iter().next().map(|(model, dim)| (model, dim.and_then(|d| usize::try_from(d).ok()).unwrap_or(0))))
}

/// One ranked row: its key and cosine similarity to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Ranked {
    pub pk: i64,
    pub score: f64,
}

/// The `k` best rows of `kind` of the agent for `probe` among those `filter` keeps, best first: after refusing a
/// probe of another model or dimension than the agent's vectors.
async fn rank(
    store: &PostgresStore,
    conn: &mut PgConnection,
    kind: Kind,
    agent_id: &str,
    probe: &Embedding,
    k: u32,
    filter: Filter<'_>,
) -> Result<Vec<Ranked>, StoreError> {
    let dim = probe.vector.len();
    if let Some((stored_model, stored_dim)) = other_model(conn, kind, agent_id, &probe.model, dim).await? {
        return Err(StoreError::EmbeddingMismatch {
            kind: kind.plural(),
            what: "query",
            stored_model,
            stored_dim,
            model: probe.model.clone(),
            dim,
        });
    }
    if k == 0 || dim == 0 {
        return Ok(Vec::new());
    }
    let search = Search { kind, agent_id, vector: &probe.vector, k: k as usize, filter };
    match store.inner.vector_path {
        VectorPath::Pgvector => pgvector::rank(conn, &search, store.inner.ann_threshold).await,
        VectorPath::Exact => exact::rank(conn, &search).await,
    }
}

/// What a ranking needs.
pub(super) struct Search<'a> {
    pub kind: Kind,
    pub agent_id: &'a str,
    pub vector: &'a [f32],
    pub k: usize,
    pub filter: Filter<'a>,
}

pub(super) async fn passages(
    store: &PostgresStore,
    org: &OrgId,
    agent: AgentId,
    query: &PassageQuery,
    embedding: &Embedding,
) -> Result<Vec<Scored<Passage>>, StoreError> {
    let mut tx = store.snapshot().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut tx, org, &agent_id).await?;
    let filter = Filter::Passages(&query.filter);
    let ranked = rank(store, &mut tx, Kind::Passages, &agent_id, embedding, query.k, filter).await?;
    let sql = format!("SELECT {PASSAGE_COLUMNS} FROM passages p WHERE p.pk = ANY($1)");
    let found = fetch_by_key(&mut tx, &sql, &ranked).await?;
    let results = in_rank_order(&ranked, found, |row| Ok(rows::passage(row, None)?.item))?;
    commit(tx, results).await
}

pub(super) async fn messages(
    store: &PostgresStore,
    org: &OrgId,
    agent: AgentId,
    query: &MessageSearch,
    embedding: &Embedding,
) -> Result<Vec<Scored<Message>>, StoreError> {
    let mut tx = store.snapshot().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut tx, org, &agent_id).await?;
    if query.limit == 0 {
        return commit(tx, Vec::new()).await;
    }
    let filter = Filter::messages(query);
    let ranked = rank(store, &mut tx, Kind::Messages, &agent_id, embedding, query.limit, filter).await?;
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.pk = ANY($1)");
    let found = fetch_by_key(&mut tx, &sql, &ranked).await?;
    let results = in_rank_order(&ranked, found, rows::message)?;
    commit(tx, results).await
}

/// The rows with the ranked keys (`select` filters on `pk = ANY($1)`), keyed by pk.
async fn fetch_by_key(
    conn: &mut PgConnection,
    select: &str,
    ranked: &[Ranked],
) -> Result<HashMap<i64, PgRow>, StoreError> {
    if ranked.is_empty() {
        return Ok(HashMap::new());
    }
    let keys: Vec<i64> = ranked.iter().map(|r| r.pk).collect();
    let found = sqlx::query(sqlx::AssertSqlSafe(select.to_owned())).bind(keys).fetch_all(&mut *conn).await?;
    found
        .into_iter()
        .map(|row| {
            let pk: i64 = row.try_get("pk").map_err(|e| rows::corrupt("pk", e))?;
            Ok((pk, row))
        })
        .collect()
}

/// The ranked rows as results, best first.
fn in_rank_order<T>(
    ranked: &[Ranked],
    mut found: HashMap<i64, PgRow>,
    decode: impl Fn(&PgRow) -> Result<T, StoreError>,
) -> Result<Vec<Scored<T>>, StoreError> {
    ranked
        .iter()
        .filter_map(|r| found.remove(&r.pk).map(|row| (r.score, row)))
        .map(|(score, row)| Ok(Scored { item: decode(&row)?, score }))
        .collect()
}
