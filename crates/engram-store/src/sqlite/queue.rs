//! The run queue on SQLite: one process owns the database file, so every run owned by another instance key was left
//! behind by an earlier process (a crash or a stop), and claiming is a guarded `UPDATE` run by the single writer.
//!
//! Since this process is the only writer, it knows when unowned queued runs can appear: runs from before owners were
//! recorded (so the queue is open when the store opens) and runs it releases. [`QueueHint`] remembers whether any
//! may be waiting, so the claim the runtime makes after every run costs nothing while the queue is empty.

use std::sync::{Mutex, PoisonError};

use engram_core::id::{AgentId, RunId};
use engram_core::org::OrgId;
use engram_core::run::Run;

use super::SqliteStore;
use super::rows::{col, parsed};
use super::runs::{RUN_COLUMNS, add_steps, run_row};
use crate::error::StoreError;
use crate::store::StaleRun;

/// Whether unowned queued runs may exist, with a generation so that a claim that found none does not close the
/// queue over a release it did not see.
#[derive(Debug)]
pub(super) struct QueueHint(Mutex<(u64, bool)>);

impl Default for QueueHint {
    fn default() -> Self {
        Self(Mutex::new((0, true)))
    }
}

impl QueueHint {
    fn state(&self) -> std::sync::MutexGuard<'_, (u64, bool)> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Some(generation)` when runs may be waiting.
    fn open(&self) -> Option<u64> {
        let (generation, open) = *self.state();
        open.then_some(generation)
    }

    fn released(&self) {
        let mut state = self.state();
        *state = (state.0 + 1, true);
    }

    /// The queue was found empty by a look that began at `generation`.
    fn found_empty(&self, generation: u64) {
        let mut state = self.state();
        if state.0 == generation {
            state.1 = false;
        }
    }
}

pub(super) async fn stale(
    store: &SqliteStore,
    agent: Option<AgentId>,
    limit: u32,
) -> Result<Vec<StaleRun>, StoreError> {
    let mut conn = store.read().await?;
    let sql = format!(
        "SELECT {RUN_COLUMNS}, owner FROM runs \
         WHERE status IN ('queued', 'running') AND (?1 IS NULL OR agent_id = ?1) \
           AND NOT (status = 'queued' AND owner IS NULL) \
         ORDER BY created_at, id LIMIT ?2"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(agent.map(|a| a.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
    let mut stale = Vec::with_capacity(found.len());
    for row in &found {
        let org = parsed(row, "org_id", OrgId::parse)?;
        let mut run = run_row(row)?;
        add_steps(&mut conn, &org, &mut run).await?;
        stale.push(StaleRun { org, run, owner: col(row, "owner")? });
    }
    Ok(stale)
}

pub(super) async fn release(
    store: &SqliteStore,
    org: &OrgId,
    id: RunId,
    owner: Option<i32>,
) -> Result<bool, StoreError> {
    let (org, id) = (org.clone(), id.to_string());
    let released = store
        .write(move |conn| {
            Box::pin(async move {
                let released = sqlx::query(
                    "UPDATE runs SET owner = NULL \
                     WHERE org_id = ?1 AND id = ?2 AND status = 'queued' AND owner IS ?3",
                )
                .bind(org.as_str())
                .bind(&id)
                .bind(owner)
                .execute(&mut *conn)
                .await?;
                Ok(released.rows_affected() > 0)
            })
        })
        .await?;
    if released {
        store.inner.queue.released();
    }
    Ok(released)
}

/// The oldest unowned queued run that is next in its agent's line.
const NEXT_IN_QUEUE: &str = "SELECT q.org_id, q.id FROM runs q \
     WHERE q.status = 'queued' AND q.owner IS NULL \
       AND NOT EXISTS (SELECT 1 FROM runs e WHERE e.agent_id = q.agent_id \
           AND e.status IN ('queued', 'running') \
           AND (e.created_at < q.created_at OR (e.created_at = q.created_at AND e.id < q.id))) \
     ORDER BY q.created_at, q.id LIMIT 1";

pub(super) async fn claim(store: &SqliteStore) -> Result<Option<(OrgId, Run)>, StoreError> {
    let Some(generation) = store.inner.queue.open() else { return Ok(None) };
    // Most calls find nothing: look on a reader first, so an empty queue costs the writer nothing.
    {
        let mut conn = store.read().await?;
        let next: Option<(String, String)> = sqlx::query_as(NEXT_IN_QUEUE).fetch_optional(&mut *conn).await?;
        if next.is_none() {
            // None ready; if none waits at all (not even behind a busy agent), close the queue until a release.
            let waiting: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM runs WHERE status = 'queued' AND owner IS NULL)")
                    .fetch_one(&mut *conn)
                    .await?;
            if !waiting {
                store.inner.queue.found_empty(generation);
            }
            return Ok(None);
        }
    }
    let instance = store.instance();
    store
        .write(move |conn| {
            Box::pin(async move {
                let next: Option<(String, String)> = sqlx::query_as(NEXT_IN_QUEUE).fetch_optional(&mut *conn).await?;
                let Some((org, id)) = next else { return Ok(None) };
                sqlx::query("UPDATE runs SET owner = ?1 WHERE org_id = ?2 AND id = ?3")
                    .bind(instance)
                    .bind(&org)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
                let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE org_id = ?1 AND id = ?2");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&org).bind(&id).fetch_one(&mut *conn).await?;
                let org = parsed(&row, "org_id", OrgId::parse)?;
                let mut run = run_row(&row)?;
                add_steps(conn, &org, &mut run).await?;
                Ok(Some((org, run)))
            })
        })
        .await
}
