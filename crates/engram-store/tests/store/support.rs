//! Helpers for the SQLite-specific tests: opening stores in temp dirs, a fixed clock, and raw connections that look
//! at the database file beside the store.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};

use engram_core::clock::Clock;
use engram_store::sqlite::DB_FILE;
use engram_store::{SqliteOptions, SqliteStore};
use engram_testkit::conformance::fixtures::Must;

/// A clock that always says the same time.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

pub async fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir, SqliteOptions::default()).await.must("open store")
}

pub async fn open_with_clock(dir: &Path, clock: FixedClock) -> SqliteStore {
    let options = SqliteOptions { clock: Arc::new(clock), ..SqliteOptions::default() };
    SqliteStore::open(dir, options).await.must("open store")
}

/// A plain connection to the data dir's database, outside the store.
pub async fn raw(dir: &Path) -> SqliteConnection {
    SqliteConnectOptions::new().filename(dir.join(DB_FILE)).connect().await.must("raw connection")
}

/// Runs FTS5's integrity check on both full-text indexes; it fails when an index disagrees with its table.
pub async fn check_fts(dir: &Path) {
    let mut conn = raw(dir).await;
    for table in ["passages_fts", "messages_fts"] {
        let sql = format!("INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)");
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.must(table);
    }
}
