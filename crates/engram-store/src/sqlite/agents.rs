//! Agents: creating one with its blocks, reading and listing them, patching their configuration and deleting them
//! together with their history, archive and the blocks only they used.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Sqlite, SqliteConnection};

use engram_core::agent::{Agent, AgentConfig, AgentFilter, AgentPatch, ModelRef, NewAgent, ToolName};
use engram_core::audit::{Action, TargetKind, VersionHash, WriteContext};
use engram_core::block::BlockLabel;
use engram_core::commitment::Salt;
use engram_core::id::AgentId;
use engram_core::org::OrgId;
use engram_core::page::{Page, PageRequest};

use super::attachments;
use super::audit::{self, Event, new_salt, version_hash};
use super::blocks::{self, Placement};
use super::rows::{self, AGENT_COLUMNS, Salted, micros, tags_json};
use super::{SqliteStore, parse_cursor};
use crate::error::StoreError;

/// Fails with `NotFound("agent")` unless `org` has the agent `agent_id`.
pub(super) async fn require_exists(conn: &mut SqliteConnection, org: &OrgId, agent_id: &str) -> Result<(), StoreError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM agents WHERE org_id = ?1 AND id = ?2")
        .bind(org.as_str())
        .bind(agent_id)
        .fetch_optional(&mut *conn)
        .await?;
    found.map(|_| ()).ok_or_else(|| StoreError::not_found("agent", agent_id))
}

/// The agent row (without blocks) and its salt, or `NotFound("agent")`.
async fn require_row(conn: &mut SqliteConnection, org: &OrgId, agent_id: &str) -> Result<Salted<Agent>, StoreError> {
    let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE org_id = ?1 AND id = ?2");
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str()).bind(agent_id).fetch_optional(&mut *conn).await?;
    match row {
        Some(row) => rows::agent(&row),
        None => Err(StoreError::not_found("agent", agent_id)),
    }
}

/// The agent with its blocks, or `NotFound("agent")`.
pub(super) async fn require(conn: &mut SqliteConnection, org: &OrgId, agent_id: &str) -> Result<Agent, StoreError> {
    let mut agent = require_row(conn, org, agent_id).await?.item;
    agent.blocks = blocks::load_for_agent(conn, agent_id).await?.into_iter().map(|r| r.block).collect();
    Ok(agent)
}

fn commitment(version: i64, salt: &Salt, config: &AgentConfig) -> VersionHash {
    version_hash(version, salt, &config.canonical_bytes())
}

fn tools_json(config: &AgentConfig) -> String {
    serde_json::Value::from(config.tools.iter().map(ToolName::as_str).collect::<Vec<_>>()).to_string()
}

/// Fails with `AlreadyExists` when two of the labels are equal.
fn check_unique_labels<'a>(labels: impl Iterator<Item = &'a BlockLabel>) -> Result<(), StoreError> {
    let mut seen = HashSet::new();
    for label in labels {
        if !seen.insert(label) {
            return Err(StoreError::AlreadyExists(format!(
                "the agent would have two blocks labelled `{label}`; block labels must be unique per agent"
            )));
        }
    }
    Ok(())
}

pub(super) async fn create(store: &SqliteStore, ctx: &WriteContext, new: NewAgent) -> Result<Agent, StoreError> {
    let (job_store, ctx) = (store.clone(), ctx.clone());
    store.write(move |conn| Box::pin(async move { create_in(conn, &job_store, &ctx, new).await })).await
}

/// [`create`]'s work, run by the writer: the agent row, its new blocks and attachments, their events.
async fn create_in(
    conn: &mut SqliteConnection,
    store: &SqliteStore,
    ctx: &WriteContext,
    new: NewAgent,
) -> Result<Agent, StoreError> {
    let now = store.now();
    let mut attached = Vec::with_capacity(new.block_ids.len());
    for block_id in &new.block_ids {
        attached.push(blocks::require(conn, &ctx.org, &block_id.to_string()).await?);
    }
    check_unique_labels(new.blocks.iter().map(|b| &b.label).chain(attached.iter().map(|r| &r.block.label)))?;

    let agent_id = AgentId::from_ulid(store.next_ulid()).to_string();
    insert_created(conn, ctx, &agent_id, &new.config, now).await?;

    for new_block in &new.blocks {
        let placement = Placement { standalone: false, owner: Some(&agent_id) };
        let block_id = blocks::insert(store, conn, ctx, new_block, placement, now).await?;
        attachments::link(conn, &agent_id, &block_id, &new_block.label).await?;
    }
    for row in &attached {
        attachments::attach_row(conn, ctx, &agent_id, row, now).await?;
    }
    require(conn, &ctx.org, &agent_id).await
}

/// A new agent row at version 1 with a fresh salt, and its `agent.create` event (creation and import).
pub(super) async fn insert_created(
    conn: &mut SqliteConnection,
    ctx: &WriteContext,
    agent_id: &str,
    config: &AgentConfig,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let salt = new_salt();
    insert_row(conn, ctx, agent_id, config, &salt, now).await?;
    let after = commitment(1, &salt, config);
    let event = Event {
        action: Action::AgentCreate,
        target_kind: TargetKind::Agent,
        target_id: agent_id,
        agent_id: Some(agent_id),
        before: None,
        after: Some(&after),
    };
    audit::record(conn, ctx, now, event).await?;
    Ok(())
}

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments>;

/// Binds the configuration columns, in the order `name, system, model, embedding, context_window, tools, tags,
/// metadata`.
fn bind_config<'q>(query: SqliteQuery<'q>, config: &AgentConfig) -> SqliteQuery<'q> {
    query
        .bind(config.name.as_str().to_owned())
        .bind(config.system.clone())
        .bind(config.model.as_ref().map(ToString::to_string))
        .bind(config.embedding.to_string())
        .bind(i64::from(config.context_window))
        .bind(tools_json(config))
        .bind(tags_json(&config.tags))
        .bind(serde_json::Value::Object(config.metadata.as_map().clone()).to_string())
}

/// Inserts a new agent row at version 1.
async fn insert_row(
    conn: &mut SqliteConnection,
    ctx: &WriteContext,
    agent_id: &str,
    config: &AgentConfig,
    salt: &Salt,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let query = sqlx::query(
        "INSERT INTO agents (name, system, model, embedding, context_window, tools, tags, metadata, \
         id, org_id, version, salt, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
    );
    bind_config(query, config)
        .bind(agent_id.to_owned())
        .bind(ctx.org.as_str().to_owned())
        .bind(salt.0.to_vec())
        .bind(micros(now))
        .bind(micros(now))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Rewrites an agent's configuration at `version`.
async fn update_row(
    conn: &mut SqliteConnection,
    agent_id: &str,
    config: &AgentConfig,
    version: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let query = sqlx::query(
        "UPDATE agents SET name = ?, system = ?, model = ?, embedding = ?, context_window = ?, tools = ?, tags = ?, \
         metadata = ?, version = ?, updated_at = ? WHERE id = ?",
    );
    bind_config(query, config).bind(version).bind(micros(now)).bind(agent_id.to_owned()).execute(&mut *conn).await?;
    Ok(())
}

pub(super) async fn get(store: &SqliteStore, org: &OrgId, id: AgentId) -> Result<Agent, StoreError> {
    let mut conn = store.read().await?;
    require(&mut conn, org, &id.to_string()).await
}

pub(super) async fn list(
    store: &SqliteStore,
    org: &OrgId,
    filter: &AgentFilter,
    page: &PageRequest,
) -> Result<Page<Agent>, StoreError> {
    let after = parse_cursor(page, AgentId::parse)?;
    let mut conn = store.read().await?;
    let sql = format!(
        "SELECT {AGENT_COLUMNS} FROM agents WHERE org_id = ?1 AND id > ?2 AND (?3 IS NULL OR name = ?3) \
         AND (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(agents.tags) t WHERE t.value = ?4)) ORDER BY id LIMIT ?5"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(filter.name.as_deref())
        .bind(filter.tag.as_ref().map(|t| t.as_str()))
        .bind(i64::from(page.limit.get()) + 1)
        .fetch_all(&mut *conn)
        .await?;
    let mut agents = Vec::with_capacity(found.len());
    for row in &found {
        let mut agent = rows::agent(row)?.item;
        agent.blocks =
            blocks::load_for_agent(&mut conn, &agent.id.to_string()).await?.into_iter().map(|r| r.block).collect();
        agents.push(agent);
    }
    Ok(Page::from_overfetch(agents, page.limit, |a| a.id.to_string()))
}

pub(super) async fn update(
    store: &SqliteStore,
    ctx: &WriteContext,
    id: AgentId,
    patch: AgentPatch,
) -> Result<Agent, StoreError> {
    let (job_store, ctx) = (store.clone(), ctx.clone());
    store.write(move |conn| Box::pin(async move { update_in(conn, &job_store, &ctx, id, patch).await })).await
}

/// [`update`]'s work, run by the writer.
async fn update_in(
    conn: &mut SqliteConnection,
    store: &SqliteStore,
    ctx: &WriteContext,
    id: AgentId,
    patch: AgentPatch,
) -> Result<Agent, StoreError> {
    let now = store.now();
    let agent_id = id.to_string();
    let Salted { item: current, salt } = require_row(conn, &ctx.org, &agent_id).await?;
    let mut config = current.config.clone();
    if patch.apply_to(&mut config) {
        if config.embedding != current.config.embedding {
            refuse_embedding_change(conn, &agent_id, &current.config.embedding).await?;
        }
        let version = current.version + 1;
        update_row(conn, &agent_id, &config, version, now).await?;
        let before = commitment(current.version, &salt, &current.config);
        let after = commitment(version, &salt, &config);
        let event = Event {
            action: Action::AgentUpdate,
            target_kind: TargetKind::Agent,
            target_id: &agent_id,
            agent_id: Some(&agent_id),
            before: Some(&before),
            after: Some(&after),
        };
        audit::record(conn, ctx, now, event).await?;
    }
    require(conn, &ctx.org, &agent_id).await
}

/// An agent's embedding model cannot change while it has vectors: they could no longer be compared with new ones.
async fn refuse_embedding_change(
    conn: &mut sqlx::SqliteConnection,
    agent_id: &str,
    model: &ModelRef,
) -> Result<(), StoreError> {
    let embedded: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM passages WHERE agent_id = ?1 AND embedding IS NOT NULL) \
         OR EXISTS (SELECT 1 FROM messages WHERE agent_id = ?1 AND embedding IS NOT NULL)",
    )
    .bind(agent_id)
    .fetch_one(&mut *conn)
    .await?;
    if embedded {
        return Err(StoreError::EmbeddingInUse { model: model.to_string() });
    }
    Ok(())
}

pub(super) async fn delete(store: &SqliteStore, ctx: &WriteContext, id: AgentId) -> Result<(), StoreError> {
    let (job_store, ctx) = (store.clone(), ctx.clone());
    let agent_id = id.to_string();
    store
        .write_then(
            move |conn| Box::pin(async move { delete_in(conn, &job_store, &ctx, id).await.map(|()| ((), agent_id)) }),
            // The agent's vector indexes go once its rows are gone for good.
            |store, agent_id| async move {
                store.inner.vectors.forget_agent(&agent_id);
                store.inner.texts.forget_agent(&agent_id);
                store.inner.tags.forget_agent(&agent_id);
            },
        )
        .await
}

/// [`delete`]'s work, run by the writer: the agent, its history, archive and the blocks only it used.
async fn delete_in(
    conn: &mut SqliteConnection,
    store: &SqliteStore,
    ctx: &WriteContext,
    id: AgentId,
) -> Result<(), StoreError> {
    let now = store.now();
    let agent_id = id.to_string();
    let Salted { item: agent, salt } = require_row(conn, &ctx.org, &agent_id).await?;
    let before = commitment(agent.version, &salt, &agent.config);
    let event = Event {
        action: Action::AgentDelete,
        target_kind: TargetKind::Agent,
        target_id: &agent_id,
        agent_id: Some(&agent_id),
        before: Some(&before),
        after: None,
    };
    audit::record(conn, ctx, now, event).await?;

    // Blocks made with this agent that no other agent uses go with it; the others are only detached.
    let own_blocks: Vec<_> = blocks::load_for_agent(conn, &agent_id)
        .await?
        .into_iter()
        .filter(|r| r.owner.as_deref() == Some(agent_id.as_str()) && r.block.agent_ids.len() == 1)
        .collect();
    for statement in [
        "DELETE FROM messages WHERE agent_id = ?1",
        "DELETE FROM passages WHERE agent_id = ?1",
        "DELETE FROM agent_blocks WHERE agent_id = ?1",
        "DELETE FROM agents WHERE id = ?1",
    ] {
        sqlx::query(statement).bind(&agent_id).execute(&mut *conn).await?;
    }
    for row in &own_blocks {
        attachments::delete_row(conn, ctx, row, Some(&agent_id), now).await?;
    }
    Ok(())
}
