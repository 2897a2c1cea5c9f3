//! The embedding backfill's two store calls: the rows still waiting for an embedding, and storing the embeddings
//! computed for them.
//!
//! Storing locks the agents concerned (in id order, so two backfills never deadlock) before checking that the new
//! vectors match the agents' stored model, and each update is guarded by `embedding_model IS NULL`: an insert or a
//! model change in another process cannot slip between the check and the write, and a row embedded meanwhile is
//! left as it is.

use std::collections::{BTreeSet, HashMap};

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use engram_core::agent::ModelRef;
use engram_core::id::{AgentId, MessageId, PassageId};
use engram_core::org::OrgId;
use engram_core::passage::Embedding;

use super::rows;
use super::vector_search::{self, Kind, bind_vector, placeholder};
use super::{PostgresStore, agents, commit};
use crate::error::StoreError;
use crate::store::{EmbeddingTarget, PendingEmbedding};

/// Longest text handed to an embedding model, in characters. Models read far less (all-MiniLM-L6-v2: 256 tokens), so
/// a huge tool result costs no more than this.
const MAX_EMBED_CHARS: i32 = 4_000;

pub(super) async fn pending(
    store: &PostgresStore,
    scope: Option<(&OrgId, AgentId)>,
    limit: u32,
) -> Result<Vec<PendingEmbedding>, StoreError> {
    let mut conn = store.conn().await?;
    let agent_id = scope.map(|(_, agent)| agent.to_string());
    if let (Some((org, _)), Some(agent_id)) = (scope, &agent_id) {
        agents::require_exists(&mut conn, org, agent_id).await?;
    }
    let mut pending = Vec::new();
    let statements = [
        (
            Kind::Passages,
            "SELECT p.id, p.org_id, p.agent_id, left(p.text, $3) AS text, a.embedding AS model \
             FROM passages p JOIN agents a ON a.id = p.agent_id \
             WHERE p.embedding_model IS NULL AND ($1::text IS NULL OR p.agent_id = $1) ORDER BY p.pk LIMIT $2",
        ),
        (
            Kind::Messages,
            "SELECT m.id, m.org_id, m.agent_id, left(m.content, $3) AS text, a.embedding AS model \
             FROM messages m JOIN agents a ON a.id = m.agent_id \
             WHERE m.embedding_model IS NULL AND m.content <> '' AND ($1::text IS NULL OR m.agent_id = $1) \
             ORDER BY m.pk LIMIT $2",
        ),
    ];
    for (kind, sql) in statements {
        let room = i64::from(limit) - pending.len() as i64;
        if room <= 0 {
            break;
        }
        let found = sqlx::query(sql).bind(&agent_id).bind(room).bind(MAX_EMBED_CHARS).fetch_all(&mut *conn).await?;
        for row in &found {
            pending.push(pending_row(row, kind)?);
        }
    }
    Ok(pending)
}

fn pending_row(row: &PgRow, kind: Kind) -> Result<PendingEmbedding, StoreError> {
    let text = |name: &str| row.try_get::<String, _>(name).map_err(|e| rows::corrupt("pending embedding", e));
    let id = text("id")?;
    let target = match kind {
        Kind::Passages => EmbeddingTarget::Passage(PassageId::parse("id", &id).map_err(|e| rows::corrupt("id", e))?),
        Kind::Messages => EmbeddingTarget::Message(MessageId::parse("id", &id).map_err(|e| rows::corrupt("id", e))?),
    };
    Ok(PendingEmbedding {
        org: OrgId::parse("org_id", &text("org_id")?).map_err(|e| rows::corrupt("org_id", e))?,
        agent: AgentId::parse("agent_id", &text("agent_id")?).map_err(|e| rows::corrupt("agent_id", e))?,
        model: ModelRef::parse("embedding", &text("model")?).map_err(|e| rows::corrupt("embedding", e))?,
        target,
        text: text("text")?,
    })
}

/// A row found for an embedding, before it is stored.
struct Target {
    kind: Kind,
    pk: i64,
    agent_id: String,
}

pub(super) async fn set(store: &PostgresStore, items: Vec<(EmbeddingTarget, Embedding)>) -> Result<u64, StoreError> {
    if items.is_empty() {
        return Ok(0);
    }
    let mut tx = store.begin().await?;
    let stored = set_in(&mut tx, store, items).await?;
    commit(tx, stored).await
}

/// Stores the embeddings whose rows still exist and have none, and match their agent's vectors; returns how many.
async fn set_in(
    conn: &mut PgConnection,
    store: &PostgresStore,
    items: Vec<(EmbeddingTarget, Embedding)>,
) -> Result<u64, StoreError> {
    let mut found = Vec::with_capacity(items.len());
    for (target, embedding) in items {
        if let Some(row) = find(conn, target).await? {
            found.push((row, embedding));
        }
    }
    let agent_ids: BTreeSet<&str> = found.iter().map(|(row, _)| row.agent_id.as_str()).collect();
    let agent_ids: Vec<String> = agent_ids.into_iter().map(str::to_owned).collect();
    sqlx::query("SELECT 1 FROM agents WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
        .bind(&agent_ids)
        .fetch_all(&mut *conn)
        .await?;

    let path = store.vector_path();
    // Whether each (kind, agent, model, dimension) may be stored: asked once.
    let mut compatible: HashMap<(bool, String, String, usize), bool> = HashMap::new();
    let mut stored = 0;
    for (found, embedding) in found {
        let dim = embedding.vector.len();
        let key = (found.kind == Kind::Passages, found.agent_id.clone(), embedding.model.clone(), dim);
        let ok = match compatible.get(&key) {
            Some(ok) => *ok,
            None => {
                let other =
                    vector_search::other_model(conn, found.kind, &found.agent_id, &embedding.model, dim).await?;
                if let Some((model, dim)) = &other {
                    tracing::warn!(agent = %found.agent_id, stored = %model, dim, new = %embedding.model,
                        "not storing embeddings of another model than the agent's existing ones");
                }
                compatible.insert(key, other.is_none());
                other.is_none()
            }
        };
        if !ok {
            continue;
        }
        let sql = format!(
            "UPDATE {table} SET embedding = {vector}, embedding_model = $1, embedding_dim = $2 \
             WHERE pk = $3 AND embedding_model IS NULL",
            table = found.kind.table(),
            vector = placeholder(path, 4),
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&embedding.model).bind(dim as i64).bind(found.pk);
        let updated = bind_vector(query, path, Some(&embedding.vector)).execute(&mut *conn).await?;
        stored += updated.rows_affected();
    }
    Ok(stored)
}

/// The row an embedding is for, if it still exists and has none.
async fn find(conn: &mut PgConnection, target: EmbeddingTarget) -> Result<Option<Target>, StoreError> {
    let (kind, id, sql) = match target {
        EmbeddingTarget::Passage(id) => (
            Kind::Passages,
            id.to_string(),
            "SELECT pk, agent_id FROM passages WHERE id = $1 AND embedding_model IS NULL",
        ),
        EmbeddingTarget::Message(id) => (
            Kind::Messages,
            id.to_string(),
            "SELECT pk, agent_id FROM messages WHERE id = $1 AND embedding_model IS NULL",
        ),
    };
    let Some(row) = sqlx::query(sql).bind(id).fetch_optional(&mut *conn).await? else { return Ok(None) };
    Ok(Some(Target {
        kind,
        pk: row.try_get("pk").map_err(|e| rows::corrupt("pk", e))?,
        agent_id: row.try_get("agent_id").map_err(|e| rows::corrupt("agent_id", e))?,
    }))
}
