//! Archival memory: inserting passages in batches (with their tags and optional embeddings), reading, listing,
//! counting and deleting them. Full-text search over them lives in `text_search`, vector search in `vector_search`.

use sqlx::PgConnection;

use engram_core::ValidationError;
use engram_core::audit::{Action, TargetKind, WriteContext};
use engram_core::id::{AgentId, PassageId};
use engram_core::org::OrgId;
use engram_core::page::{Page, PageRequest};
use engram_core::passage::{MAX_BATCH, NewPassage, Passage};

use super::audit::{self, Event, new_salt, version_hash};
use super::rows::{self, PASSAGE_COLUMNS, Salted, stored_time, tag_texts};
use super::vector_search::{self, Kind, bind_vector, embedding_col, embedding_select, placeholder};
use super::{PostgresStore, agents, commit, parse_cursor};
use crate::codec;
use crate::error::StoreError;

pub(super) async fn insert(
    store: &PostgresStore,
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
    let mut tx = store.write(&ctx.org).await?;
    let inserted = insert_in(&mut tx, store, ctx, agent, passages).await?;
    commit(tx, inserted).await
}

/// Inserts the passages.
async fn insert_in(
    conn: &mut PgConnection,
    store: &PostgresStore,
    ctx: &WriteContext,
    agent: AgentId,
    passages: Vec<NewPassage>,
) -> Result<Vec<Passage>, StoreError> {
    let now = store.now();
    let agent_id = agent.to_string();
    agents::lock(conn, &ctx.org, &agent_id).await?;
    check_models(conn, &agent_id, &passages).await?;
    let path = store.vector_path();
    let sql = format!(
        "INSERT INTO passages (id, org_id, agent_id, text, tags, metadata, salt, embedding_model, embedding_dim, \
         created_at, embedding) VALUES ($1, $2, $3, $4, $5, $6::json, $7, $8, $9, $10, {})",
        placeholder(path, 11)
    );
    let mut inserted = Vec::with_capacity(passages.len());
    for new in passages {
        let id = PassageId::from_ulid(store.next_ulid());
        let id_text = id.to_string();
        let salt = new_salt();
        let created_at = stored_time(new.created_at.unwrap_or(now));
        let embedding = new.embedding.as_ref();
        let query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(&id_text)
            .bind(ctx.org.as_str())
            .bind(&agent_id)
            .bind(&new.text)
            .bind(tag_texts(&new.tags))
            .bind(serde_json::Value::Object(new.metadata.as_map().clone()).to_string())
            .bind(salt.0.as_slice())
            .bind(embedding.map(|e| e.model.as_str()))
            .bind(embedding.map(|e| e.vector.len() as i64))
            .bind(created_at);
        bind_vector(query, path, embedding.map(|e| e.vector.as_slice())).execute(&mut *conn).await?;
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
    Ok(inserted)
}

/// Refuses vectors that cannot be compared with each other or with the agent's stored ones (the caller holds the
/// agent's lock, so no other write adds vectors meanwhile).
async fn check_models(conn: &mut PgConnection, agent_id: &str, passages: &[NewPassage]) -> Result<(), StoreError> {
    let Some(first) = codec::batch_embedding(passages)? else { return Ok(()) };
    match vector_search::other_model(conn, Kind::Passages, agent_id, &first.model, first.vector.len()).await? {
        Some(stored) => Err(codec::passage_model_mismatch(first, stored)),
        None => Ok(()),
    }
}

/// The passage `id` of an agent (already known to be in the caller's organisation), or `NotFound("passage")`.
async fn require(
    store: &PostgresStore,
    conn: &mut PgConnection,
    agent_id: &str,
    id: PassageId,
    include_embedding: bool,
) -> Result<Salted<Passage>, StoreError> {
    let path = store.vector_path();
    let extra = if include_embedding { format!(", {}", embedding_select(path, "p")) } else { String::new() };
    let sql = format!("SELECT {PASSAGE_COLUMNS}{extra} FROM passages p WHERE p.agent_id = $1 AND p.id = $2");
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(agent_id).bind(id.to_string()).fetch_optional(&mut *conn).await?;
    let Some(row) = row else { return Err(StoreError::not_found("passage", id)) };
    let embedding = if include_embedding { embedding_col(&row, path)? } else { None };
    rows::passage(&row, embedding)
}

pub(super) async fn get(
    store: &PostgresStore,
    org: &OrgId,
    agent: AgentId,
    id: PassageId,
    include_embedding: bool,
) -> Result<Passage, StoreError> {
    let mut conn = store.conn().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    Ok(require(store, &mut conn, &agent_id, id, include_embedding).await?.item)
}

pub(super) async fn list(
    store: &PostgresStore,
    org: &OrgId,
    agent: AgentId,
    page: &PageRequest,
) -> Result<Page<Passage>, StoreError> {
    let after = parse_cursor(page, PassageId::parse)?;
    let mut conn = store.conn().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    let sql =
        format!("SELECT {PASSAGE_COLUMNS} FROM passages p WHERE p.agent_id = $1 AND p.id > $2 ORDER BY p.id LIMIT $3");
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&agent_id)
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(i64::from(page.limit.get()) + 1)
        .fetch_all(&mut *conn)
        .await?;
    let passages = found.iter().map(|row| rows::passage(row, None).map(|s| s.item)).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(passages, page.limit, |p| p.id.to_string()))
}

pub(super) async fn delete(
    store: &PostgresStore,
    ctx: &WriteContext,
    agent: AgentId,
    id: PassageId,
) -> Result<(), StoreError> {
    let mut tx = store.write(&ctx.org).await?;
    let now = store.now();
    let agent_id = agent.to_string();
    agents::require_exists(&mut tx, &ctx.org, &agent_id).await?;
    let Salted { item: passage, salt } = require(store, &mut tx, &agent_id, id, false).await?;
    let id_text = id.to_string();
    sqlx::query("DELETE FROM passages WHERE id = $1").bind(&id_text).execute(&mut *tx).await?;
    let before = version_hash(1, &salt, passage.text.as_bytes());
    let event = Event {
        action: Action::PassageDelete,
        target_kind: TargetKind::Passage,
        target_id: &id_text,
        agent_id: Some(&agent_id),
        before: Some(&before),
        after: None,
    };
    audit::record(&mut tx, ctx, now, event).await?;
    commit(tx, ()).await
}

pub(super) async fn count(store: &PostgresStore, org: &OrgId, agent: AgentId) -> Result<u64, StoreError> {
    let mut conn = store.conn().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passages WHERE agent_id = $1")
        .bind(&agent_id)
        .fetch_one(&mut *conn)
        .await?;
    rows::count("passage count", n)
}

/// The distinct tags on the agent's passages, most used first (ties by tag, byte order), at most `limit`.
pub(super) async fn tags(
    store: &PostgresStore,
    org: &OrgId,
    agent: AgentId,
    limit: u32,
) -> Result<Vec<String>, StoreError> {
    let mut conn = store.conn().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    tags_in(&mut conn, &agent_id, limit).await
}

/// [`tags`] for an agent already checked to be the organisation's. A passage counts once per tag, however often it
/// lists it.
pub(super) async fn tags_in(conn: &mut PgConnection, agent_id: &str, limit: u32) -> Result<Vec<String>, StoreError> {
    let tags: Vec<String> = sqlx::query_scalar(
        "SELECT t.tag FROM passages p CROSS JOIN LATERAL unnest(p.tags) AS t(tag) WHERE p.agent_id = $1 \
         GROUP BY t.tag ORDER BY COUNT(DISTINCT p.pk) DESC, t.tag COLLATE \"C\" LIMIT $2",
    )
    .bind(agent_id)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    Ok(tags)
}
