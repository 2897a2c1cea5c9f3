//! Recall memory: appending messages to an agent's history (gap-free positions from 1), listing it by position,
//! forwards or backwards, between two messages and by role, and reading the context window.
//!
//! [`append_in`] is the one place messages are inserted: plain appends, recorded steps (`runs`) and compaction
//! summaries (`compaction`) all call it inside their own audited transaction, whose organisation lock makes the
//! next position race-free.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use engram_core::ValidationError;
use engram_core::audit::{Action, TargetKind, WriteContext};
use engram_core::id::{AgentId, MessageId};
use engram_core::message::{Message, MessageQuery, NewMessage, Order};
use engram_core::org::OrgId;
use engram_core::page::Page;

use super::audit::{self, Event, new_salt, version_hash};
use super::rows::{self, MESSAGE_COLUMNS, stored_time, tool_calls_json};
use super::{PostgresStore, agents, commit};
use crate::error::StoreError;
use crate::store::MessageCounts;

pub(super) async fn append(
    store: &PostgresStore,
    ctx: &WriteContext,
    agent: AgentId,
    messages: Vec<NewMessage>,
) -> Result<Vec<Message>, StoreError> {
    let mut tx = store.write(&ctx.org).await?;
    let now = store.now();
    agents::require_exists(&mut tx, &ctx.org, &agent.to_string()).await?;
    let appended = append_in(&mut tx, store, ctx, now, agent, messages).await?;
    commit(tx, appended).await
}

/// Appends `messages` after the agent's last one, inside the caller's audited transaction on `conn`, recording one
/// `message.append` event each (run and step ids from `ctx`). The caller has checked that the agent exists in
/// `ctx.org`.
pub(super) async fn append_in(
    conn: &mut PgConnection,
    store: &PostgresStore,
    ctx: &WriteContext,
    now: DateTime<Utc>,
    agent: AgentId,
    messages: Vec<NewMessage>,
) -> Result<Vec<Message>, StoreError> {
    let agent_id = agent.to_string();
    // The first message takes the next position in its own insert; the rest follow it.
    let mut next: Option<i64> = None;
    let mut appended = Vec::with_capacity(messages.len());
    for new in messages {
        let id = MessageId::from_ulid(store.next_ulid());
        let id_text = id.to_string();
        let salt = new_salt();
        let created_at = stored_time(new.created_at.unwrap_or(now));
        let position: i64 = sqlx::query_scalar(
            "INSERT INTO messages (id, org_id, agent_id, position, run_id, step_id, role, content, reasoning, \
             tool_calls, tool_call_id, tool_status, in_context, salt, created_at) \
             VALUES ($1, $2, $3, COALESCE($4, (SELECT COALESCE(MAX(position), 0) + 1 FROM messages \
             WHERE agent_id = $3)), $5, $6, $7, $8, $9, $10::json, $11, $12, $13, $14, $15) RETURNING position",
        )
        .bind(&id_text)
        .bind(ctx.org.as_str())
        .bind(&agent_id)
        .bind(next)
        .bind(new.run_id.map(|r| r.to_string()))
        .bind(new.step_id.map(|s| s.to_string()))
        .bind(new.role.as_str())
        .bind(&new.content)
        .bind(new.reasoning.as_deref())
        .bind(tool_calls_json(&new.tool_calls))
        .bind(new.tool_call_id.as_deref())
        .bind(new.tool_status.map(|s| s.as_str()))
        .bind(new.in_context)
        .bind(salt.0.as_slice())
        .bind(created_at)
        .fetch_one(&mut *conn)
        .await?;
        next = Some(position + 1);
        let after = version_hash(1, &salt, new.content.as_bytes());
        let event = Event {
            action: Action::MessageAppend,
            target_kind: TargetKind::Message,
            target_id: &id_text,
            agent_id: Some(&agent_id),
            before: None,
            after: Some(&after),
        };
        audit::record(&mut *conn, ctx, now, event).await?;
        appended.push(Message {
            id,
            agent_id: agent,
            run_id: new.run_id,
            step_id: new.step_id,
            role: new.role,
            content: new.content,
            reasoning: new.reasoning,
            tool_calls: new.tool_calls,
            tool_call_id: new.tool_call_id,
            tool_status: new.tool_status,
            in_context: new.in_context,
            position,
            created_at,
        });
    }
    Ok(appended)
}

/// The position of message `id` in the agent's history; a cursor naming no message of the agent is invalid input.
async fn position_of(conn: &mut PgConnection, agent_id: &str, field: &str, id: MessageId) -> Result<i64, StoreError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT position FROM messages WHERE agent_id = $1 AND id = $2")
        .bind(agent_id)
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    found.ok_or_else(|| ValidationError::new(field, format!("`{id}` is not a message of this agent")).into())
}

pub(super) async fn list(
    store: &PostgresStore,
    org: &OrgId,
    agent: AgentId,
    query: &MessageQuery,
) -> Result<Page<Message>, StoreError> {
    let mut conn = store.conn().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    let after = match query.after {
        Some(id) => Some(position_of(&mut conn, &agent_id, "after", id).await?),
        None => None,
    };
    let before = match query.before {
        Some(id) => Some(position_of(&mut conn, &agent_id, "before", id).await?),
        None => None,
    };
    // `after` and `before` follow the listing's order: in a descending listing, "after" means older.
    let (lower, upper, direction) = match query.order {
        Order::Asc => (after.unwrap_or(0), before.unwrap_or(i64::MAX), "ASC"),
        Order::Desc => (before.unwrap_or(0), after.unwrap_or(i64::MAX), "DESC"),
    };
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.agent_id = $1 AND m.position > $2 AND m.position < $3 \
         AND ($4::text IS NULL OR m.role = $4) ORDER BY m.position {direction} LIMIT $5"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&agent_id)
        .bind(lower)
        .bind(upper)
        .bind(query.role.map(|r| r.as_str()))
        .bind(i64::from(query.limit.get()) + 1)
        .fetch_all(&mut *conn)
        .await?;
    let messages = found.iter().map(rows::message).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(messages, query.limit, |m| m.id.to_string()))
}

/// The messages in the agent's context window, in position order.
pub(super) async fn list_context(
    store: &PostgresStore,
    org: &OrgId,
    agent: AgentId,
) -> Result<Vec<Message>, StoreError> {
    let mut conn = store.conn().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    context_in(&mut conn, org, &agent_id).await
}

/// The in-context messages of an agent already checked to be the organisation's, in position order.
pub(super) async fn context_in(
    conn: &mut PgConnection,
    org: &OrgId,
    agent_id: &str,
) -> Result<Vec<Message>, StoreError> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.org_id = $1 AND m.agent_id = $2 AND m.in_context \
         ORDER BY m.position"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str()).bind(agent_id).fetch_all(&mut *conn).await?;
    found.iter().map(rows::message).collect()
}

pub(super) async fn count(store: &PostgresStore, org: &OrgId, agent: AgentId) -> Result<MessageCounts, StoreError> {
    let mut conn = store.conn().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut conn, org, &agent_id).await?;
    count_in(&mut conn, org, &agent_id).await
}

/// [`count`] for an agent already checked to be the organisation's.
pub(super) async fn count_in(
    conn: &mut PgConnection,
    org: &OrgId,
    agent_id: &str,
) -> Result<MessageCounts, StoreError> {
    let (total, in_context): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE in_context) FROM messages WHERE org_id = $1 AND agent_id = $2",
    )
    .bind(org.as_str())
    .bind(agent_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(MessageCounts {
        total: rows::count("message count", total)?,
        in_context: rows::count("message count", in_context)?,
    })
}
