//! Which storage the benchmarked server runs on, and a server started on it: SQLite in a fresh temporary data
//! directory, or PostgreSQL in a fresh database `engram_bench_<ulid>` made through `--database-url` and dropped when
//! the server stops. Each server the benchmark starts (the cold starts too) gets storage of its own, so every start
//! migrates an empty database and nothing measured depends on an earlier run.

use std::ffi::OsString;

use anyhow::{Context, bail};
use clap::ValueEnum;
use engram_store::postgres::{ScratchDatabase, describe_url};
use tempfile::TempDir;

use super::child::ServerProcess;

/// The environment variable `engram serve` reads its database URL from (given that way, rather than as a flag, so
/// the URL does not show in the process list).
const DATABASE_URL_ENV: &str = "ENGRAM_DATABASE_URL";
/// Prefix of the databases the benchmark creates.
const DATABASE_PREFIX: &str = "engram_bench";

/// A storage backend to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The name the tables print.
    pub fn title(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }

    /// The name `--backends` and the JSON output use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// The backends to measure, in order: `--backends` as given (duplicates dropped), else PostgreSQL when a database URL
/// is given and SQLite otherwise. PostgreSQL needs the URL.
pub fn resolve(backends: &[Backend], database_url: Option<&str>) -> anyhow::Result<Vec<Backend>> {
    let mut chosen: Vec<Backend> = Vec::new();
    for &backend in backends {
        if !chosen.contains(&backend) {
            chosen.push(backend);
        }
    }
    if chosen.is_empty() {
        chosen.push(if database_url.is_some() { Backend::Postgres } else { Backend::Sqlite });
    }
    if chosen.contains(&Backend::Postgres) && database_url.is_none() {
        bail!("--backends postgres needs --database-url postgres://USER@HOST:PORT/DATABASE");
    }
    Ok(chosen)
}

/// Where a backend's servers keep their data.
#[derive(Debug, Clone)]
pub enum Storage {
    Sqlite,
    /// A PostgreSQL server, by a URL whose role may create databases.
    Postgres {
        server_url: String,
    },
}

impl Storage {
    pub fn new(backend: Backend, database_url: Option<&str>) -> anyhow::Result<Self> {
        match (backend, database_url) {
            (Backend::Sqlite, _) => Ok(Self::Sqlite),
            (Backend::Postgres, Some(url)) => Ok(Self::Postgres { server_url: url.to_owned() }),
            (Backend::Postgres, None) => bail!("--backends postgres needs --database-url"),
        }
    }

    /// Starts a server on fresh storage of this kind.
    pub async fn start(&self) -> anyhow::Result<BenchServer> {
        let data_dir = tempfile::tempdir().context("cannot create a temporary data directory")?;
        let database = match self {
            Self::Sqlite => None,
            Self::Postgres { server_url } => Some(
                ScratchDatabase::create(server_url, DATABASE_PREFIX)
                    .await
                    .context("cannot create the benchmark's database (the --database-url role needs CREATEDB)")?,
            ),
        };
        let env: Vec<(&str, OsString)> =
            database.iter().map(|database| (DATABASE_URL_ENV, OsString::from(database.url()))).collect();
        match ServerProcess::start_with(data_dir.path(), &env).await {
            Ok(process) => Ok(BenchServer { process, database, _data_dir: data_dir }),
            Err(error) => {
                if let Some(database) = database {
                    database.drop_database().await.ok();
                }
                Err(error)
            }
        }
    }
}

/// `host:port` of a `host:port/database` description.
fn host_port(location: &str) -> &str {
    location.split_once('/').map_or(location, |(host_port, _)| host_port)
}

/// A server under measurement and the storage made for it.
pub struct BenchServer {
    pub process: ServerProcess,
    database: Option<ScratchDatabase>,
    _data_dir: TempDir,
}

impl BenchServer {
    /// A line saying where the data lives (never a password), with PostgreSQL's version.
    pub async fn describe(&self) -> anyhow::Result<String> {
        match &self.database {
            None => Ok("SQLite in a fresh temporary data directory per server".to_owned()),
            Some(database) => Ok(format!(
                "PostgreSQL {} at {}, a fresh database per server",
                database.server_version().await?,
                host_port(&describe_url(database.url()))
            )),
        }
    }

    /// Stops the server, then drops its database.
    pub async fn stop(self) -> anyhow::Result<()> {
        let stopped = self.process.stop().await;
        if let Some(database) = self.database {
            let name = database.name().to_owned();
            database.drop_database().await.with_context(|| format!("cannot drop the benchmark's database {name}"))?;
        }
        stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OPTIONS;

    #[test]
    fn the_database_url_goes_through_serves_own_variable() {
        assert!(OPTIONS.iter().any(|option| option.env == DATABASE_URL_ENV && option.flag == Some("database-url")));
    }

    #[test]
    fn backends_default_to_the_url_given() {
        let url = Some("postgres://u@h:1/postgres");
        assert_eq!(resolve(&[], None).unwrap(), [Backend::Sqlite]);
        assert_eq!(resolve(&[], url).unwrap(), [Backend::Postgres]);
        let both = [Backend::Sqlite, Backend::Postgres, Backend::Sqlite];
        assert_eq!(resolve(&both, url).unwrap(), [Backend::Sqlite, Backend::Postgres]);
        assert!(resolve(&[Backend::Postgres], None).is_err());
        assert_eq!(host_port("127.0.0.1:5432/postgres"), "127.0.0.1:5432");
    }
}
