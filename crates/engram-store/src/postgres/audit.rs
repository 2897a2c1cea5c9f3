//! The one audited write helper, content commitments, and the audit log listing.
//!
//! An audited write first locks its organisation's row ([`lock_org`], creating it on the organisation's first
//! write); each event then takes `audit_seq + 1` from that row in the statement that inserts it ([`record`]). The
//! lock is held until the transaction ends, so concurrent writers of one organisation, in this process or another,
//! take their numbers one transaction after another, and a rolled-back transaction gives its numbers back: `seq` is
//! gap-free per organisation. Taking the lock first also orders every other lock a write takes after it, so writes
//! of one organisation never deadlock each other.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use engram_core::audit::{Action, AuditEvent, TargetKind, VersionHash, WriteContext};
use engram_core::org::OrgId;
use engram_core::page::Page;

use super::PostgresStore;
use super::rows::{self, AUDIT_COLUMNS};
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

/// Locks the organisation's audit counter for the rest of the transaction `conn` is in (creating its row first).
pub(super) async fn lock_org(conn: &mut PgConnection, org: &OrgId, now: DateTime<Utc>) -> Result<(), StoreError> {
    // `DO UPDATE` (not `DO NOTHING`) so that an existing row is locked too.
    sqlx::query(
        "INSERT INTO orgs (id, audit_seq, created_at) VALUES ($1, 0, $2) \
         ON CONFLICT (id) DO UPDATE SET audit_seq = orgs.audit_seq",
    )
    .bind(org.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records `event` in the transaction `conn` is in (which has locked `ctx.org` with [`lock_org`]), taking the
/// organisation's next sequence number. Returns it.
pub(super) async fn record(
    conn: &mut PgConnection,
    ctx: &WriteContext,
    now: DateTime<Utc>,
    event: Event<'_>,
) -> Result<i64, StoreError> {
    let seq: Option<i64> = sqlx::query_scalar(
        "WITH next AS (UPDATE orgs SET audit_seq = audit_seq + 1 WHERE id = $1 RETURNING audit_seq) \
         INSERT INTO audit_events (org_id, seq, at, actor_kind, actor_id, action, target_kind, target_id, agent_id, \
         run_id, step_id, request_id, before_version, before_hash, after_version, after_hash) \
         SELECT $1, next.audit_seq, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 FROM next \
         RETURNING seq",
    )
    .bind(ctx.org.as_str())
    .bind(now)
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
    .fetch_optional(&mut *conn)
    .await?;
    seq.ok_or_else(|| rows::corrupt("audit", "the organisation's counter was not locked before recording an event"))
}

/// Lists an organisation's events oldest first; the cursor is the last `seq`.
pub(super) async fn list(
    store: &PostgresStore,
    org: &OrgId,
    query: &AuditQuery,
) -> Result<Page<AuditEvent>, StoreError> {
    let mut conn = store.conn().await?;
    let limit = query.limit;
    let sql = format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE org_id = $1 AND seq > $2 \
         AND ($3::text IS NULL OR agent_id = $3) ORDER BY seq LIMIT $4"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(query.after_seq.unwrap_or(0))
        .bind(query.agent_id.map(|id| id.to_string()))
        .bind(i64::from(limit.get()) + 1)
        .fetch_all(&mut *conn)
        .await?;
    let events = found.iter().map(rows::audit_event).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(events, limit, |e| e.seq.to_string()))
}
