//! `engram serve`: the composition root. Resolves settings, opens the store (SQLite in the data directory, or
//! PostgreSQL when a database URL is configured), binds the HTTP server, runs it until SIGTERM or SIGINT, then lets
//! in-flight requests finish and closes the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use engram_server::Application;
use engram_store::postgres::describe_url;
use engram_store::{PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store, StoreError};
use tokio::signal::unix::{SignalKind, signal};

use crate::config::{self, ConfigFlags, DatabaseSettings, Settings};
use crate::logging;

pub async fn run(flags: &ConfigFlags) -> anyhow::Result<()> {
    let settings = config::resolve(flags)?.settings;
    logging::init(&settings.log, settings.log_format)?;
    // Subscribe before binding, so a signal that arrives while starting is not lost.
    let shutdown = shutdown_signal()?;

    let store = open_configured_store(&settings).await?;
    let application = match Application::bind(settings.server_config(), store.clone()).await {
        Ok(application) => application,
        Err(e) => {
            store.close().await;
            return Err(anyhow!(e));
        }
    };
    announce(&application, &settings);

    let result = application.run_until(shutdown).await;
    store.close().await;
    result.context("server failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// The store the settings ask for: PostgreSQL when a database URL is configured, else SQLite in the data directory.
pub(crate) async fn open_configured_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    match &settings.database.url {
        Some(url) => open_postgres(url, &settings.database).await,
        None => open_store(&settings.data_dir).await,
    }
}

async fn open_postgres(url: &str, database: &DatabaseSettings) -> anyhow::Result<Arc<dyn Store>> {
    let options = PostgresOptions {
        pool_size: database.pool_size,
        statement_timeout: database.statement_timeout,
        ..PostgresOptions::default()
    };
    match PostgresStore::open(url, options).await {
        Ok(store) => {
            tracing::info!(
                "storage: PostgreSQL at {} (vector search: {}, up to {} connections)",
                store.location(),
                store.vector_path().as_str(),
                database.pool_size
            );
            Ok(Arc::new(store))
        }
        // Both already say where and what to do (and never hold the password); wrapping would only bury them.
        Err(e @ (StoreError::SchemaTooNew { .. } | StoreError::Unavailable(_))) => Err(anyhow!("{e}")),
        Err(e) => Err(anyhow!(e).context(format!("cannot open the PostgreSQL database at {}", describe_url(url)))),
    }
}

/// The SQLite store in `data_dir`.
pub(crate) async fn open_store(data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    // `open` creates the directory and reports a failure to do so.
    match SqliteStore::open(data_dir, SqliteOptions::default()).await {
        Ok(store) => Ok(Arc::new(store)),
        // The message already says what to do; wrapping it would only bury it.
        Err(e @ StoreError::SchemaTooNew { .. }) => Err(anyhow!("{e}")),
        Err(e) => Err(anyhow!(e).context(format!("cannot open the database in {}", data_dir.display()))),
    }
}

/// One line that says where the data lives, where to connect and whether anyone can.
fn announce(application: &Application, settings: &Settings) {
    let addr = application.local_addr();
    let data_dir = match &settings.database.url {
        Some(url) => format!("PostgreSQL at {}", describe_url(url)),
        None => absolute(&settings.data_dir).display().to_string(),
    };
    if application.local_mode() {
        tracing::warn!(
            "listening on http://{addr} (data in {data_dir}) — LOCAL MODE: NO AUTHENTICATION, every request is \
             accepted; loopback only. Configure API keys before exposing engram"
        );
    } else {
        let keys = settings.api_keys.len();
        tracing::info!("listening on http://{addr} (data in {data_dir}), {keys} API key(s) configured");
    }
    let model_dir = absolute(&settings.embedding_model_dir);
    match application.embedders().local_status() {
        Ok(dir) => tracing::info!("semantic search on: local embedding model all-MiniLM-L6-v2 from {}", dir.display()),
        Err(reason) => tracing::warn!(
            "SEMANTIC SEARCH IS OFF for agents on local/all-minilm-l6-v2: the local embedding model could not be \
             loaded from {} ({reason}). Search runs in text mode (BM25) and answers say so. Install the model with \
             `scripts/fetch-model {}` and restart engram",
            model_dir.display(),
            model_dir.display(),
        ),
    }
    let providers = &settings.providers;
    let key = |key: &Option<String>| if key.is_some() { "API key set" } else { "no API key" };
    tracing::info!(
        "model providers: openai at {} ({}), anthropic at {} ({}), ollama at {}",
        providers.openai.base_url,
        key(&providers.openai.api_key),
        providers.anthropic.base_url,
        key(&providers.anthropic.api_key),
        providers.ollama.base_url,
    );
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Resolves when SIGTERM or SIGINT arrives.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!("received {name}; finishing in-flight requests");
    })
}
