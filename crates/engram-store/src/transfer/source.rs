//! The SQLite side: the data directory's database, brought to this build's schema by opening it as a store once,
//! then read on one read-only connection inside one read transaction, so that every table is read from the same
//! snapshot (in WAL mode a writer does not disturb it). Rows come in key order, a batch at a time.

use std::path::{Path, PathBuf};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, QueryBuilder, Sqlite, SqliteConnection};

use super::error::TransferError;
use super::tables::Table;
use super::value::{self, Row, Value};
use crate::error::StoreError;
use crate::sqlite::DB_FILE;
use crate::{SqliteOptions, SqliteStore, Store};

/// The source database, in one read snapshot.
pub(super) struct Source {
    conn: SqliteConnection,
    dir: PathBuf,
}

impl Source {
    /// Opens `<data_dir>/engram.db`, which must exist (nothing is created). Its missing migrations are applied
    /// first, as `engram serve` would; a database written by a newer engram is refused untouched.
    pub async fn open(data_dir: &Path) -> Result<Self, TransferError> {
        let file = data_dir.join(DB_FILE);
        if !file.is_file() {
            return Err(TransferError::NoSource { dir: data_dir.to_path_buf(), file });
        }
        let failed = |source: StoreError| TransferError::Source { dir: data_dir.to_path_buf(), source };
        let store = SqliteStore::open(data_dir, SqliteOptions::default()).await.map_err(failed)?;
        store.close().await;
        let options = SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(false)
            .pragma("query_only", "ON")
            .busy_timeout(std::time::Duration::from_secs(5));
        let mut conn = options.connect().await.map_err(|e| failed(e.into()))?;
        // The snapshot starts with the first read and lasts until the connection closes.
        sqlx::query("BEGIN").execute(&mut conn).await.map_err(|e| failed(e.into()))?;
        Ok(Self { conn, dir: data_dir.to_path_buf() })
    }

    /// The data directory, for messages.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn failed(&self, source: impl Into<StoreError>) -> TransferError {
        TransferError::Source { dir: self.dir.clone(), source: source.into() }
    }

    /// How many rows `table` has.
    pub async fn count(&mut self, table: &Table) -> Result<u64, TransferError> {
        let sql = format!("SELECT COUNT(*) FROM {}", table.name);
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut self.conn).await.map_err(|e| self.failed(e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Up to `limit` rows of `table` whose key comes after `after` (all rows from the first when `None`), in key
    /// order.
    pub async fn batch(
        &mut self,
        table: &Table,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Vec<Row>, TransferError> {
        let mut sql = select(table);
        if let Some(after) = after {
            sql.push(format!(" WHERE ({}) > (", table.key.join(", ")));
            push_values(&mut sql, after);
            sql.push(")");
        }
        sql.push(format!(" ORDER BY {} LIMIT ", table.key.join(", "))).push_bind(limit as i64);
        self.fetch(table, sql).await
    }

    /// Up to `limit` audit events of `org` after `after_seq`, in `seq` order (`table` is the audit table).
    pub async fn events(
        &mut self,
        table: &Table,
        org: &str,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<Row>, TransferError> {
        let mut sql = select(table);
        sql.push(" WHERE org_id = ").push_bind(org.to_owned());
        sql.push(" AND seq > ").push_bind(after_seq);
        sql.push(" ORDER BY seq LIMIT ").push_bind(limit as i64);
        self.fetch(table, sql).await
    }

    /// How many audit events `org` has.
    pub async fn count_events(&mut self, org: &str) -> Result<u64, TransferError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE org_id = ?1")
            .bind(org)
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Every organisation that has an audit counter or events, in id order.
    pub async fn orgs(&mut self) -> Result<Vec<String>, TransferError> {
        sqlx::query_scalar("SELECT id FROM orgs UNION SELECT DISTINCT org_id FROM audit_events ORDER BY 1")
            .fetch_all(&mut self.conn)
            .await
            .map_err(|e| self.failed(e))
    }

    async fn fetch(&mut self, table: &Table, mut sql: QueryBuilder<Sqlite>) -> Result<Vec<Row>, TransferError> {
        let found = sql.build().fetch_all(&mut self.conn).await.map_err(|e| self.failed(e))?;
        found
            .iter()
            .map(|row| table.columns.iter().enumerate().map(|(i, column)| value::from_sqlite(row, i, column)).collect())
            .collect::<Result<Vec<Row>, StoreError>>()
            .map_err(|e| self.failed(e))
    }

    /// Ends the snapshot and closes the connection.
    pub async fn close(mut self) {
        let _ = sqlx::query("ROLLBACK").execute(&mut self.conn).await;
        let _ = self.conn.close().await;
    }
}

/// `SELECT <the table's source expressions> FROM <table>`.
fn select(table: &Table) -> QueryBuilder<Sqlite> {
    let columns: Vec<&str> = table.columns.iter().map(|c| c.source).collect();
    QueryBuilder::new(format!("SELECT {} FROM {}", columns.join(", "), table.name))
}

fn push_values(sql: &mut QueryBuilder<Sqlite>, values: &[Value]) {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        value::push_sqlite(sql, value);
    }
}
