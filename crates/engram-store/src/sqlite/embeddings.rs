//! The embedding backfill's two store calls: the rows still waiting for an embedding, and storing the embeddings
//! computed for them (then adding them to loaded vector indexes).

use std::collections::HashMap;

use sqlx::{Row, SqliteConnection};

use engram_core::agent::ModelRef;
use engram_core::id::{AgentId, MessageId, PassageId};
use engram_core::org::OrgId;
use engram_core::passage::Embedding;

use super::rows::{self, encode_vector};
use super::vectors::{self, Kind, NewVector, RowAttr};
use super::{SqliteStore, agents};
use crate::error::StoreError;
use crate::store::{EmbeddingTarget, PendingEmbedding};

/// Longest text handed to an embedding model, in characters. Models read far less (all-MiniLM-L6-v2: 256 tokens), so
/// a huge tool result costs no more than this.
const MAX_EMBED_CHARS: i64 = 4_000;

pub(super) async fn pending(
    store: &SqliteStore,
    scope: Option<(&OrgId, AgentId)>,
    limit: u32,
) -> Result<Vec<PendingEmbedding>, StoreError> {
    let mut conn = store.read().await?;
    let agent_id = scope.map(|(_, agent)| agent.to_string());
    if let (Some((org, _)), Some(agent_id)) = (scope, &agent_id) {
        agents::require_exists(&mut conn, org, agent_id).await?;
    }
    let mut pending = Vec::new();
    let statements = [
        (
            Kind::Passages,
            "SELECT p.id, p.org_id, p.agent_id, substr(p.text, 1, ?3) AS text, a.embedding AS model \
             FROM passages p JOIN agents a ON a.id = p.agent_id \
             WHERE p.embedding IS NULL AND (?1 IS NULL OR p.agent_id = ?1) ORDER BY p.pk LIMIT ?2",
        ),
        (
            Kind::Messages,
            "SELECT m.id, m.org_id, m.agent_id, substr(m.content, 1, ?3) AS text, a.embedding AS model \
             FROM messages m JOIN agents a ON a.id = m.agent_id \
             WHERE m.embedding IS NULL AND m.content <> '' AND (?1 IS NULL OR m.agent_id = ?1) \
             ORDER BY m.pk LIMIT ?2",
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

fn pending_row(row: &sqlx::sqlite::SqliteRow, kind: Kind) -> Result<PendingEmbedding, StoreError> {
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
    attr: RowAttr,
}

pub(super) async fn set(store: &SqliteStore, items: Vec<(EmbeddingTarget, Embedding)>) -> Result<u64, StoreError> {
    if items.is_empty() {
        return Ok(0);
    }
    store.write_then(move |conn| Box::pin(async move { set_in(conn, items).await }), add_to_indexes).await
}

/// Stores the embeddings whose rows still exist and have none; returns how many, and what to add to loaded indexes.
async fn set_in(
    conn: &mut SqliteConnection,
    items: Vec<(EmbeddingTarget, Embedding)>,
) -> Result<(u64, Vec<(Target, Embedding)>), StoreError> {
    // Whether each (kind, agent) may take vectors of the model: asked once per agent.
    let mut compatible: HashMap<(bool, String, String, usize), bool> = HashMap::new();
    let mut stored: Vec<(Target, Embedding)> = Vec::new();
    for (target, embedding) in items {
        let Some(found) = find(conn, target).await? else { continue };
        let dim = embedding.vector.len();
        let key = (found.kind == Kind::Passages, found.agent_id.clone(), embedding.model.clone(), dim);
        let ok = match compatible.get(&key) {
            Some(ok) => *ok,
            None => {
                let other = vectors::other_model(conn, found.kind, &found.agent_id, &embedding.model, dim).await?;
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
        let sql = match found.kind {
            Kind::Passages => {
                "UPDATE passages SET embedding = ?1, embedding_model = ?2, embedding_dim = ?3 WHERE pk = ?4 \
                 AND embedding IS NULL"
            }
            Kind::Messages => {
                "UPDATE messages SET embedding = ?1, embedding_model = ?2 WHERE pk = ?4 AND embedding IS NULL"
            }
        };
        sqlx::query(sql)
            .bind(encode_vector(&embedding.vector))
            .bind(&embedding.model)
            .bind(dim as i64)
            .bind(found.pk)
            .execute(&mut *conn)
            .await?;
        stored.push((found, embedding));
    }
    Ok((stored.len() as u64, stored))
}

/// Adds committed embeddings to the agents' loaded vector indexes.
async fn add_to_indexes(store: SqliteStore, stored: Vec<(Target, Embedding)>) {
    let mut by_index: HashMap<(bool, String), (Kind, Vec<NewVector>)> = HashMap::new();
    for (target, embedding) in stored {
        let rows =
            &mut by_index.entry((target.kind == Kind::Passages, target.agent_id)).or_insert((target.kind, vec![])).1;
        rows.push(NewVector { key: target.pk, model: embedding.model, vector: embedding.vector, attr: target.attr });
    }
    for ((_, agent_id), (kind, rows)) in by_index {
        store.inner.vectors.after_insert(kind, &agent_id, rows).await;
    }
}

/// The row an embedding is for, if it still exists and has none.
async fn find(conn: &mut sqlx::SqliteConnection, target: EmbeddingTarget) -> Result<Option<Target>, StoreError> {
    let (kind, id, sql) = match target {
        EmbeddingTarget::Passage(id) => (
            Kind::Passages,
            id.to_string(),
            "SELECT pk, agent_id, created_at, 0 AS role FROM passages WHERE id = ?1 AND embedding IS NULL",
        ),
        EmbeddingTarget::Message(id) => (
            Kind::Messages,
            id.to_string(),
            "SELECT pk, agent_id, created_at, role AS role_name FROM messages WHERE id = ?1 AND embedding IS NULL",
        ),
    };
    let Some(row) = sqlx::query(sql).bind(id).fetch_optional(&mut *conn).await? else { return Ok(None) };
    let role = match kind {
        Kind::Passages => 0,
        Kind::Messages => {
            let name: String = row.try_get("role_name").map_err(|e| rows::corrupt("role", e))?;
            let role = engram_core::message::Role::parse("role", &name).map_err(|e| rows::corrupt("role", e))?;
            vectors::role_code(role)
        }
    };
    Ok(Some(Target {
        kind,
        pk: row.try_get("pk").map_err(|e| rows::corrupt("pk", e))?,
        agent_id: row.try_get("agent_id").map_err(|e| rows::corrupt("agent_id", e))?,
        attr: RowAttr { time: row.try_get("created_at").map_err(|e| rows::corrupt("created_at", e))?, role },
    }))
}
