//! Compaction: moving messages out of an agent's context window and appending the summary that replaces them, in
//! one transaction.
//!
//! Nothing is deleted: evicted messages keep their rows (and stay searchable); only `in_context` flips. Each message
//! moved out records one `message.evict` event whose before and after are the same commitment (version 1, the
//! unchanged content), so the log says which content left the window without holding it. The summary goes through
//! [`messages::append_in`], the one insert path.

use std::collections::BTreeSet;

use sqlx::PgConnection;
use sqlx::postgres::PgRow;

use engram_core::ValidationError;
use engram_core::audit::{Action, TargetKind, WriteContext};
use engram_core::commitment::Salt;
use engram_core::id::{AgentId, MessageId};
use engram_core::message::{Message, NewMessage, Role};

use super::audit::{self, Event, version_hash};
use super::rows::{self, col, salt_col};
use super::{PostgresStore, agents, commit, messages};
use crate::error::StoreError;

/// A message about to leave the window: what its `message.evict` event commits to.
struct Evicted {
    id: String,
    salt: Salt,
    content: String,
}

pub(super) async fn compact(
    store: &PostgresStore,
    ctx: &WriteContext,
    agent: AgentId,
    evict: &[MessageId],
    summary: NewMessage,
) -> Result<Message, StoreError> {
    let mut tx = store.write(&ctx.org).await?;
    let message = compact_in(&mut tx, store, ctx, agent, evict, summary).await?;
    commit(tx, message).await
}

/// [`compact`]'s work.
async fn compact_in(
    conn: &mut PgConnection,
    store: &PostgresStore,
    ctx: &WriteContext,
    agent: AgentId,
    evict: &[MessageId],
    mut summary: NewMessage,
) -> Result<Message, StoreError> {
    let now = store.now();
    let agent_id = agent.to_string();
    agents::require_exists(conn, &ctx.org, &agent_id).await?;

    let mut moving = Vec::new();
    let mut seen = BTreeSet::new();
    for id in evict {
        let id_text = id.to_string();
        if !seen.insert(id_text.clone()) {
            continue;
        }
        match in_context_message(conn, ctx, &agent_id, &id_text).await? {
            Some(evicted) => moving.push(evicted),
            None => {
                // The transaction is rolled back: nothing has been written yet anyway.
                return Err(ValidationError::new(
                    "evict",
                    format!("`{id_text}` is not a message in this agent's context window"),
                )
                .into());
            }
        }
    }
    // The previous summary is superseded by the new one, which covers it.
    for evicted in in_context_summaries(conn, ctx, &agent_id).await? {
        if seen.insert(evicted.id.clone()) {
            moving.push(evicted);
        }
    }

    for evicted in &moving {
        sqlx::query("UPDATE messages SET in_context = false WHERE org_id = $1 AND agent_id = $2 AND id = $3")
            .bind(ctx.org.as_str())
            .bind(&agent_id)
            .bind(&evicted.id)
            .execute(&mut *conn)
            .await?;
        let commitment = version_hash(1, &evicted.salt, evicted.content.as_bytes());
        let event = Event {
            action: Action::MessageEvict,
            target_kind: TargetKind::Message,
            target_id: &evicted.id,
            agent_id: Some(&agent_id),
            before: Some(&commitment),
            after: Some(&commitment),
        };
        audit::record(conn, ctx, now, event).await?;
    }

    summary.role = Role::Summary;
    summary.in_context = true;
    let mut appended = messages::append_in(conn, store, ctx, now, agent, vec![summary]).await?;
    appended.pop().ok_or_else(|| rows::corrupt("summary", "the append returned no message"))
}

/// The message `id` if it is an in-context message of the agent.
async fn in_context_message(
    conn: &mut PgConnection,
    ctx: &WriteContext,
    agent_id: &str,
    id: &str,
) -> Result<Option<Evicted>, StoreError> {
    let row = sqlx::query(
        "SELECT id, salt, content FROM messages WHERE org_id = $1 AND agent_id = $2 AND id = $3 AND in_context",
    )
    .bind(ctx.org.as_str())
    .bind(agent_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| evicted(&row)).transpose()
}

/// The agent's summaries still in the window, oldest first.
async fn in_context_summaries(
    conn: &mut PgConnection,
    ctx: &WriteContext,
    agent_id: &str,
) -> Result<Vec<Evicted>, StoreError> {
    let found = sqlx::query(
        "SELECT id, salt, content FROM messages WHERE org_id = $1 AND agent_id = $2 AND in_context \
         AND role = $3 ORDER BY position",
    )
    .bind(ctx.org.as_str())
    .bind(agent_id)
    .bind(Role::Summary.as_str())
    .fetch_all(&mut *conn)
    .await?;
    found.iter().map(evicted).collect()
}

fn evicted(row: &PgRow) -> Result<Evicted, StoreError> {
    Ok(Evicted { id: col(row, "id")?, salt: salt_col(row)?, content: col(row, "content")? })
}
