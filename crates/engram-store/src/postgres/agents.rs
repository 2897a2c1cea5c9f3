//! Agents: creating one with its blocks, reading and listing them, patching their configuration and deleting them
//! together with their history, archive and the blocks only they used.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::postgres::PgArguments;

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
use super::rows::{self, AGENT_COLUMNS, Salted, tag_texts};
use super::{PostgresStore, commit, parse_cursor};
use crate::error::StoreError;

/// Fails with `NotFound("agent")` unless `org` has the agent `agent_id`.
pub(super) async fn require_exists(conn: &mut PgConnection, org: &OrgId, agent_id: &str) -> Result<(), StoreError> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM agents WHERE org_id = $1 AND id = $2")
        .bind(org.as_str())
        .bind(agent_id)
        .fetch_optional(&mut *conn)
        .await?;
    found.map(|_| ()).ok_or_else(|| StoreError::not_found("agent", agent_id))
}

/// [`require_exists`], locking the agent's row until the transaction ends. Writes that check or change an agent's
/// vectors take this lock, so that they see each other's vectors (the embedding backfill writes vectors without the
/// organisation's audit lock).
pub(super) async fn lock(conn: &mut PgConnection, org: &OrgId, agent_id: &str) -> Result<(), StoreError> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM agents WHERE org_id = $1 AND id = $2 FOR NO KEY UPDATE")
        .bind(org.as_str())
        .bind(agent_id)
        .fetch_optional(&mut *conn)
        .await?;
    found.map(|_| ()).ok_or_else(|| StoreError::not_found("agent", agent_id))
}

/// The agent row (without blocks) and its salt, or `NotFound("agent")`; `lock` locks the row.
async fn require_row(
    conn: &mut PgConnection,
    org: &OrgId,
    agent_id: &str,
    lock: bool,
) -> Result<Salted<Agent>, StoreError> {
    let suffix = if lock { " FOR NO KEY UPDATE" } else { "" };
    let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE org_id = $1 AND id = $2{suffix}");
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str()).bind(agent_id).fetch_optional(&mut *conn).await?;
    match row {
        Some(row) => rows::agent(&row),
        None => Err(StoreError::not_found("agent", agent_id)),
    }
}

/// The agent with its blocks, or `NotFound("agent")`.
pub(super) async fn require(conn: &mut PgConnection, org: &OrgId, agent_id: &str) -> Result<Agent, StoreError> {
    let mut agent = require_row(conn, org, agent_id, false).await?.item;
    agent.blocks = blocks::load_for_agent(conn, agent_id).await?.into_iter().map(|r| r.block).collect();
    Ok(agent)
}

fn commitment(version: i64, salt: &Salt, config: &AgentConfig) -> VersionHash {
    version_hash(version, salt, &config.canonical_bytes())
}

fn tool_texts(config: &AgentConfig) -> Vec<String> {
    config.tools.iter().map(|t| ToolName::as_str(t).to_owned()).collect()
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

pub(super) async fn create(store: &PostgresStore, ctx: &WriteContext, new: NewAgent) -> Result<Agent, StoreError> {
    let mut tx = store.write(&ctx.org).await?;
    let agent = create_in(&mut tx, store, ctx, new).await?;
    commit(tx, agent).await
}

/// [`create`]'s work: the agent row, its new blocks and attachments, their events.
async fn create_in(
    conn: &mut PgConnection,
    store: &PostgresStore,
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
    insert_recorded(conn, ctx, &agent_id, &new.config, now).await?;

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

/// Inserts a new agent row (version 1, fresh salt) and records `agent.create`: the one way agents are made, by
/// [`create`] and by imports.
pub(super) async fn insert_recorded(
    conn: &mut PgConnection,
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

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, PgArguments>;

/// Binds the configuration columns, in the order `name, system, model, embedding, context_window, tools, tags,
/// metadata` (`$1`–`$8`; metadata is cast from text to json by the statement).
fn bind_config<'q>(query: PgQuery<'q>, config: &AgentConfig) -> PgQuery<'q> {
    query
        .bind(config.name.as_str().to_owned())
        .bind(config.system.clone())
        .bind(config.model.as_ref().map(ToString::to_string))
        .bind(config.embedding.to_string())
        .bind(i64::from(config.context_window))
        .bind(tool_texts(config))
        .bind(tag_texts(&config.tags))
        .bind(serde_json::Value::Object(config.metadata.as_map().clone()).to_string())
}

/// Inserts a new agent row at version 1.
async fn insert_row(
    conn: &mut PgConnection,
    ctx: &WriteContext,
    agent_id: &str,
    config: &AgentConfig,
    salt: &Salt,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let query = sqlx::query(
        "INSERT INTO agents (name, system, model, embedding, context_window, tools, tags, metadata, \
         id, org_id, version, salt, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json, $9, $10, 1, $11, $12, $12)",
    );
    bind_config(query, config)
        .bind(agent_id.to_owned())
        .bind(ctx.org.as_str().to_owned())
        .bind(salt.0.to_vec())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Rewrites an agent's configuration at `version`.
async fn update_row(
    conn: &mut PgConnection,
    agent_id: &str,
    config: &AgentConfig,
    version: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let query = sqlx::query(
        "UPDATE agents SET name = $1, system = $2, model = $3, embedding = $4, context_window = $5, tools = $6, \
         tags = $7, metadata = $8::json, version = $9, updated_at = $10 WHERE id = $11",
    );
    bind_config(query, config).bind(version).bind(now).bind(agent_id.to_owned()).execute(&mut *conn).await?;
    Ok(())
}

pub(super) async fn get(store: &PostgresStore, org: &OrgId, id: AgentId) -> Result<Agent, StoreError> {
    let mut conn = store.conn().await?;
    require(&mut conn, org, &id.to_string()).await
}

pub(super) async fn list(
    store: &PostgresStore,
    org: &OrgId,
    filter: &AgentFilter,
    page: &PageRequest,
) -> Result<Page<Agent>, StoreError> {
    let after = parse_cursor(page, AgentId::parse)?;
    // One snapshot, so each agent's blocks are read as of the same moment as the agent list.
    let mut tx = store.snapshot().await?;
    let sql = format!(
        "SELECT {AGENT_COLUMNS} FROM agents WHERE org_id = $1 AND id > $2 AND ($3::text IS NULL OR name = $3) \
         AND ($4::text IS NULL OR tags @> ARRAY[$4::text]) ORDER BY id LIMIT $5"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(filter.name.as_deref())
        .bind(filter.tag.as_ref().map(|t| t.as_str()))
        .bind(i64::from(page.limit.get()) + 1)
        .fetch_all(&mut *tx)
        .await?;
    let mut agents = Vec::with_capacity(found.len());
    for row in &found {
        let mut agent = rows::agent(row)?.item;
        agent.blocks =
            blocks::load_for_agent(&mut tx, &agent.id.to_string()).await?.into_iter().map(|r| r.block).collect();
        agents.push(agent);
    }
    commit(tx, Page::from_overfetch(agents, page.limit, |a| a.id.to_string())).await
}

pub(super) async fn update(
    store: &PostgresStore,
    ctx: &WriteContext,
    id: AgentId,
    patch: AgentPatch,
) -> Result<Agent, StoreError> {
    let mut tx = store.write(&ctx.org).await?;
    let agent = update_in(&mut tx, store, ctx, id, patch).await?;
    commit(tx, agent).await
}

/// [`update`]'s work.
async fn update_in(
    conn: &mut PgConnection,
    store: &PostgresStore,
    ctx: &WriteContext,
    id: AgentId,
    patch: AgentPatch,
) -> Result<Agent, StoreError> {
    let now = store.now();
    let agent_id = id.to_string();
    let Salted { item: current, salt } = require_row(conn, &ctx.org, &agent_id, true).await?;
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
async fn refuse_embedding_change(conn: &mut PgConnection, agent_id: &str, model: &ModelRef) -> Result<(), StoreError> {
    let embedded: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM passages WHERE agent_id = $1 AND embedding_model IS NOT NULL) \
         OR EXISTS (SELECT 1 FROM messages WHERE agent_id = $1 AND embedding_model IS NOT NULL)",
    )
    .bind(agent_id)
    .fetch_one(&mut *conn)
    .await?;
    if embedded {
        return Err(StoreError::EmbeddingInUse { model: model.to_string() });
    }
    Ok(())
}

pub(super) async fn delete(store: &PostgresStore, ctx: &WriteContext, id: AgentId) -> Result<(), StoreError> {
    let mut tx = store.write(&ctx.org).await?;
    delete_in(&mut tx, store, ctx, id).await?;
    commit(tx, ()).await
}

/// [`delete`]'s work: the agent, its history, archive and the blocks only it used.
async fn delete_in(
    conn: &mut PgConnection,
    store: &PostgresStore,
    ctx: &WriteContext,
    id: AgentId,
) -> Result<(), StoreError> {
    let now = store.now();
    let agent_id = id.to_string();
    let Salted { item: agent, salt } = require_row(conn, &ctx.org, &agent_id, true).await?;
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
    // Runs, steps, messages, passages and attachments go with the agent row (ON DELETE CASCADE).
    sqlx::query("DELETE FROM agents WHERE id = $1").bind(&agent_id).execute(&mut *conn).await?;
    for row in &own_blocks {
        attachments::delete_row(conn, ctx, row, Some(&agent_id), now).await?;
    }
    Ok(())
}
