//! PostgreSQL databases for tests: one fresh database per test on a shared throwaway server, dropped when the test
//! ends.
//!
//! The servers come from `scripts/test-postgres` (started on first use, once per test binary): `pg16` is PostgreSQL
//! 16 with pgvector, `pg15` the machine's PostgreSQL 15 without it (the exact-scan fallback). `ENGRAM_TEST_PG16_URL`
//! / `ENGRAM_TEST_PG15_URL` point the tests at another server instead (a superuser URL; its database part is
//! replaced by each test's database). [`TestDatabase::create`] makes `engram_test_<ulid>`; dropping the guard drops
//! the database (`WITH (FORCE)`, best effort).

use std::path::PathBuf;
use std::str::FromStr;

use engram_store::postgres::with_database;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::sync::OnceCell;

/// Which test server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgVersion {
    /// PostgreSQL 16 with pgvector.
    Pg16,
    /// PostgreSQL 15 without pgvector.
    Pg15,
}

impl PgVersion {
    /// `pg16` or `pg15`, as `scripts/test-postgres` and `ENGRAM_TEST_BACKEND` name them.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pg16 => "pg16",
            Self::Pg15 => "pg15",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pg16" => Some(Self::Pg16),
            "pg15" => Some(Self::Pg15),
            _ => None,
        }
    }

    fn url_override(self) -> &'static str {
        match self {
            Self::Pg16 => "ENGRAM_TEST_PG16_URL",
            Self::Pg15 => "ENGRAM_TEST_PG15_URL",
        }
    }

    fn cell(self) -> &'static OnceCell<String> {
        static PG16: OnceCell<String> = OnceCell::const_new();
        static PG15: OnceCell<String> = OnceCell::const_new();
        match self {
            Self::Pg16 => &PG16,
            Self::Pg15 => &PG15,
        }
    }
}

/// The repository root (two levels above this crate).
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

/// The superuser URL of the test server, starting it if needed.
pub async fn server_url(version: PgVersion) -> String {
    version
        .cell()
        .get_or_init(|| async move {
            if let Ok(url) = std::env::var(version.url_override())
                && !url.trim().is_empty()
            {
                return url.trim().to_owned();
            }
            let script = repo_root().join("scripts").join("test-postgres");
            let output = tokio::process::Command::new(&script)
                .arg(version.name())
                .output()
                .await
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            assert!(
                output.status.success(),
                "{} {} failed: {}",
                script.display(),
                version.name(),
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        })
        .await
        .clone()
}

/// A database made for one test; dropped (with any connections left) when this guard is.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates `engram_test_<ulid>` on the `version` test server.
    pub async fn create(version: PgVersion) -> Self {
        let admin_url = server_url(version).await;
        let name = format!("engram_test_{}", ulid::Ulid::new().to_string().to_lowercase());
        let mut conn = connect(&admin_url).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = conn.close().await;
        Self { url: with_database(&admin_url, &name), admin_url, name }
    }

    /// The database's URL (superuser).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

async fn connect(url: &str) -> sqlx::PgConnection {
    let options = PgConnectOptions::from_str(url).unwrap_or_else(|e| panic!("bad test server URL: {e}"));
    options.connect().await.unwrap_or_else(|e| panic!("cannot connect to the test server: {e}"))
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statement = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        // A thread of its own with its own runtime: this may run inside (or outside) the test's runtime.
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                let Ok(options) = PgConnectOptions::from_str(&admin_url) else { return };
                let Ok(mut conn) = options.connect().await else { return };
                let _ = sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut conn).await;
                let _ = conn.close().await;
            });
        });
        let _ = dropper.join();
    }
}
