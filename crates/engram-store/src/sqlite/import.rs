//! Importing several agents at once (an Agent File), as one write job: either every agent, block, attachment and
//! message of the import is committed together with its audit events, or nothing is.
//!
//! The job reuses the single-object write helpers (`blocks::insert`, `attachments::link` and `attach_row`,
//! `messages::append_in`), so each object records exactly the event its usual path records. Only the agent row is
//! inserted here, the same way `agents::create` inserts it.
//!
//! Order of work (and of audit events): the shared blocks, standalone, with `block.create`; then for each agent in
//! input order, `agent.create`, its blocks in the order given (`block.create` for a block made with it, linked at
//! once; `block.attach` for a shared one), and its messages (`message.append` each, positions 1..=n, `created_at`
//! and `in_context` as given). The agents are read back at the end, so that shared blocks list all their agents.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use engram_core::agent::Agent;
use engram_core::audit::WriteContext;
use engram_core::id::AgentId;
use engram_core::import::{AgentImport, AgentsImport, ImportedBlock};

use super::blocks::{self, Placement};
use super::{SqliteStore, agents, attachments, messages};
use crate::error::StoreError;

pub(super) async fn import(
    store: &SqliteStore,
    ctx: &WriteContext,
    import: AgentsImport,
) -> Result<Vec<Agent>, StoreError> {
    import.check()?;
    let (job_store, ctx) = (store.clone(), ctx.clone());
    store.write(move |conn| Box::pin(async move { import_in(conn, &job_store, &ctx, import).await })).await
}

/// [`import`]'s work, run by the writer.
async fn import_in(
    conn: &mut SqliteConnection,
    store: &SqliteStore,
    ctx: &WriteContext,
    import: AgentsImport,
) -> Result<Vec<Agent>, StoreError> {
    let now = store.now();
    let mut shared_ids = Vec::with_capacity(import.shared_blocks.len());
    for block in &import.shared_blocks {
        let placement = Placement { standalone: true, owner: None };
        shared_ids.push(blocks::insert(store, conn, ctx, block, placement, now).await?);
    }
    let mut agent_ids = Vec::with_capacity(import.agents.len());
    for agent in import.agents {
        agent_ids.push(import_agent(conn, store, ctx, now, &shared_ids, agent).await?);
    }
    // Read back once all are made, so that each shared block lists every agent it was attached to.
    let mut created = Vec::with_capacity(agent_ids.len());
    for agent_id in &agent_ids {
        created.push(agents::require(conn, &ctx.org, agent_id).await?);
    }
    Ok(created)
}

/// One agent of the import: its row, blocks and history. Returns its id.
async fn import_agent(
    conn: &mut SqliteConnection,
    store: &SqliteStore,
    ctx: &WriteContext,
    now: DateTime<Utc>,
    shared_ids: &[String],
    agent: AgentImport,
) -> Result<String, StoreError> {
    let id = AgentId::from_ulid(store.next_ulid());
    let agent_id = id.to_string();
    agents::insert_created(conn, ctx, &agent_id, &agent.config, now).await?;
    for block in &agent.blocks {
        match block {
            ImportedBlock::New(new) => {
                let placement = Placement { standalone: false, owner: Some(&agent_id) };
                let block_id = blocks::insert(store, conn, ctx, new, placement, now).await?;
                attachments::link(conn, &agent_id, &block_id, &new.label).await?;
            }
            ImportedBlock::Shared(index) => {
                // `AgentsImport::check` has vouched for the index; a miss here would be a bug, reported as one.
                let block_id = shared_ids.get(*index).ok_or_else(|| {
                    StoreError::Corrupt(format!("import names shared block {index}, which was not made"))
                })?;
                let row = blocks::require(conn, &ctx.org, block_id).await?;
                attachments::attach_row(conn, ctx, &agent_id, &row, now).await?;
            }
        }
    }
    messages::append_in(conn, store, ctx, now, id, agent.messages).await?;
    Ok(agent_id)
}
