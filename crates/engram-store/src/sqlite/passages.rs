//! Archival memory: inserting passages in batches (with their tags and optional embeddings), reading, listing,
//! counting and deleting them. Full-text search over them lives in `search`.

use sqlx::SqliteConnection;

use engram_core::ValidationError;
use engram_core::audit::{Action, TargetKind, WriteContext};
use engram_core::id::{AgentId, PassageId};
use engram_core::org::OrgId;
use engram_core::page::{Page, PageRequest};
use engram_core::passage::{MAX_BATCH, NewPassage, Passage};

use super::audit::{self, Event, new_salt, version_hash};
use super::rows::{self, PASSAGE_COLUMNS, Salted, encode_vector, micros, stored_time, tags_json};
use super::text_cache::NewText;
use super::vectors::{self, Kind, NewVector, RowAttr};
use super::{SqliteStore, agents, parse_cursor};
use crate::codec;
use crate::error::StoreError;

pub(super) async fn insert(
    store: &SqliteStore,
    ctx: &WriteContext,
    agent: AgentId,
    passages: Vec<NewPassage>,
) -> Result<Vec<Passage>, StoreError> {
    if passages.len() > MAX_BATCH {
        return Err(ValidationError::new(
            "items",
            format!("at most {MAX_BATCH} passages can be inserted at once, got {}", passages.len()),
        )
        .into());
    }
    let (job_store, ctx, agent_id) = (store.clone(), ctx.clone(), agent.to_string());
    store
        .write_then(
            move |conn| Box::pin(async move { insert_in(conn, &job_store, &ctx, agent, passages).await }),
            move |store, committed: Committed| async move {
                store.inner.vectors.after_insert(Kind::Passages, &agent_id, committed.vectors).await;
                store.inner.texts.after_insert(&agent_id, committed.texts).await;
                store.inner.tags.after_insert(&agent_id, committed.tags).await;
            },
        )
        .await
}

/// What inserted passages add to the loaded in-memory indexes once they are committed.
#[derive(Default)]
struct Committed {
    vectors: Vec<NewVector>,
    texts: Vec<NewText>,
    tags: Vec<(i64, Vec<String>)>,
}

/// Inserts the passages; returns them, and what to add to the loaded indexes once they are committed.
async fn insert_in(
    conn: &mut SqliteConnection,
    store: &SqliteStore,
    ctx: &WriteContext,
    agent: AgentId,
    passages: Vec<NewPassage>,
) -> Result<(Vec<Passage>, Committed), StoreError> {
    let now = store.now();
    let agent_id = agent.to_string();
    agents::require_exists(conn, &ctx.org, &agent_id).await?;
    check_models(conn, &agent_id, &passages).await?;
    let mut inserted = Vec::with_capacity(passages.len());
    let mut committed = Committed::default();
    for new in passages {
        let id = PassageId::from_ulid(store.next_ulid());
        let id_text = id.to_string();
        let salt = new_salt();
        let created_at = stored_time(new.created_at.unwrap_or(now));
        let embedding = new.embedding.as_ref();
        let pk: i64 = sqlx::query_scalar(
            "INSERT INTO passages (id, org_id, agent_id, text, tags, metadata, salt, embedding, embedding_model, \
             embedding_dim, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING pk",
        )
        .bind(&id_text)
        .bind(ctx.org.as_str())
        .bind(&agent_id)
        .bind(&new.text)
        .bind(tags_json(&new.tags))
        .bind(serde_json::Value::Object(new.metadata.as_map().clone()).to_string())
        .bind(salt.0.as_slice())
        .bind(embedding.map(|e| encode_vector(&e.vector)))
        .bind(embedding.map(|e| e.model.as_str()))
        .bind(embedding.map(|e| e.vector.len() as i64))
        .bind(micros(created_at))
        .fetch_one(&mut *conn)
        .await?;
        for tag in &new.tags {
            sqlx::query("INSERT OR IGNORE INTO passage_tags (passage_pk, agent_id, tag) VALUES (?, ?, ?)")
                .bind(pk)
                .bind(&agent_id)
                .bind(tag.as_str())
                .execute(&mut *conn)
                .await?;
        }
        let after = version_hash(1, &salt, new.text.as_bytes());
        let event = Event {
            action: Action::PassageInsert,
            target_kind: TargetKind::Passage,
            target_id: &id_text,
            agent_id: Some(&agent_id),
            before: None,
            after: Some(&after),
        };
        audit::record(conn, ctx, now, event).await?;
        let attr = RowAttr { time: micros(created_at), role: 0 };
        if let Some(embedding) = new.embedding {
            committed.vectors.push(NewVector { key: pk, model: embedding.model, vector: embedding.vector, attr });
        }
        committed.texts.push(NewText { key: pk, text: new.text.clone(), attr });
        if !new.tags.is_empty() {
            committed.tags.push((pk, new.tags.iter().map(|tag| tag.as_str().to_owned()).collect()));
        }
        inserted.push(Passage {
            id,
            agent_id: agent,
            text: new.text,
            tags: new.tags,
            metadata: new.metadata,
            created_at,
            embedding: None,
        });
    }
    Ok((inserted, committed))
}

/// Refuses vectors that cannot be compared with each other or with the agent's stored ones.
async fn check_models(
    conn: &mut sqlx::SqliteConnection,
    agent_id: &str,
    passages: &[NewPassage],
) -> Result<(), StoreError> {
    let Some(first) = codec::batch_embedding(passages)? else { return Ok(()) };
    match vectors::other_model(conn, Kind::Passages, agent_id, &first.model, first.vector.len()).await? {
        Some(stored) => Err(codec::passage_model_mismatch(first, stored)),
        None => Ok(()),
    }
}

/// The passage `id` of an agent (already known to be in the caller's organisation), or `NotFound("passage")`.
async fn require(
    conn: &mut sqlx::SqliteConnection,
    agent_id: &str,
    id: PassageId,
    include_embedding: bool,
) -> Result<Salted<Passage>, StoreError> {
    let extra = if include_embedding { ", p.embedding, p.embedding_model" } else { "" };
    let sql = format!("SELECT {PASSAGE_COLUMNS}{extra} FROM passages p WHERE p.agent_id = ?1 AND p.id = ?2");
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(agent_id).bind(id.to_string()).fetch_optional(&mut *conn).await?;
    match row {
        Some(row) => rows::passage(&row, include_embedding),
        None => Err(StoreError::not_found("passage", id)),
    }
}

pub(super) async fn get(
    store: &SqliteStore,
    org: &OrgId,
    agent: AgentId,
    id: PassageId,
    include_embedding: bool,
) -> Result<Passage, StoreError> {
    let mut conn = store.read().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    Ok(require(&mut conn, &agent_id, id, include_embedding).await?.item)
}

pub(super) async fn list(
    store: &SqliteStore,
    org: &OrgId,
    agent: AgentId,
    page: &PageRequest,
) -> Result<Page<Passage>, StoreError> {
    let after = parse_cursor(page, PassageId::parse)?;
    let mut conn = store.read().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    let sql =
        format!("SELECT {PASSAGE_COLUMNS} FROM passages p WHERE p.agent_id = ?1 AND p.id > ?2 ORDER BY p.id LIMIT ?3");
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&agent_id)
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(i64::from(page.limit.get()) + 1)
        .fetch_all(&mut *conn)
        .await?;
    let passages = found.iter().map(|row| rows::passage(row, false).map(|s| s.item)).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(passages, page.limit, |p| p.id.to_string()))
}

pub(super) async fn delete(
    store: &SqliteStore,
    ctx: &WriteContext,
    agent: AgentId,
    id: PassageId,
) -> Result<(), StoreError> {
    let (job_store, ctx, agent_id) = (store.clone(), ctx.clone(), agent.to_string());
    store
        .write_then(
            move |conn| {
                Box::pin(async move { delete_in(conn, &job_store, &ctx, agent, id).await.map(|gone| ((), gone)) })
            },
            move |store, (pk, tags)| async move {
                store.inner.vectors.after_delete(Kind::Passages, &agent_id, pk).await;
                store.inner.texts.after_delete(&agent_id, pk).await;
                store.inner.tags.after_delete(&agent_id, pk, tags).await;
            },
        )
        .await
}

/// Deletes the passage; returns its key and tags, to remove from the loaded indexes once the deletion is committed.
async fn delete_in(
    conn: &mut SqliteConnection,
    store: &SqliteStore,
    ctx: &WriteContext,
    agent: AgentId,
    id: PassageId,
) -> Result<(i64, Vec<String>), StoreError> {
    let now = store.now();
    let agent_id = agent.to_string();
    agents::require_exists(conn, &ctx.org, &agent_id).await?;
    let Salted { item: passage, salt } = require(conn, &agent_id, id, false).await?;
    let id_text = id.to_string();
    let pk: i64 = sqlx::query_scalar("DELETE FROM passages WHERE id = ?1 RETURNING pk")
        .bind(&id_text)
        .fetch_one(&mut *conn)
        .await?;
    let before = version_hash(1, &salt, passage.text.as_bytes());
    let event = Event {
        action: Action::PassageDelete,
        target_kind: TargetKind::Passage,
        target_id: &id_text,
        agent_id: Some(&agent_id),
        before: Some(&before),
        after: None,
    };
    audit::record(conn, ctx, now, event).await?;
    Ok((pk, passage.tags.iter().map(|tag| tag.as_str().to_owned()).collect()))
}

pub(super) async fn count(store: &SqliteStore, org: &OrgId, agent: AgentId) -> Result<u64, StoreError> {
    let mut conn = store.read().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passages WHERE agent_id = ?1")
        .bind(&agent_id)
        .fetch_one(&mut *conn)
        .await?;
    u64::try_from(n).map_err(|_| rows::corrupt("passage count", n))
}

/// The distinct tags on the agent's passages, most used first (ties by tag), at most `limit`.
pub(super) async fn tags(
    store: &SqliteStore,
    org: &OrgId,
    agent: AgentId,
    limit: u32,
) -> Result<Vec<String>, StoreError> {
    let mut conn = store.read().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    // `passage_tags` has no org column; the agent, checked above to be the organisation's, scopes it.
    let tags: Vec<String> = sqlx::query_scalar(
        "SELECT tag FROM passage_tags WHERE agent_id = ?1 GROUP BY tag ORDER BY COUNT(*) DESC, tag LIMIT ?2",
    )
    .bind(&agent_id)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    Ok(tags)
}
