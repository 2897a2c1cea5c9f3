//! The PostgreSQL side: the database opened as a [`PostgresStore`] (so its migrations run and its vector path is
//! known), then written through the store's pool with plain statements: a batch of rows per transaction with
//! `INSERT … ON CONFLICT DO NOTHING`, the rows that were already there read back and compared with the source's, and
//! the identity sequences moved past the copied values at the end.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::error::TransferError;
use super::tables::Table;
use super::value::{self, Row, Value, key_text};
use crate::error::StoreError;
use crate::postgres::{PostgresOptions, PostgresStore, VectorPath};

/// The target database.
pub(super) struct Target {
    store: PostgresStore,
}

/// What one batch did.
#[derive(Debug, Default)]
pub(super) struct BatchOutcome {
    pub copied: u64,
    /// Rows that were already in the target, equal to the source's.
    pub skipped: u64,
}

impl Target {
    /// Connects to `url` and brings the database to this build's schema. Statements may take longer than a
    /// server's requests are allowed to (a batch of vectors with their indexes).
    pub async fn open(url: &str) -> Result<Self, TransferError> {
        let options =
            PostgresOptions { pool_size: 2, statement_timeout: Duration::from_secs(600), ..PostgresOptions::default() };
        let store = PostgresStore::open(url, options).await.map_err(TransferError::Target)?;
        Ok(Self { store })
    }

    pub fn store(&self) -> &PostgresStore {
        &self.store
    }

    pub fn path(&self) -> VectorPath {
        self.store.vector_path()
    }

    fn failed(&self, table: &Table, source: impl Into<StoreError>) -> TransferError {
        TransferError::Table { table: table.name, source: source.into() }
    }

    /// Whether `table` has no rows at all (then nothing in it can differ from the source).
    pub async fn is_empty(&self, table: &Table) -> Result<bool, TransferError> {
        let sql = format!("SELECT NOT EXISTS (SELECT 1 FROM {})", table.name);
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(self.store.pool())
            .await
            .map_err(|e| self.failed(table, e))
    }

    /// Checks `rows` (source rows of `table`) against the target without writing: returns how many are there
    /// already, and fails on the first one that differs.
    pub async fn check(&self, table: &Table, rows: &[Row]) -> Result<u64, TransferError> {
        let mut conn = self.store.pool().acquire().await.map_err(|e| self.failed(table, e))?;
        let existing = self.existing(&mut conn, table, rows).await?;
        for row in rows {
            if let Some(stored) = existing.get(&key_text(table, row)) {
                compare(table, row, stored)?;
            }
        }
        Ok(existing.len() as u64)
    }

    /// Copies `rows` (source rows of `table`) in one transaction: inserts those that are missing and compares the
    /// others with what the target holds. Nothing of the batch is written if one differs.
    pub async fn copy(&self, table: &Table, rows: &[Row]) -> Result<BatchOutcome, TransferError> {
        if rows.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let mut tx = self.store.pool().begin().await.map_err(|e| self.failed(table, e))?;
        let inserted = self.insert(&mut tx, table, rows).await?;
        let others: Vec<Row> = rows.iter().filter(|row| !inserted.contains(&key_text(table, row))).cloned().collect();
        let existing = self.existing(&mut tx, table, &others).await?;
        for row in &others {
            let key = key_text(table, row);
            match existing.get(&key) {
                Some(stored) => compare(table, row, stored)?,
                // Not inserted, yet no row has its key: it collided with another unique constraint.
                None => {
                    return Err(TransferError::Diverged {
                        table: table.name,
                        key,
                        detail: "a different row in the target has one of its unique values (a position, label or \
                                 internal key)"
                            .to_owned(),
                        copied: 0,
                    });
                }
            }
        }
        tx.commit().await.map_err(|e| self.failed(table, e))?;
        Ok(BatchOutcome { copied: inserted.len() as u64, skipped: others.len() as u64 })
    }

    /// Inserts `rows`, skipping those that conflict; returns the keys of the inserted ones.
    async fn insert(
        &self,
        conn: &mut PgConnection,
        table: &Table,
        rows: &[Row],
    ) -> Result<HashSet<String>, TransferError> {
        let path = self.path();
        let names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
        let overriding = if table.identity.is_some() { " OVERRIDING SYSTEM VALUE" } else { "" };
        let mut sql = QueryBuilder::<Postgres>::new(format!(
            "INSERT INTO {} ({}){overriding} VALUES ",
            table.name,
            names.join(", ")
        ));
        for (n, row) in rows.iter().enumerate() {
            if n > 0 {
                sql.push(", ");
            }
            push_tuple(&mut sql, table, row, table.columns.len(), path);
        }
        sql.push(format!(" ON CONFLICT DO NOTHING RETURNING {}", table.key.join(", ")));
        let found = sql.build().fetch_all(&mut *conn).await.map_err(|e| self.failed(table, e))?;
        found.iter().map(|row| self.read_key(table, row)).collect()
    }

    fn read_key(&self, table: &Table, row: &PgRow) -> Result<String, TransferError> {
        let key: Row = table.columns[..table.key.len()]
            .iter()
            .enumerate()
            .map(|(i, column)| value::from_postgres(row, i, column, self.path()))
            .collect::<Result<_, _>>()
            .map_err(|e| self.failed(table, e))?;
        Ok(key_text(table, &key))
    }

    /// The target's rows with the keys of `rows`, by key text.
    async fn existing(
        &self,
        conn: &mut PgConnection,
        table: &Table,
        rows: &[Row],
    ) -> Result<HashMap<String, Row>, TransferError> {
        if rows.is_empty() {
            return Ok(HashMap::new());
        }
        let path = self.path();
        let mut sql = select(table, path);
        sql.push(format!(" WHERE ({}) IN (", table.key.join(", ")));
        for (n, row) in rows.iter().enumerate() {
            if n > 0 {
                sql.push(", ");
            }
            push_tuple(&mut sql, table, row, table.key.len(), path);
        }
        sql.push(")");
        let found = self.fetch(conn, table, sql).await?;
        Ok(found.into_iter().map(|row| (key_text(table, &row), row)).collect())
    }

    /// Up to `limit` audit events of `org` after `after_seq`, in `seq` order (`table` is the audit table).
    pub async fn events(
        &self,
        table: &Table,
        org: &str,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<Row>, TransferError> {
        let mut conn = self.store.pool().acquire().await.map_err(|e| self.failed(table, e))?;
        let mut sql = select(table, self.path());
        sql.push(" WHERE org_id = ").push_bind(org.to_owned());
        sql.push(" AND seq > ").push_bind(after_seq);
        sql.push(" ORDER BY seq LIMIT ").push_bind(limit as i64);
        self.fetch(&mut conn, table, sql).await
    }

    /// The organisation's audit counter in the target, if it has a row.
    pub async fn audit_seq(&self, org: &str) -> Result<Option<i64>, TransferError> {
        sqlx::query_scalar("SELECT audit_seq FROM orgs WHERE id = $1")
            .bind(org)
            .fetch_optional(self.store.pool())
            .await
            .map_err(|e| TransferError::Table { table: "orgs", source: e.into() })
    }

    /// Moves the sequence of `table`'s identity column past the largest value it holds (never back), so that rows
    /// the target's own writers add later get fresh values.
    pub async fn advance_identity(&self, table: &Table) -> Result<(), TransferError> {
        let Some(column) = table.identity else { return Ok(()) };
        let sql = format!(
            "SELECT setval(s.seq, m.max) FROM (SELECT pg_get_serial_sequence('{table}', '{column}')::regclass AS seq) s, \
             (SELECT max({column}) AS max FROM {table}) m \
             WHERE m.max IS NOT NULL AND m.max > COALESCE(pg_sequence_last_value(s.seq), 0)",
            table = table.name
        );
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(self.store.pool()).await.map_err(|e| self.failed(table, e))?;
        Ok(())
    }

    async fn fetch(
        &self,
        conn: &mut PgConnection,
        table: &Table,
        mut sql: QueryBuilder<Postgres>,
    ) -> Result<Vec<Row>, TransferError> {
        let path = self.path();
        let found = sql.build().fetch_all(&mut *conn).await.map_err(|e| self.failed(table, e))?;
        found
            .iter()
            .map(|row| {
                table.columns.iter().enumerate().map(|(i, column)| value::from_postgres(row, i, column, path)).collect()
            })
            .collect::<Result<Vec<Row>, StoreError>>()
            .map_err(|e| self.failed(table, e))
    }

    pub async fn close(self) {
        use crate::Store;
        self.store.close().await;
    }
}

/// `SELECT <the table's columns> FROM <table>`, in the form [`value::from_postgres`] reads.
fn select(table: &Table, path: VectorPath) -> QueryBuilder<Postgres> {
    let columns: Vec<String> = table.columns.iter().map(|c| value::postgres_select(c, path)).collect();
    QueryBuilder::new(format!("SELECT {} FROM {}", columns.join(", "), table.name))
}

/// `(v1, v2, …)`: the first `n` values of `row`, each bound as its column's value.
fn push_tuple(sql: &mut QueryBuilder<Postgres>, table: &Table, row: &[Value], n: usize, path: VectorPath) {
    sql.push("(");
    for (i, (column, value)) in table.columns.iter().zip(row).take(n).enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        value::push_postgres(sql, value, column, path);
    }
    sql.push(")");
}

/// Fails unless the target's row equals the source's.
fn compare(table: &Table, source: &[Value], target: &[Value]) -> Result<(), TransferError> {
    match value::difference(table, source, target) {
        None => Ok(()),
        // An organisation's counter is its number of audit events: the two logs have grown apart.
        Some(detail) if table.name == "orgs" => Err(TransferError::Diverged {
            table: table.name,
            key: key_text(table, source),
            detail: format!("{detail} (one side has audit events the other lacks: it was written after the copy)"),
            copied: 0,
        }),
        Some(detail) => {
            Err(TransferError::Diverged { table: table.name, key: key_text(table, source), detail, copied: 0 })
        }
    }
}
