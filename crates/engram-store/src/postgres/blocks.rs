//! Core memory blocks: loading them (with the agents they are attached to), creating them, and patching their value
//! and settings with optimistic concurrency. Attaching, detaching and deleting live in `attachments`.
//!
//! A block being patched is locked (`FOR UPDATE`) before its version is compared, so two writers can never both
//! move it from the same version.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use engram_core::audit::{Action, TargetKind, WriteContext};
use engram_core::block::{Block, BlockLabel, BlockPatch, NewBlock};
use engram_core::commitment::Salt;
use engram_core::id::{AgentId, BlockId};
use engram_core::org::OrgId;
use engram_core::page::{Page, PageRequest};

use super::audit::{self, Event, new_salt, version_hash};
use super::rows::{self, BLOCK_SELECT, BlockRow};
use super::{PostgresStore, agents, commit, parse_cursor};
use crate::error::StoreError;

/// The block `id` of `org`, if it exists; `lock` locks its row until the transaction ends.
async fn load(conn: &mut PgConnection, org: &OrgId, id: &str, lock: bool) -> Result<Option<BlockRow>, StoreError> {
    let suffix = if lock { " FOR UPDATE OF b" } else { "" };
    let sql = format!("{BLOCK_SELECT} WHERE b.org_id = $1 AND b.id = $2{suffix}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str()).bind(id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(rows::block).transpose()
}

/// The block `id` of `org`, or `NotFound`.
pub(super) async fn require(conn: &mut PgConnection, org: &OrgId, id: &str) -> Result<BlockRow, StoreError> {
    load(conn, org, id, false).await?.ok_or_else(|| StoreError::not_found("block", id))
}

/// [`require`], locking the block's row until the transaction ends.
pub(super) async fn require_locked(conn: &mut PgConnection, org: &OrgId, id: &str) -> Result<BlockRow, StoreError> {
    load(conn, org, id, true).await?.ok_or_else(|| StoreError::not_found("block", id))
}

/// The blocks of an agent (already known to be in the caller's organisation), in attachment order.
pub(super) async fn load_for_agent(conn: &mut PgConnection, agent_id: &str) -> Result<Vec<BlockRow>, StoreError> {
    let sql = format!(
        "{BLOCK_SELECT} JOIN agent_blocks ab ON ab.block_id = b.id WHERE ab.agent_id = $1 ORDER BY ab.position"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(agent_id).fetch_all(&mut *conn).await?;
    found.iter().map(rows::block).collect()
}

/// The block an agent sees under `label`, or `NotFound("block")`; `lock` locks the block's row.
pub(super) async fn require_by_label(
    conn: &mut PgConnection,
    agent_id: &str,
    label: &BlockLabel,
    lock: bool,
) -> Result<BlockRow, StoreError> {
    let suffix = if lock { " FOR UPDATE OF b" } else { "" };
    let sql = format!(
        "{BLOCK_SELECT} JOIN agent_blocks ab ON ab.block_id = b.id WHERE ab.agent_id = $1 AND ab.label = $2{suffix}"
    );
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(agent_id).bind(label.as_str()).fetch_optional(&mut *conn).await?;
    match row {
        Some(row) => rows::block(&row),
        None => Err(StoreError::not_found("block", label)),
    }
}

/// What a new block row needs besides its content.
#[derive(Debug)]
pub(super) struct Placement<'a> {
    pub standalone: bool,
    /// The agent the block is created with, whose deletion takes the block along unless others use it.
    pub owner: Option<&'a str>,
}

/// Inserts a block at version 1 and records `block.create`. Returns its id.
pub(super) async fn insert(
    store: &PostgresStore,
    conn: &mut PgConnection,
    ctx: &WriteContext,
    new: &NewBlock,
    placement: Placement<'_>,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let id = BlockId::from_ulid(store.next_ulid()).to_string();
    let salt = new_salt();
    sqlx::query(
        "INSERT INTO blocks (id, org_id, label, value, char_limit, description, read_only, version, standalone, \
         owner_agent_id, salt, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, $11, $11)",
    )
    .bind(&id)
    .bind(ctx.org.as_str())
    .bind(new.label.as_str())
    .bind(&new.value)
    .bind(i64::from(new.limit.get()))
    .bind(new.description.as_deref())
    .bind(new.read_only)
    .bind(placement.standalone)
    .bind(placement.owner)
    .bind(salt.0.as_slice())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let after = version_hash(1, &salt, new.value.as_bytes());
    let event = Event {
        action: Action::BlockCreate,
        target_kind: TargetKind::Block,
        target_id: &id,
        agent_id: placement.owner,
        before: None,
        after: Some(&after),
    };
    audit::record(conn, ctx, now, event).await?;
    Ok(id)
}

/// The current version and commitment of a block, for events that do not change it (attach, detach).
pub(super) fn state(block: &Block, salt: &Salt) -> engram_core::audit::VersionHash {
    version_hash(block.version, salt, block.value.as_bytes())
}

/// Applies `patch` to a loaded (and locked) block: checks `if_version`, the limit, and records `block.update` only
/// when something changed (an unchanged block keeps its version). Returns the block as it now is.
async fn apply_patch(
    conn: &mut PgConnection,
    ctx: &WriteContext,
    row: BlockRow,
    patch: &BlockPatch,
    if_version: Option<i64>,
    agent_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Block, StoreError> {
    let BlockRow { mut block, salt, .. } = row;
    if let Some(expected) = if_version
        && expected != block.version
    {
        return Err(StoreError::VersionConflict { expected, actual: block.version });
    }
    let before = state(&block, &salt);
    if !patch.apply_to(&mut block)? {
        return Ok(block);
    }
    block.version += 1;
    block.updated_at = now;
    sqlx::query(
        "UPDATE blocks SET value = $1, char_limit = $2, description = $3, read_only = $4, version = $5, \
         updated_at = $6 WHERE id = $7",
    )
    .bind(&block.value)
    .bind(i64::from(block.limit.get()))
    .bind(block.description.as_deref())
    .bind(block.read_only)
    .bind(block.version)
    .bind(now)
    .bind(block.id.to_string())
    .execute(&mut *conn)
    .await?;
    let after = state(&block, &salt);
    let id = block.id.to_string();
    let event = Event {
        action: Action::BlockUpdate,
        target_kind: TargetKind::Block,
        target_id: &id,
        agent_id,
        before: Some(&before),
        after: Some(&after),
    };
    audit::record(conn, ctx, now, event).await?;
    Ok(block)
}

pub(super) async fn list_agent_blocks(
    store: &PostgresStore,
    org: &OrgId,
    agent: AgentId,
) -> Result<Vec<Block>, StoreError> {
    let mut conn = store.conn().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    Ok(load_for_agent(&mut conn, &agent_id).await?.into_iter().map(|r| r.block).collect())
}

pub(super) async fn get_agent_block(
    store: &PostgresStore,
    org: &OrgId,
    agent: AgentId,
    label: &BlockLabel,
) -> Result<Block, StoreError> {
    let mut conn = store.conn().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    Ok(require_by_label(&mut conn, &agent_id, label, false).await?.block)
}

pub(super) async fn update_agent_block(
    store: &PostgresStore,
    ctx: &WriteContext,
    agent: AgentId,
    label: &BlockLabel,
    patch: BlockPatch,
    if_version: Option<i64>,
) -> Result<Block, StoreError> {
    let mut tx = store.write(&ctx.org).await?;
    let now = store.now();
    let agent_id = agent.to_string();
    agents::require_exists(&mut tx, &ctx.org, &agent_id).await?;
    let row = require_by_label(&mut tx, &agent_id, label, true).await?;
    let block = apply_patch(&mut tx, ctx, row, &patch, if_version, Some(&agent_id), now).await?;
    commit(tx, block).await
}

pub(super) async fn create_block(
    store: &PostgresStore,
    ctx: &WriteContext,
    new: NewBlock,
) -> Result<Block, StoreError> {
    let mut tx = store.write(&ctx.org).await?;
    let now = store.now();
    let placement = Placement { standalone: true, owner: None };
    let id = insert(store, &mut tx, ctx, &new, placement, now).await?;
    let block = require(&mut tx, &ctx.org, &id).await?.block;
    commit(tx, block).await
}

pub(super) async fn get_block(store: &PostgresStore, org: &OrgId, id: BlockId) -> Result<Block, StoreError> {
    let mut conn = store.conn().await?;
    Ok(require(&mut conn, org, &id.to_string()).await?.block)
}

pub(super) async fn list_blocks(
    store: &PostgresStore,
    org: &OrgId,
    page: &PageRequest,
) -> Result<Page<Block>, StoreError> {
    let after = parse_cursor(page, BlockId::parse)?;
    let mut conn = store.conn().await?;
    let sql = format!("{BLOCK_SELECT} WHERE b.org_id = $1 AND b.id > $2 ORDER BY b.id LIMIT $3");
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(i64::from(page.limit.get()) + 1)
        .fetch_all(&mut *conn)
        .await?;
    let blocks = found.iter().map(|row| rows::block(row).map(|r| r.block)).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(blocks, page.limit, |b| b.id.to_string()))
}

pub(super) async fn update_block(
    store: &PostgresStore,
    ctx: &WriteContext,
    id: BlockId,
    patch: BlockPatch,
    if_version: Option<i64>,
) -> Result<Block, StoreError> {
    let mut tx = store.write(&ctx.org).await?;
    let now = store.now();
    let row = require_locked(&mut tx, &ctx.org, &id.to_string()).await?;
    let block = apply_patch(&mut tx, ctx, row, &patch, if_version, None, now).await?;
    commit(tx, block).await
}
