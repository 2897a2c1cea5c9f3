//! The one audited write helper, content commitments, and the audit log listing.
//!
//! Every mutating method of the SQLite store calls [`record`] once per changed object, inside its write transaction.
//! The sequence number comes from the organisation's row (`orgs.audit_seq`), bumped in the same transaction, so
//! `seq` is gap-free per organisation and a rolled-back transaction consumes none.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use engram_core::audit::{Action, AuditEvent, TargetKind, VersionHash, WriteContext};
use engram_core::org::OrgId;
use engram_core::page::Page;

use super::SqliteStore;
use super::rows::{self, AUDIT_COLUMNS, micros};
use crate::error::StoreError;
use crate::store::AuditQuery;

pub(super) use crate::codec::{new_salt, version_hash};

/// One change to record.
#[derive(Debug)]
pub(super) struct Event<'a> {
    pub action: Action,
    pub target_kind: TargetKind,
    pub target_id: &'a str,
    /// The agent the change concerns, if any.
    pub agent_id: Option<&'a str>,
    pub before: Option<&'a VersionHash>,
    pub after: Option<&'a VersionHash>,
}

/// Records `event` in the transaction `conn` is in, taking the organisation's next sequence number. Returns it.
pub(super) async fn record(
    conn: &mut SqliteConnection,
    ctx: &WriteContext,
    now: DateTime<Utc>,
    event: Event<'_>,
) -> Result<i64, StoreError> {
    // One statement: the event takes the organisation's next number, and a trigger (migration 0003) moves the
    // organisation's counter to it.
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO audit_events (org_id, seq, at, actor_kind, actor_id, action, target_kind, target_id, agent_id, \
         run_id, step_id, request_id, before_version, before_hash, after_version, after_hash) \
         VALUES (?1, COALESCE((SELECT audit_seq FROM orgs WHERE id = ?1), 0) + 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
         ?10, ?11, ?12, ?13, ?14, ?15) RETURNING seq",
    )
    .bind(ctx.org.as_str())
    .bind(micros(now))
    .bind(ctx.actor.kind.as_str())
    .bind(&ctx.actor.id)
    .bind(event.action.as_str())
    .bind(event.target_kind.as_str())
    .bind(event.target_id)
    .bind(event.agent_id)
    .bind(ctx.run_id.map(|id| id.to_string()))
    .bind(ctx.step_id.map(|id| id.to_string()))
    .bind(ctx.request_id.as_deref())
    .bind(event.before.map(|v| v.version))
    .bind(event.before.map(|v| v.content_hash.as_str()))
    .bind(event.after.map(|v| v.version))
    .bind(event.after.map(|v| v.content_hash.as_str()))
    .fetch_one(&mut *conn)
    .await?;
    Ok(seq)
}

/// Lists an organisation's events oldest first; the cursor is the last `seq`.
pub(super) async fn list(store: &SqliteStore, org: &OrgId, query: &AuditQuery) -> Result<Page<AuditEvent>, StoreError> {
    let mut conn = store.read().await?;
    let limit = query.limit;
    let sql = format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE org_id = ?1 AND seq > ?2 AND (?3 IS NULL OR agent_id = ?3) \
         ORDER BY seq LIMIT ?4"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(query.after_seq.unwrap_or(0))
        .bind(query.agent_id.map(|id| id.to_string()))
        .bind(i64::from(limit.get()) + 1)
        .fetch_all(&mut *conn)
        .await?;
    let events = rows.iter().map(rows::audit_event).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(events, limit, |e| e.seq.to_string()))
}
