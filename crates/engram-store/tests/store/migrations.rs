//! Migrations: a fresh data dir is created and migrated, reopening applies nothing twice, and a data dir written by
//! a newer engram is refused without being changed, and an older one is upgraded in place.

use engram_core::run::RunStatus;
use engram_store::AuditQuery;
use engram_store::sqlite::{DB_FILE, known_schema_version};
use engram_store::{Store, StoreError};
use engram_testkit::conformance::fixtures::{Must, ctx, new_agent, org};

use super::support::{open, raw};

#[tokio::test]
async fn a_fresh_dir_is_created_and_migrated() {
    let tmp = tempfile::tempdir().must("temp dir");
    let dir = tmp.path().join("nested").join("data");
    let store = open(&dir).await;
    store.ping().await.must("ping");
    assert_eq!(store.backend(), "sqlite");
    assert!(dir.join(DB_FILE).is_file());
    store.close().await;

    let mut conn = raw(&dir).await;
    let applied: Vec<(i64, bool)> = sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .must("migrations");
    assert_eq!(applied.last(), Some(&(known_schema_version(), true)));
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await.must("journal mode");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn reopening_applies_nothing_twice() {
    let tmp = tempfile::tempdir().must("temp dir");
    let store = open(tmp.path()).await;
    store.close().await;
    let count = || async {
        let mut conn = raw(tmp.path()).await;
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(&mut conn).await.must("count");
        sqlx::Connection::close(conn).await.must("close raw connection");
        n
    };
    let applied = count().await;
    assert_eq!(applied, known_schema_version(), "one row per migration, numbered from 1 without gaps");
    let store = open(tmp.path()).await;
    store.close().await;
    assert_eq!(count().await, applied);
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_unchanged() {
    let tmp = tempfile::tempdir().must("temp dir");
    let store = open(tmp.path()).await;
    let org = org("acme");
    let agent = store.create_agent(&ctx(&org), new_agent("Ada")).await.must("create agent");
    store.close().await;

    {
        let mut conn = raw(tmp.path()).await;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99990101000000, 'from the future', TRUE, X'00', 0)",
        )
        .execute(&mut conn)
        .await
        .must("insert future migration");
        sqlx::Connection::close(conn).await.must("close raw connection");
    }
    let path = tmp.path().join(DB_FILE);
    let before = std::fs::read(&path).must("read db file");

    match engram_store::SqliteStore::open(tmp.path(), Default::default()).await {
        Err(StoreError::SchemaTooNew { found, known }) => {
            assert_eq!((found, known), (99_990_101_000_000, known_schema_version()));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let after = std::fs::read(&path).must("read db file again");
    assert!(before == after, "a refused data dir is not modified");

    // Removing the future migration (a downgrade the user chose) makes it open again, data intact.
    let mut conn = raw(tmp.path()).await;
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 99990101000000").execute(&mut conn).await.must("delete");
    sqlx::Connection::close(conn).await.must("close raw connection");
    let store = open(tmp.path()).await;
    assert_eq!(store.get_agent(&org, agent.id).await.must("get agent"), agent);
    store.close().await;
}

/// A data dir written before the runs migration (schema 1) is upgraded in place: its data stays, runs work, and the
/// audit log continues where it stopped.
#[tokio::test]
async fn a_schema_1_data_dir_is_upgraded() {
    let tmp = tempfile::tempdir().must("temp dir");
    let store = open(tmp.path()).await;
    let org = org("acme");
    let agent = store.create_agent(&ctx(&org), new_agent("Ada")).await.must("create agent");
    store.close().await;

    // Take the file back to what the first release left: no runs tables, no message embedding model, and only
    // migration 1 recorded.
    {
        let mut conn = raw(tmp.path()).await;
        let downgrade = [
            "DROP INDEX passages_unembedded",
            "DROP INDEX messages_unembedded",
            "DROP INDEX passages_embedding_model",
            "DROP INDEX messages_embedding_model",
            "ALTER TABLE messages DROP COLUMN embedding_model",
            "DROP TABLE steps",
            "DROP TABLE runs",
            "DROP TRIGGER audit_events_seq",
            "DROP INDEX passage_tags_agent_tag_pk",
            "CREATE INDEX passage_tags_agent_tag ON passage_tags (agent_id, tag)",
            "DELETE FROM _sqlx_migrations WHERE version > 1",
        ];
        for sql in downgrade {
            sqlx::query(sql).execute(&mut conn).await.must(sql);
        }
        sqlx::Connection::close(conn).await.must("close raw connection");
    }

    let store = open(tmp.path()).await;
    assert_eq!(store.get_agent(&org, agent.id).await.must("get agent"), agent);
    let run = store
        .create_run(&ctx(&org), agent.id, RunStatus::Queued, serde_json::json!({}), Vec::new())
        .await
        .must("run")
        .0;
    assert_eq!(store.get_run(&org, run.id).await.must("get run"), run);
    let before = store.list_audit_events(&org, &AuditQuery::default()).await.must("events").items;
    store.create_agent(&ctx(&org), new_agent("Bob")).await.must("create after the upgrade");
    let after = store.list_audit_events(&org, &AuditQuery::default()).await.must("events").items;
    let seqs: Vec<i64> = after.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=after.len() as i64).collect::<Vec<_>>(), "gap-free across the upgrade");
    assert!(after.len() > before.len());
    store.close().await;
    let mut conn = raw(tmp.path()).await;
    let latest: i64 =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(&mut conn).await.must("version");
    assert_eq!(latest, known_schema_version());
}
