//! The PostgreSQL backend: the same [`Store`] as the SQLite backend, for several engram processes on one database.
//!
//! Opening connects a pool (size, statement timeout and acquire timeout from [`PostgresOptions`]), applies the
//! migrations in `migrations-postgres/` (refusing a database written by a newer engram) and finds out how vectors are
//! searched ([`VectorPath`]). Nothing about agent state is cached in the process: another engram may write the same
//! database at any time, so every read asks the database.
//!
//! Every audited write is one transaction that first locks its organisation's row (`audit::lock_org`) and then takes
//! `seq` from it per event, so `seq` is gap-free per organisation across processes and same-organisation writers are
//! serialised (which also makes positions, versions and model checks race-free). The per-object modules hold the
//! SQL: `agents`, `blocks`, `attachments`, `passages`, `messages`, `compaction`, `window`, `runs`, `idempotency`,
//! `embeddings`, `import`, `text_search` (tsvector/GIN, with the search `filters`), `vector_search` with `pgvector` (in the database) or `exact` (a scan in
//! engram when pgvector is missing); `coordination` (advisory locks: this process's liveness and the agents it runs)
//! and `queue` (interrupted runs, claiming queued runs) let several processes share the database; `rows` decodes
//! rows; `store_impl` wires them to the trait. `scratch` makes and drops the benchmarks' throwaway databases.
//!
//! [`Store`]: crate::Store

mod agents;
mod attachments;
mod audit;
mod blocks;
mod compaction;
mod coordination;
mod embeddings;
mod exact;
mod filters;
mod idempotency;
mod import;
mod messages;
mod migrate;
mod passages;
mod pgvector;
mod queue;
mod rows;
mod runs;
mod scratch;
mod store_impl;
mod text_search;
mod vector_search;
mod window;

use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Postgres, Transaction};
use ulid::{Generator, Ulid};

use engram_core::ValidationError;
use engram_core::clock::{Clock, SystemClock};
use engram_core::org::OrgId;
use engram_core::page::PageRequest;

use crate::error::StoreError;

pub use migrate::known_schema_version;
pub use scratch::{ScratchDatabase, with_database};

/// Tuning for the PostgreSQL backend.
#[derive(Clone)]
pub struct PostgresOptions {
    /// Most connections the pool opens.
    pub pool_size: u32,
    /// Longest a statement may run before the server cancels it (the request then fails with `Unavailable`).
    pub statement_timeout: Duration,
    /// Longest a request waits for a connection (all busy, or the server unreachable) before failing with
    /// `Unavailable`; also how long opening waits for the server.
    pub acquire_timeout: Duration,
    /// With pgvector: above this many vectors of a dimension that has an HNSW index, an agent's searches go through
    /// that index first (falling back to the exact ranking when it answers fewer than `k` rows). Below it every
    /// search is exact. Lower than SQLite's in-process threshold because PostgreSQL's exact ranking costs more per
    /// row: measured on the 2-core dev machine, 20k 384-dimension vectors took ~115 ms exactly, ~3–10 ms through
    /// the index.
    pub ann_threshold: usize,
    pub clock: Arc<dyn Clock>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            statement_timeout: Duration::from_secs(30),
            acquire_timeout: Duration::from_secs(5),
            ann_threshold: 10_000,
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("pool_size", &self.pool_size)
            .field("statement_timeout", &self.statement_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("ann_threshold", &self.ann_threshold)
            .finish_non_exhaustive()
    }
}

/// How vector search runs, decided by the schema when the database was first migrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorPath {
    /// Embeddings are pgvector `vector`s; PostgreSQL ranks them (exactly, or with an HNSW index for large agents).
    Pgvector,
    /// pgvector was not available: embeddings are `bytea` and engram scans an agent's vectors exactly.
    Exact,
}

impl VectorPath {
    /// `"pgvector"` or `"exact"`, as the health endpoint reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pgvector => "pgvector",
            Self::Exact => "exact",
        }
    }
}

/// The PostgreSQL store. Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// `host:port/database`, for messages (never the password).
    location: String,
    vector_path: VectorPath,
    ann_threshold: usize,
    clock: Arc<dyn Clock>,
    /// Monotonic within one millisecond, so this process's ids sort by creation even when several are made at once.
    ids: Mutex<Generator>,
    /// This process's liveness lock and the agents it is running.
    coordination: coordination::Coordination,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.inner.location)
            .field("vector_path", &self.inner.vector_path)
            .finish_non_exhaustive()
    }
}

/// `host:port/database` of a connection URL: where it points, without user name or password.
pub fn describe_url(url: &str) -> String {
    match PgConnectOptions::from_str(url) {
        Ok(options) => describe(&options),
        Err(_) => "an unparsable PostgreSQL URL".to_owned(),
    }
}

fn describe(options: &PgConnectOptions) -> String {
    let database = options.get_database().unwrap_or(options.get_username());
    format!("{}:{}/{}", options.get_host(), options.get_port(), database)
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database?…`), applies migrations and
    /// detects the vector path. A database that cannot be reached fails with [`StoreError::Unavailable`] naming
    /// where it tried (never the password); one written by a newer engram is refused with
    /// [`StoreError::SchemaTooNew`] and left unchanged.
    pub async fn open(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("the database URL is not a valid PostgreSQL URL: {e}")))?
            .application_name("engram");
        let location = describe(&connect);
        // Migrations run on a connection of their own, without the statement timeout (a migration of a large
        // database may take longer than any one request should). Connecting directly, rather than through the pool,
        // reports why the database cannot be reached instead of only that the pool gave up waiting.
        let connecting = tokio::time::timeout(options.acquire_timeout, connect.connect()).await;
        let mut conn = match connecting {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                return Err(StoreError::Unavailable(format!("cannot connect to PostgreSQL at {location}: {e}")));
            }
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "PostgreSQL at {location} did not answer within {} s",
                    options.acquire_timeout.as_secs_f64()
                )));
            }
        };
        let migrated = migrate::run(&mut conn).await;
        let _ = conn.close().await;
        let vector_path = migrated?;
        let coordination = coordination::Coordination::open(connect.clone(), options.acquire_timeout).await?;

        let timeout_ms = options.statement_timeout.as_millis().max(1);
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size.max(1))
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(Duration::from_secs(600))
            .test_before_acquire(true)
            .connect_lazy_with(connect.options([("statement_timeout", timeout_ms)]));
        tracing::debug!(%location, vector_path = vector_path.as_str(), "opened the PostgreSQL store");
        let inner = Inner {
            pool,
            location,
            vector_path,
            ann_threshold: options.ann_threshold,
            clock: options.clock,
            ids: Mutex::new(Generator::new()),
            coordination,
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// How vector search runs on this database.
    pub fn vector_path(&self) -> VectorPath {
        self.inner.vector_path
    }

    /// This process's instance key (see `coordination`).
    fn instance(&self) -> i32 {
        self.inner.coordination.instance()
    }

    /// The connection pool, for the SQLite-to-PostgreSQL transfer (`crate::transfer`), which writes tables directly.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// `host:port/database` this store is connected to.
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// The current time from the configured clock, at the precision it is stored with (microseconds).
    fn now(&self) -> DateTime<Utc> {
        rows::stored_time(self.inner.clock.now())
    }

    /// A fresh id, later than every id this store made before.
    fn next_ulid(&self) -> Ulid {
        let now = SystemTime::from(self.inner.clock.now());
        let mut ids = self.inner.ids.lock().unwrap_or_else(PoisonError::into_inner);
        // Overflow needs 2^80 ids in one millisecond; fall back to a fresh random id rather than fail.
        ids.generate_from_datetime(now).unwrap_or_else(|_| Ulid::new())
    }

    /// A connection outside any transaction: each statement is its own (and sees what was committed when it
    /// started). For reads, and for writes of one statement.
    async fn conn(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        Ok(self.inner.pool.acquire().await?)
    }

    /// A read-only transaction whose statements all see one snapshot.
    async fn snapshot(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self.inner.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?)
    }

    /// A write transaction that is not audited (embeddings, runs, idempotency keys).
    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self.inner.pool.begin().await?)
    }

    /// An audited write transaction for `org`: begun, with the organisation's audit counter locked until it ends.
    async fn write(&self, org: &OrgId) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.begin().await?;
        audit::lock_org(&mut tx, org, self.now()).await?;
        Ok(tx)
    }
}

/// Commits `tx` and returns `value`: the write is durable once this returns `Ok`.
async fn commit<T>(tx: Transaction<'static, Postgres>, value: T) -> Result<T, StoreError> {
    tx.commit().await?;
    Ok(value)
}

/// Checks a list cursor, which must name an id of the listed kind (`parse` is that id type's parser).
fn parse_cursor<T>(
    page: &PageRequest,
    parse: impl Fn(&str, &str) -> Result<T, ValidationError>,
) -> Result<Option<T>, StoreError> {
    Ok(page.after.as_deref().map(|after| parse("after", after)).transpose()?)
}
