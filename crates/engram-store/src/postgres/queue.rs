//! The run queue shared by every engram process on the database: finding runs whose owner is gone (its instance
//! lock is no longer held: see `coordination`), releasing queued ones to the queue, and claiming the next queued
//! run with `FOR UPDATE SKIP LOCKED`, so processes claiming at once never get the same run.

use engram_core::id::{AgentId, RunId};
use engram_core::org::OrgId;
use engram_core::run::Run;

use super::coordination::INSTANCE_CLASS;
use super::rows::{col, parsed};
use super::runs::{RUN_COLUMNS, add_steps, run_row};
use super::{PostgresStore, commit};
use crate::error::StoreError;
use crate::store::StaleRun;

/// Whether the owner of run `r` is alive: it holds its instance lock in this database.
const OWNER_ALIVE: &str = "EXISTS (SELECT 1 FROM pg_locks l \
     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
       AND l.classid = $1::int4::oid AND l.objid = r.owner::oid)";

pub(super) async fn stale(
    store: &PostgresStore,
    agent: Option<AgentId>,
    limit: u32,
) -> Result<Vec<StaleRun>, StoreError> {
    let mut tx = store.snapshot().await?;
    let sql = format!(
        "SELECT {RUN_COLUMNS}, owner FROM runs r \
         WHERE r.status IN ('queued', 'running') AND ($3::text IS NULL OR r.agent_id = $3) \
           AND ((r.owner IS NULL AND r.status = 'running') OR r.owner = $2 \
                OR (r.owner IS NOT NULL AND NOT {OWNER_ALIVE})) \
         ORDER BY r.created_at, r.id LIMIT $4"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(INSTANCE_CLASS)
        .bind(store.instance())
        .bind(agent.map(|a| a.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
    let mut stale = Vec::with_capacity(found.len());
    for row in &found {
        let org = parsed(row, "org_id", OrgId::parse)?;
        let mut run = run_row(row)?;
        add_steps(&mut tx, &org, &mut run).await?;
        stale.push(StaleRun { org, run, owner: col(row, "owner")? });
    }
    commit(tx, stale).await
}

pub(super) async fn release(
    store: &PostgresStore,
    org: &OrgId,
    id: RunId,
    owner: Option<i32>,
) -> Result<bool, StoreError> {
    let mut conn = store.conn().await?;
    let released = sqlx::query(
        "UPDATE runs SET owner = NULL \
         WHERE org_id = $1 AND id = $2 AND status = 'queued' AND owner IS NOT DISTINCT FROM $3",
    )
    .bind(org.as_str())
    .bind(id.to_string())
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    Ok(released.rows_affected() > 0)
}

/// Releases every queued run this process owns (it is stopping), so others can run them at once.
pub(super) async fn release_own(store: &PostgresStore) -> Result<u64, StoreError> {
    let mut conn = store.conn().await?;
    let released = sqlx::query("UPDATE runs SET owner = NULL WHERE owner = $1 AND status = 'queued'")
        .bind(store.instance())
        .execute(&mut *conn)
        .await?;
    Ok(released.rows_affected())
}

pub(super) async fn claim(store: &PostgresStore) -> Result<Option<(OrgId, Run)>, StoreError> {
    let mut tx = store.begin().await?;
    let claimed: Option<(String, String)> = sqlx::query_as(
        "UPDATE runs SET owner = $1 WHERE id = ( \
             SELECT q.id FROM runs q \
             WHERE q.status = 'queued' AND q.owner IS NULL \
               AND NOT EXISTS (SELECT 1 FROM runs e WHERE e.agent_id = q.agent_id \
                   AND e.status IN ('queued', 'running') AND (e.created_at, e.id) < (q.created_at, q.id)) \
             ORDER BY q.created_at, q.id LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING org_id, id",
    )
    .bind(store.instance())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((org, id)) = claimed else {
        return commit(tx, None).await;
    };
    let org = OrgId::parse("org_id", &org).map_err(|e| super::rows::corrupt("org_id", e))?;
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE org_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str()).bind(&id).fetch_one(&mut *tx).await?;
    let mut run = run_row(&row)?;
    add_steps(&mut tx, &org, &mut run).await?;
    commit(tx, Some((org, run))).await
}
