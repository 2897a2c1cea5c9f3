//! The in-memory vector indexes behind vector search: one per agent and kind (passages, messages), loaded from the
//! database on the agent's first vector search and kept in step with every later write of this process.
//!
//! The database stays the truth; an index is derived from it and rebuilt after a restart, so it can never disagree
//! with committed rows for longer than one write. The ordering that guarantees this:
//! - a loader holds the entry's `gate` while it reads the rows and installs the index;
//! - a writer commits first, then takes the `gate` and applies its change to a loaded index (pushes replace by key,
//!   removals of absent keys do nothing, so applying a change the loader already saw is harmless).
//!
//! A writer that commits before a load starts is seen by the load; one that commits after waits for the gate and then
//! applies its change. The SQLite backend is one process per data directory, so no other process can write behind
//! the index's back. Scans and index updates run on blocking threads, never on the async workers.

use std::sync::{Arc, PoisonError};

use engram_core::vector::{Hit, IndexConfig, VectorIndex};
use sqlx::{Row, SqliteConnection};

use super::rows::{self, decode_vector};
use super::shelf::{Entry, Shelf};
use crate::error::StoreError;

/// What the index keeps of a row so filters run during the scan: its time (micros) and, for messages, its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RowAttr {
    pub time: i64,
    pub role: u8,
}

/// Passages or messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Passages,
    Messages,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Kind::Passages => "passages",
            Kind::Messages => "messages",
        }
    }

    pub(super) fn plural(self) -> &'static str {
        self.table()
    }

    /// The SQL expression of a row's role code (passages have none).
    pub(super) fn role_sql(self) -> &'static str {
        match self {
            Kind::Passages => "0",
            Kind::Messages => {
                "CASE role WHEN 'system' THEN 1 WHEN 'user' THEN 2 WHEN 'assistant' THEN 3 \
                               WHEN 'tool' THEN 4 WHEN 'summary' THEN 5 ELSE 0 END"
            }
        }
    }
}

/// The role code stored in [`RowAttr::role`].
pub(super) fn role_code(role: engram_core::message::Role) -> u8 {
    use engram_core::message::Role;
    match role {
        Role::System => 1,
        Role::User => 2,
        Role::Assistant => 3,
        Role::Tool => 4,
        Role::Summary => 5,
    }
}

/// One agent's loaded vectors: the model that made them (all the same) and the index; `None` before the first
/// vector arrives.
struct Loaded {
    model: Option<(String, usize)>,
    index: Option<VectorIndex<RowAttr>>,
}

/// A row to add to a loaded index after its commit.
pub(super) struct NewVector {
    pub key: i64,
    pub model: String,
    pub vector: Vec<f32>,
    pub attr: RowAttr,
}

/// The vector indexes of one store.
#[derive(Default)]
pub(super) struct VectorCache {
    config: IndexConfig,
    passages: Shelf<Loaded>,
    messages: Shelf<Loaded>,
}

/// What a search is compared against: the query's model and vector.
pub(super) struct Probe<'a> {
    pub model: &'a str,
    pub vector: &'a [f32],
}

impl VectorCache {
    fn shelf(&self, kind: Kind) -> &Shelf<Loaded> {
        match kind {
            Kind::Passages => &self.passages,
            Kind::Messages => &self.messages,
        }
    }

    /// The best `k` rows of the agent for `probe` among those `accept` lets through, loading the agent's index from
    /// `conn` first if needed.
    pub(super) async fn search(
        &self,
        conn: &mut SqliteConnection,
        kind: Kind,
        agent_id: &str,
        probe: Probe<'_>,
        k: usize,
        accept: impl Fn(i64, &RowAttr) -> bool + Send + Sync + 'static,
    ) -> Result<Vec<Hit>, StoreError> {
        let entry = self.shelf(kind).entry(agent_id);
        self.ensure_loaded(conn, kind, agent_id, &entry).await?;
        let model = probe.model.to_owned();
        let vector = probe.vector.to_vec();
        let scan = tokio::task::spawn_blocking(move || {
            let data = entry.data.read().unwrap_or_else(PoisonError::into_inner);
            let Some(loaded) = data.as_ref() else { return Ok(Vec::new()) };
            let (Some((stored_model, stored_dim)), Some(index)) = (&loaded.model, &loaded.index) else {
                return Ok(Vec::new());
            };
            if index.is_empty() {
                return Ok(Vec::new());
            }
            if *stored_model != model || *stored_dim != vector.len() {
                return Err(StoreError::EmbeddingMismatch {
                    kind: kind.plural(),
                    what: "query",
                    stored_model: stored_model.clone(),
                    stored_dim: *stored_dim,
                    model,
                    dim: vector.len(),
                });
            }
            index.search(&vector, k, accept).map_err(|e| StoreError::Corrupt(format!("vector index: {e}")))
        });
        scan.await.map_err(|e| StoreError::Corrupt(format!("vector scan failed: {e}")))?
    }

    /// Adds committed rows to the agent's index if it is loaded (an unloaded one will read them from the database).
    pub(super) async fn after_insert(&self, kind: Kind, agent_id: &str, rows: Vec<NewVector>) {
        if rows.is_empty() {
            return;
        }
        let Some(entry) = self.shelf(kind).existing(agent_id) else { return };
        let config = self.config.clone();
        let _gate = entry.gate.lock().await;
        let apply = {
            let entry = entry.clone();
            move || {
                let mut data = entry.data.write().unwrap_or_else(PoisonError::into_inner);
                if let Some(loaded) = data.as_mut() {
                    for row in rows {
                        add(loaded, &config, row);
                    }
                }
            }
        };
        if let Err(e) = tokio::task::spawn_blocking(apply).await {
            tracing::error!(error = %e, "updating a vector index failed; it is dropped and reloads on next use");
            self.forget(kind, agent_id);
        }
    }

    /// Removes a committed deletion from the agent's index if it is loaded.
    pub(super) async fn after_delete(&self, kind: Kind, agent_id: &str, key: i64) {
        let Some(entry) = self.shelf(kind).existing(agent_id) else { return };
        let _gate = entry.gate.lock().await;
        let mut data = entry.data.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = data.as_mut().and_then(|loaded| loaded.index.as_mut()) {
            index.remove(key);
        }
    }

    /// Drops an agent's indexes (the agent was deleted).
    pub(super) fn forget_agent(&self, agent_id: &str) {
        self.forget(Kind::Passages, agent_id);
        self.forget(Kind::Messages, agent_id);
    }

    fn forget(&self, kind: Kind, agent_id: &str) {
        self.shelf(kind).forget(agent_id);
    }

    async fn ensure_loaded(
        &self,
        conn: &mut SqliteConnection,
        kind: Kind,
        agent_id: &str,
        entry: &Arc<Entry<Loaded>>,
    ) -> Result<(), StoreError> {
        let Some(_gate) = entry.gate_unloaded().await else { return Ok(()) };
        let rows = load_rows(conn, kind, agent_id).await?;
        let config = self.config.clone();
        let build = move || {
            let mut loaded = Loaded { model: None, index: None };
            for row in rows {
                if let Some((model, dim)) = &loaded.model
                    && (*model != row.model || *dim != row.vector.len())
                {
                    return Err(StoreError::EmbeddingMismatch {
                        kind: kind.plural(),
                        what: "stored row",
                        stored_model: model.clone(),
                        stored_dim: *dim,
                        model: row.model,
                        dim: row.vector.len(),
                    });
                }
                add(&mut loaded, &config, row);
            }
            Ok(loaded)
        };
        let loaded = tokio::task::spawn_blocking(build)
            .await
            .map_err(|e| StoreError::Corrupt(format!("building a vector index failed: {e}")))??;
        *entry.data.write().unwrap_or_else(PoisonError::into_inner) = Some(loaded);
        Ok(())
    }
}

/// Adds one row; a row of another model than the index's is skipped (the write paths refuse those before commit).
fn add(loaded: &mut Loaded, config: &IndexConfig, row: NewVector) {
    // An index emptied by deletions no longer holds its model: the next vector may be of any model.
    if loaded.index.as_ref().is_none_or(VectorIndex::is_empty) {
        loaded.model = None;
        loaded.index = None;
    }
    let (model, dim) = loaded.model.get_or_insert_with(|| (row.model.clone(), row.vector.len()));
    if *model != row.model || *dim != row.vector.len() {
        tracing::warn!(model = %row.model, "a vector of another model than its agent's index was not indexed");
        return;
    }
    let index = loaded.index.get_or_insert_with(|| VectorIndex::new(row.vector.len(), config.clone()));
    if let Err(e) = index.push(row.key, &row.vector, row.attr) {
        tracing::warn!(error = %e, key = row.key, "a stored vector could not be indexed");
    }
}

/// Every embedded row of the agent, in key order.
async fn load_rows(conn: &mut SqliteConnection, kind: Kind, agent_id: &str) -> Result<Vec<NewVector>, StoreError> {
    let sql = format!(
        "SELECT pk, embedding, embedding_model, created_at, {role} AS role FROM {table} \
         WHERE agent_id = ?1 AND embedding IS NOT NULL ORDER BY pk",
        role = kind.role_sql(),
        table = kind.table(),
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(agent_id).fetch_all(&mut *conn).await?;
    found
        .iter()
        .map(|row| {
            let bytes: Vec<u8> = row.try_get("embedding").map_err(|e| rows::corrupt("embedding", e))?;
            let model: Option<String> = row.try_get("embedding_model").map_err(|e| rows::corrupt("model", e))?;
            let role: i64 = row.try_get("role").map_err(|e| rows::corrupt("role", e))?;
            Ok(NewVector {
                key: row.try_get("pk").map_err(|e| rows::corrupt("pk", e))?,
                model: model.ok_or_else(|| rows::corrupt("embedding_model", "missing beside a vector"))?,
                vector: decode_vector(&bytes)?,
                attr: RowAttr {
                    time: row.try_get("created_at").map_err(|e| rows::corrupt("created_at", e))?,
                    role: u8::try_from(role).unwrap_or(0),
                },
            })
        })
        .collect()
}

/// The model and dimension of an agent's stored vectors of `kind` that differ from `model`/`dim`, if any: the
/// check a write makes before storing a vector. Three index seeks (a model sorting before, after, and equal to
/// `model`), so it costs the same at any number of rows.
pub(super) async fn other_model(
    conn: &mut SqliteConnection,
    kind: Kind,
    agent_id: &str,
    model: &str,
    dim: usize,
) -> Result<Option<(String, usize)>, StoreError> {
    let dim_column = match kind {
        Kind::Passages => "embedding_dim",
        Kind::Messages => "length(embedding) / 4",
    };
    let table = kind.table();
    let probe = |op: &str| {
        format!(
            "SELECT * FROM (SELECT embedding_model, {dim_column} AS dim FROM {table} \
             WHERE agent_id = ?1 AND embedding IS NOT NULL AND embedding_model {op} ?2 LIMIT 1)"
        )
    };
    let sql = format!("{} UNION ALL {} UNION ALL {}", probe("<"), probe(">"), probe("="));
    let found = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(agent_id).bind(model).fetch_all(&mut *conn).await?;
    for row in found {
        let stored: String = row.try_get("embedding_model").map_err(|e| rows::corrupt("embedding_model", e))?;
        let stored_dim: i64 = row.try_get("dim").map_err(|e| rows::corrupt("dim", e))?;
        let stored_dim = usize::try_from(stored_dim).unwrap_or(0);
        if stored != model || stored_dim != dim {
            return Ok(Some((stored, stored_dim)));
        }
    }
    Ok(None)
}
