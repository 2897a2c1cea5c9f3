//! Several engram processes on one database: this process's liveness key and the per-agent run locks, both
//! PostgreSQL session advisory locks held on one dedicated connection.
//!
//! At open, the process takes the lock `(INSTANCE_CLASS, instance)` for a random positive `instance` and records
//! that key as the `owner` of every run it creates or claims. The lock lives exactly as long as the connection: when
//! the process dies (or loses the database), PostgreSQL drops it, so "the owner's lock is not held" is how any other
//! process tells that a run was interrupted (`stale_runs`). Running an agent takes `(AGENT_CLASS, hash(agent id))`
//! on the same connection, so two processes never step one agent at once. Session locks nest within a session, so
//! two agents of this process whose ids hash alike do not block each other (the runtime serialises runs of one
//! agent within the process itself); across processes such a collision only makes two agents take turns.
//!
//! If the connection breaks, the next call reconnects, takes the instance lock again (a new key if another process
//! has since taken ours: our runs are then recovered by others as interrupted) and re-takes the agent locks this
//! process still holds; an agent lock that another process took meanwhile is reported in the log.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use engram_core::id::AgentId;

use crate::codec::random_instance_key;
use crate::error::StoreError;

/// First key of the advisory lock each live engram process holds: `(INSTANCE_CLASS, instance)`.
pub(super) const INSTANCE_CLASS: i32 = 0x656e_6701;
/// First key of the advisory lock held while an agent runs: `(AGENT_CLASS, agent_key(id))`.
const AGENT_CLASS: i32 = 0x656e_6702;

/// The second key of an agent's lock: 32 bits of FNV-1a over its id (ids are ULIDs, so any stable mix will do).
fn agent_key(agent: AgentId) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in agent.to_string().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    i32::from_ne_bytes(hash.to_ne_bytes())
}

pub(super) struct Coordination {
    connect: PgConnectOptions,
    connect_timeout: Duration,
    instance: AtomicI32,
    conn: tokio::sync::Mutex<Option<PgConnection>>,
    /// Agent lock keys this process holds, with how many times (session locks nest).
    held: Mutex<HashMap<i32, u32>>,
}

impl Coordination {
    /// Connects the lock connection and takes an instance key.
    pub(super) async fn open(connect: PgConnectOptions, connect_timeout: Duration) -> Result<Self, StoreError> {
        let coordination = Self {
            connect,
            connect_timeout,
            instance: AtomicI32::new(0),
            conn: tokio::sync::Mutex::new(None),
            held: Mutex::new(HashMap::new()),
        };
        let mut slot = coordination.conn.lock().await;
        coordination.ensure(&mut slot).await?;
        drop(slot);
        Ok(coordination)
    }

    /// This process's key, as recorded in `runs.owner`.
    pub(super) fn instance(&self) -> i32 {
        self.instance.load(Ordering::SeqCst)
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<i32, u32>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes sure `slot` holds a live lock connection that holds the instance lock (and the agent locks in `held`).
    async fn ensure<'a>(&self, slot: &'a mut Option<PgConnection>) -> Result<&'a mut PgConnection, StoreError> {
        if slot.is_none() {
            let connecting = tokio::time::timeout(self.connect_timeout, self.connect.connect()).await;
            let mut conn = match connecting {
                Ok(conn) => conn?,
                Err(_) => return Err(StoreError::Unavailable("PostgreSQL did not answer in time".to_owned())),
            };
            // Notice a peer that vanished without closing its socket (a machine that died) within about a minute
            // rather than the operating system's two hours. Best effort: not every server lets a session set these.
            for setting in ["tcp_keepalives_idle = 30", "tcp_keepalives_interval = 10", "tcp_keepalives_count = 3"] {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("SET {setting}"))).execute(&mut conn).await;
            }
            self.take_instance(&mut conn).await?;
            self.retake_agents(&mut conn).await?;
            *slot = Some(conn);
        }
        slot.as_mut().ok_or_else(|| StoreError::Unavailable("no lock connection".to_owned()))
    }

    /// Takes the instance lock: the current key if it is still free (a reconnect), else a fresh one.
    async fn take_instance(&self, conn: &mut PgConnection) -> Result<(), StoreError> {
        let current = self.instance();
        let mut candidate = if current > 0 { current } else { random_instance_key() };
        for _ in 0..64 {
            let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
                .bind(INSTANCE_CLASS)
                .bind(candidate)
                .fetch_one(&mut *conn)
                .await?;
            if taken {
                if current > 0 && candidate != current {
                    tracing::warn!(
                        old = current,
                        new = candidate,
                        "this process's instance key was taken while the database was away: runs it owned are \
                         recovered as interrupted"
                    );
                }
                self.instance.store(candidate, Ordering::SeqCst);
                return Ok(());
            }
            candidate = random_instance_key();
        }
        Err(StoreError::Unavailable("could not take an instance key: 64 candidates were all in use".to_owned()))
    }

    async fn retake_agents(&self, conn: &mut PgConnection) -> Result<(), StoreError> {
        let held: Vec<(i32, u32)> = self.held().iter().map(|(key, count)| (*key, *count)).collect();
        for (key, count) in held {
            for _ in 0..count {
                let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
                    .bind(AGENT_CLASS)
                    .bind(key)
                    .fetch_one(&mut *conn)
                    .await?;
                if !taken {
                    tracing::error!(
                        agent_key = key,
                        "another process took an agent this process was running while the database was away"
                    );
                    break;
                }
            }
        }
        Ok(())
    }

    /// Runs `query` on the lock connection, dropping the connection when it fails (the next call reconnects).
    async fn with_conn(&self, sql: &'static str, key: i32) -> Result<bool, StoreError> {
        let mut slot = self.conn.lock().await;
        let conn = self.ensure(&mut slot).await?;
        let answer = sqlx::query_scalar(sql).bind(AGENT_CLASS).bind(key).fetch_one(&mut *conn).await;
        match answer {
            Ok(answer) => Ok(answer),
            Err(error) => {
                if let Some(conn) = slot.take() {
                    drop(conn.close());
                }
                Err(error.into())
            }
        }
    }

    /// Takes `agent` for a run; `false` when another process holds it.
    pub(super) async fn try_lock_agent(&self, agent: AgentId) -> Result<bool, StoreError> {
        let key = agent_key(agent);
        let taken = self.with_conn("SELECT pg_try_advisory_lock($1, $2)", key).await?;
        if taken {
            *self.held().entry(key).or_insert(0) += 1;
        }
        Ok(taken)
    }

    /// Lets `agent` go (once per successful [`Self::try_lock_agent`]).
    pub(super) async fn unlock_agent(&self, agent: AgentId) -> Result<(), StoreError> {
        let key = agent_key(agent);
        {
            let mut held = self.held();
            match held.get_mut(&key) {
                Some(count) if *count > 1 => *count -= 1,
                Some(_) => {
                    held.remove(&key);
                }
                None => return Ok(()),
            }
        }
        // A broken connection has already let every lock go: nothing is left to release.
        match self.with_conn("SELECT pg_advisory_unlock($1, $2)", key).await {
            Ok(_) | Err(StoreError::Unavailable(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Lets every lock go and closes the lock connection. The locks are released by a statement, not left to the
    /// server noticing the closed connection (which happens a moment later), so once this returns other processes
    /// see this one gone.
    pub(super) async fn close(&self) {
        if let Some(mut conn) = self.conn.lock().await.take() {
            let _ = sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut conn).await;
            let _ = conn.close().await;
        }
        self.held().clear();
    }
}
