//! Which agents see which blocks: attaching and detaching blocks, and deleting blocks (which detaches them first when
//! forced). Each attachment, detachment and deletion records one audit event.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use engram_core::agent::Agent;
use engram_core::audit::{Action, TargetKind, WriteContext};
use engram_core::block::BlockLabel;
use engram_core::id::{AgentId, BlockId};

use super::audit::{self, Event};
use super::blocks;
use super::rows::BlockRow;
use super::{PostgresStore, agents, commit};
use crate::error::StoreError;

/// Adds `block_id` to the end of the agent's blocks, without checks or event (the caller made the block just now).
pub(super) async fn link(
    conn: &mut PgConnection,
    agent_id: &str,
    block_id: &str,
    label: &BlockLabel,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO agent_blocks (agent_id, block_id, label, position) VALUES ($1, $2, $3, \
         COALESCE((SELECT MAX(position) FROM agent_blocks WHERE agent_id = $1), 0) + 1)",
    )
    .bind(agent_id)
    .bind(block_id)
    .bind(label.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records an event about a block whose content does not change (attach, detach).
async fn record_unchanged(
    conn: &mut PgConnection,
    ctx: &WriteContext,
    action: Action,
    agent_id: &str,
    row: &BlockRow,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let state = blocks::state(&row.block, &row.salt);
    let block_id = row.block.id.to_string();
    let event = Event {
        action,
        target_kind: TargetKind::Block,
        target_id: &block_id,
        agent_id: Some(agent_id),
        before: Some(&state),
        after: Some(&state),
    };
    audit::record(conn, ctx, now, event).await?;
    Ok(())
}

/// Attaches an existing block to an agent and records `block.attach`. Fails with `AlreadyExists` when the block is
/// already attached or the agent has another block with its label.
pub(super) async fn attach_row(
    conn: &mut PgConnection,
    ctx: &WriteContext,
    agent_id: &str,
    row: &BlockRow,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let block = &row.block;
    if block.agent_ids.iter().any(|a| a.to_string() == agent_id) {
        return Err(StoreError::AlreadyExists(format!(
            "block `{}` is already attached to agent `{agent_id}`",
            block.id
        )));
    }
    let clash: Option<String> =
        sqlx::query_scalar("SELECT block_id FROM agent_blocks WHERE agent_id = $1 AND label = $2")
            .bind(agent_id)
            .bind(block.label.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(other) = clash {
        return Err(StoreError::AlreadyExists(format!(
            "agent `{agent_id}` already has a block labelled `{}` (`{other}`); detach it first",
            block.label
        )));
    }
    link(conn, agent_id, &block.id.to_string(), &block.label).await?;
    record_unchanged(conn, ctx, Action::BlockAttach, agent_id, row, now).await
}

/// Detaches a block from an agent and records `block.detach`.
async fn detach_row(
    conn: &mut PgConnection,
    ctx: &WriteContext,
    agent_id: &str,
    row: &BlockRow,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM agent_blocks WHERE agent_id = $1 AND block_id = $2")
        .bind(agent_id)
        .bind(row.block.id.to_string())
        .execute(&mut *conn)
        .await?;
    record_unchanged(conn, ctx, Action::BlockDetach, agent_id, row, now).await
}

/// Deletes a block (and any attachment rows left) and records `block.delete`, about `agent_id` when the block goes
/// because that agent was deleted.
pub(super) async fn delete_row(
    conn: &mut PgConnection,
    ctx: &WriteContext,
    row: &BlockRow,
    agent_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let block_id = row.block.id.to_string();
    sqlx::query("DELETE FROM blocks WHERE id = $1").bind(&block_id).execute(&mut *conn).await?;
    let before = blocks::state(&row.block, &row.salt);
    let event = Event {
        action: Action::BlockDelete,
        target_kind: TargetKind::Block,
        target_id: &block_id,
        agent_id,
        before: Some(&before),
        after: None,
    };
    audit::record(conn, ctx, now, event).await?;
    Ok(())
}

pub(super) async fn attach_block(
    store: &PostgresStore,
    ctx: &WriteContext,
    agent: AgentId,
    block: BlockId,
) -> Result<Agent, StoreError> {
    let mut tx = store.write(&ctx.org).await?;
    let now = store.now();
    let agent_id = agent.to_string();
    agents::require_exists(&mut tx, &ctx.org, &agent_id).await?;
    let row = blocks::require_locked(&mut tx, &ctx.org, &block.to_string()).await?;
    attach_row(&mut tx, ctx, &agent_id, &row, now).await?;
    let agent = agents::require(&mut tx, &ctx.org, &agent_id).await?;
    commit(tx, agent).await
}

pub(super) async fn detach_block(
    store: &PostgresStore,
    ctx: &WriteContext,
    agent: AgentId,
    label: &BlockLabel,
) -> Result<Agent, StoreError> {
    let mut tx = store.write(&ctx.org).await?;
    let now = store.now();
    let agent_id = agent.to_string();
    agents::require_exists(&mut tx, &ctx.org, &agent_id).await?;
    let row = blocks::require_by_label(&mut tx, &agent_id, label, true).await?;
    detach_row(&mut tx, ctx, &agent_id, &row, now).await?;
    let agent = agents::require(&mut tx, &ctx.org, &agent_id).await?;
    commit(tx, agent).await
}

pub(super) async fn delete_block(
    store: &PostgresStore,
    ctx: &WriteContext,
    id: BlockId,
    force: bool,
) -> Result<(), StoreError> {
    let mut tx = store.write(&ctx.org).await?;
    let now = store.now();
    let row = blocks::require_locked(&mut tx, &ctx.org, &id.to_string()).await?;
    if !row.block.agent_ids.is_empty() && !force {
        let agent_ids = row.block.agent_ids.iter().map(ToString::to_string).collect();
        return Err(StoreError::BlockInUse { block_id: id.to_string(), agent_ids });
    }
    for agent_id in &row.block.agent_ids {
        detach_row(&mut tx, ctx, &agent_id.to_string(), &row, now).await?;
    }
    delete_row(&mut tx, ctx, &row, None, now).await?;
    commit(tx, ()).await
}
