//! The embedded SQLite backend: opening the data file, its writer connection and reader pool, pragmas and migrations.
//!
//! All writes go through one connection owned by the writer task (`writer`), so writers queue inside the process
//! instead of fighting over SQLite's file lock (no "database is locked" can reach a client), and writes queued at the
//! same time share one transaction and one fsync (group commit); reads use a separate pool of read-only connections
//! that see the last committed state through WAL. The per-object modules (`agents`, `blocks`,
//! `attachments`, `passages`, `messages`, `compaction`, `runs`, `idempotency`, `embeddings`, `vector_search`,
//! `text_search`) hold the SQL; `vectors` and `text_cache` keep the in-memory vector and full-text (BM25) indexes
//! derived from it and `tag_cache` the passages' tags, one per agent (`shelf`), read back through `ranked`; `audit` holds the one helper that records an
//! audit event; `rows` decodes rows into domain types; `store_impl` wires them to the [`Store`] trait.
//!
//! [`Store`]: crate::Store

mod agents;
mod attachments;
mod audit;
mod blocks;
mod compaction;
mod embeddings;
mod idempotency;
mod import;
mod messages;
mod passages;
mod queue;
mod ranked;
mod rows;
mod runs;
mod shelf;
mod store_impl;
mod tag_cache;
mod text_cache;
mod text_search;
mod vector_search;
mod vectors;
mod window;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Sqlite};
use ulid::{Generator, Ulid};

use engram_core::ValidationError;
use engram_core::clock::{Clock, SystemClock};
use engram_core::page::PageRequest;

use crate::error::StoreError;

pub use writer::CommitStats;

/// The database file inside the data directory.
pub const DB_FILE: &str = "engram.db";

/// The migrations this build knows, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Tuning for the SQLite backend.
#[derive(Clone)]
pub struct SqliteOptions {
    /// Reader connections (the writer is a single separate connection).
    pub read_connections: u32,
    /// How long a statement waits for a lock before failing.
    pub busy_timeout: Duration,
    pub clock: Arc<dyn Clock>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self { read_connections: 4, busy_timeout: Duration::from_secs(5), clock: Arc::new(SystemClock) }
    }
}

impl std::fmt::Debug for SqliteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteOptions")
            .field("read_connections", &self.read_connections)
            .field("busy_timeout", &self.busy_timeout)
            .finish_non_exhaustive()
    }
}

/// The SQLite store. Cloning is cheap and shares the pools.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// The task that owns the one writer connection and runs every write.
    writer: writer::Writer,
    reader: SqlitePool,
    clock: Arc<dyn Clock>,
    /// Monotonic within one millisecond, so ids sort by creation even when several are made at once.
    ids: Mutex<Generator>,
    /// Per-agent vector indexes, derived from the database and kept in step by the write paths.
    vectors: vectors::VectorCache,
    texts: text_cache::TextCache,
    /// Per-agent passage tags, for tag filters.
    tags: tag_cache::TagCache,
    /// This process's key as the owner of runs: one process owns the file, so any other owner is a process that
    /// has stopped.
    instance: i32,
    /// Whether unowned queued runs may exist, so that an empty queue costs a claim nothing (see `queue`).
    queue: queue::QueueHint,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

/// The highest migration version this build knows.
pub fn known_schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

impl SqliteStore {
    /// Opens (creating if needed) `<data_dir>/engram.db` and applies migrations. A data directory written by a newer
    /// engram is refused with [`StoreError::SchemaTooNew`] and left unchanged. The writer task is spawned on the
    /// calling Tokio runtime, which must outlive the store; [`Store::close`] lets queued writes finish.
    ///
    /// [`Store::close`]: crate::Store::close
    pub async fn open(data_dir: &Path, options: SqliteOptions) -> Result<Self, StoreError> {
        tokio::fs::create_dir_all(data_dir).await.map_err(|e| {
            StoreError::Unavailable(format!("cannot create the data directory {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join(DB_FILE);
        let connect = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(options.busy_timeout);
        // A write that cannot start within this long fails (without effect) instead of waiting forever.
        let queue_wait = Duration::from_secs(60).max(options.busy_timeout);
        // Migrations run on a one-connection pool, whose connection then becomes the writer's.
        let migrations = SqlitePoolOptions::new().max_connections(1).connect_with(connect.clone()).await?;
        if let Err(e) = migrate(&migrations).await {
            migrations.close().await;
            return Err(e);
        }
        let conn = migrations.acquire().await.map(PoolConnection::detach);
        migrations.close().await;
        let conn = conn?;
        // No ping before each acquire (sqlx's default): it is a round trip to the connection's worker thread on every
        // read, twice per agent step, and a connection to a local file does not go stale the way a socket does.
        let reader = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .acquire_timeout(queue_wait)
            .test_before_acquire(false)
            .connect_with(connect.clone().create_if_missing(false).pragma("query_only", "ON"))
            .await;
        let reader = match reader {
            Ok(reader) => reader,
            Err(e) => {
                let _ = conn.close().await;
                return Err(e.into());
            }
        };
        let inner = Inner {
            path,
            writer: writer::Writer::start(conn, connect.create_if_missing(false), queue_wait),
            reader,
            clock: options.clock,
            ids: Mutex::new(Generator::new()),
            vectors: vectors::VectorCache::default(),
            texts: text_cache::TextCache::default(),
            tags: tag_cache::TagCache::default(),
            instance: crate::codec::random_instance_key(),
            queue: queue::QueueHint::default(),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// This process's key as the owner of the runs it creates and claims.
    fn instance(&self) -> i32 {
        self.inner.instance
    }

    /// The current time from the configured clock.
    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// A fresh id, later than every id this store made before.
    fn next_ulid(&self) -> Ulid {
        let now = SystemTime::from(self.now());
        let mut ids = self.inner.ids.lock().unwrap_or_else(PoisonError::into_inner);
        // Overflow needs 2^80 ids in one millisecond; fall back to a fresh random id rather than fail.
        ids.generate_from_datetime(now).unwrap_or_else(|_| Ulid::new())
    }

    /// A connection from the reader pool.
    async fn read(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        Ok(self.inner.reader.acquire().await?)
    }
}

/// Checks a list cursor, which must name an id of the listed kind (`parse` is that id type's parser).
fn parse_cursor<T>(
    page: &PageRequest,
    parse: impl Fn(&str, &str) -> Result<T, ValidationError>,
) -> Result<Option<T>, StoreError> {
    Ok(page.after.as_deref().map(|after| parse("after", after)).transpose()?)
}

/// Refuses a database that records a migration this build does not know, before touching it; otherwise applies
/// the missing migrations.
async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    let known = known_schema_version();
    let mut conn = pool.acquire().await?;
    let has_table: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
    )
    .fetch_one(&mut *conn)
    .await?;
    if has_table {
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations").fetch_all(&mut *conn).await?;
        if let Some(found) = versions.into_iter().filter(|v| !MIGRATOR.version_exists(*v)).max() {
            return Err(StoreError::SchemaTooNew { found, known });
        }
    }
    drop(conn);
    MIGRATOR.run(pool).await.map_err(|e| match e {
        MigrateError::VersionMissing(found) => StoreError::SchemaTooNew { found, known },
        other => StoreError::Migration(other.to_string()),
    })
}
