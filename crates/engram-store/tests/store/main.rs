//! The store integration tests: the whole conformance suite against `SqliteStore` (each check in its own temp dir)
//! and against `PostgresStore` (`postgres`: PostgreSQL 16 with pgvector and 15 without, each check in its own
//! database, with the PostgreSQL-specific tests, and `coordination`: several stores on one database as several
//! processes would be), and what only the SQLite backend has to show: migrations, refusal
//! of a newer schema, persistence across reopen, concurrent writers, group commit, full-text index consistency and
//! corrupt-data reporting.

mod concurrency;
mod coordination;
mod group_commit;
mod migrations;
mod persistence;
mod postgres;
mod support;

use std::sync::Arc;

use engram_store::{SqliteOptions, SqliteStore};
use engram_testkit::conformance::fixtures::Must;
use engram_testkit::conformance::{FreshStore, StoreFactory};

/// Opens a fresh SQLite store in a new temp dir for each conformance check.
struct Sqlite;

impl StoreFactory for Sqlite {
    async fn fresh(&self) -> FreshStore {
        let dir = tempfile::tempdir().must("temp dir");
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).await.must("open sqlite store");
        FreshStore::new(Arc::new(store), dir)
    }
}

mod conformance {
    engram_testkit::store_conformance_tests!(super::Sqlite);
}
