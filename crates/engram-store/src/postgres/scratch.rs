//! Scratch databases for the benchmarks (`engram bench api --database-url`, the retrieval bench): a fresh, empty
//! database made through a server URL, measured, and dropped afterwards, so a benchmark never writes into a database
//! that holds anything else.
//!
//! The URL must let its role create databases (a superuser, or a role with `CREATEDB`); its database part only names
//! the database the administrative connection uses (`postgres` usually). Names are `{prefix}_{ulid}` in lower case,
//! so a database left behind by an interrupted run is easy to recognise and drop.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::error::StoreError;

/// A database this process created; [`ScratchDatabase::drop_database`] removes it.
#[derive(Debug)]
pub struct ScratchDatabase {
    admin: PgConnectOptions,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates `{prefix}_{ulid}` on the server `server_url` points at. `prefix` is a lower-case identifier chosen
    /// by the caller (never user input).
    pub async fn create(server_url: &str, prefix: &str) -> Result<Self, StoreError> {
        let admin = PgConnectOptions::from_str(server_url)
            .map_err(|e| StoreError::Unavailable(format!("the database URL is not a valid PostgreSQL URL: {e}")))?
            .application_name("engram-bench");
        let name = format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase());
        let mut conn = connect(&admin).await?;
        let created = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut conn).await;
        let _ = conn.close().await;
        created?;
        Ok(Self { url: with_database(server_url, &name), admin, name })
    }

    /// The new database's URL: `server_url` with its database part replaced (credentials and parameters kept).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database's size on disk (`pg_database_size`), in bytes.
    pub async fn size_bytes(&self) -> Result<u64, StoreError> {
        let mut conn = connect(&self.admin).await?;
        let size: i64 = sqlx::query_scalar("SELECT pg_database_size($1)").bind(&self.name).fetch_one(&mut conn).await?;
        let _ = conn.close().await;
        Ok(u64::try_from(size).unwrap_or(0))
    }

    /// The server's version (`SHOW server_version`), such as `16.2`.
    pub async fn server_version(&self) -> Result<String, StoreError> {
        let mut conn = connect(&self.admin).await?;
        let version: String = sqlx::query_scalar("SHOW server_version").fetch_one(&mut conn).await?;
        let _ = conn.close().await;
        Ok(version)
    }

    /// Drops the database, closing any connection still open to it (`WITH (FORCE)`, PostgreSQL 13 and later).
    pub async fn drop_database(self) -> Result<(), StoreError> {
        let mut conn = connect(&self.admin).await?;
        let statement = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let dropped = sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut conn).await;
        let _ = conn.close().await;
        dropped?;
        Ok(())
    }
}

async fn connect(options: &PgConnectOptions) -> Result<PgConnection, StoreError> {
    options.connect().await.map_err(|e| {
        let location = super::describe(options);
        StoreError::Unavailable(format!("cannot connect to PostgreSQL at {location}: {e}"))
    })
}

/// `url` with its database replaced by `database` (query parameters kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_part_of_a_url_is_replaced() {
        let cases = [
            ("postgres://postgres@127.0.0.1:5432/postgres", "postgres://postgres@127.0.0.1:5432/t"),
            ("postgres://u:p@h:1/db?sslmode=disable", "postgres://u:p@h:1/t?sslmode=disable"),
            ("postgres://h:1", "postgres://h:1/t"),
        ];
        for (url, want) in cases {
            assert_eq!(with_database(url, "t"), want);
        }
    }
}
