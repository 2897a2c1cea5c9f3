//! Migrations for PostgreSQL: refusing a database written by a newer engram before touching it, applying the
//! missing migrations (sqlx holds an advisory lock meanwhile, so several engram processes starting at once migrate
//! once), and reading back which vector path the schema has.

use sqlx::PgConnection;
use sqlx::migrate::{MigrateError, Migrator};

use super::VectorPath;
use crate::error::StoreError;

/// The migrations this build knows, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations-postgres");

/// The highest PostgreSQL migration version this build knows.
pub fn known_schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Applies missing migrations (after refusing a newer schema) and returns the vector path the schema has.
pub(super) async fn run(conn: &mut PgConnection) -> Result<VectorPath, StoreError> {
    let known = known_schema_version();
    let has_table: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(&mut *conn).await?;
    if has_table {
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations").fetch_all(&mut *conn).await?;
        if let Some(found) = versions.into_iter().filter(|v| !MIGRATOR.version_exists(*v)).max() {
            return Err(StoreError::SchemaTooNew { found, known });
        }
    }
    // `run_direct` is `run` on a plain connection; `run` itself needs an `Acquire` impl that does not hold up in a
    // `Send` future (sqlx documents `run_direct` for exactly this).
    MIGRATOR.run_direct(None, &mut *conn, false).await.map_err(|e| match e {
        MigrateError::VersionMissing(found) => StoreError::SchemaTooNew { found, known },
        MigrateError::Execute(sqlx::Error::Io(io)) => StoreError::Unavailable(io.to_string()),
        other => StoreError::Migration(other.to_string()),
    })?;
    let embedding_type: Option<String> = sqlx::query_scalar(
        "SELECT t.typname::text FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
         WHERE a.attrelid = to_regclass('passages') AND a.attname = 'embedding' AND NOT a.attisdropped",
    )
    .fetch_optional(&mut *conn)
    .await?;
    match embedding_type.as_deref() {
        Some("vector") => Ok(VectorPath::Pgvector),
        Some("bytea") => Ok(VectorPath::Exact),
        other => Err(StoreError::Migration(format!(
            "passages.embedding has an unexpected type {}",
            other.unwrap_or("(missing)")
        ))),
    }
}
