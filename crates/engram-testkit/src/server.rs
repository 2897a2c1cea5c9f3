//! A real engram server for tests: bound to port 0, backed by SQLite in a temporary directory (or, with
//! `ENGRAM_TEST_BACKEND=pg16|pg15`, by PostgreSQL in a fresh test database), stopped gracefully, and restartable on
//! the same data to test durability.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use engram_embed::Embedders;
use engram_server::{Application, ServerConfig};
use engram_store::{PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::postgres::{PgVersion, TestDatabase};

/// The environment variable that picks the store of every [`TestServer`]: `sqlite` (the default), `pg16` or `pg15`.
pub const BACKEND_VAR: &str = "ENGRAM_TEST_BACKEND";

/// The PostgreSQL test server [`BACKEND_VAR`] asks for, or `None` for SQLite.
pub fn postgres_backend() -> Option<PgVersion> {
    let backend = std::env::var(BACKEND_VAR).unwrap_or_default();
    match backend.trim() {
        "" | "sqlite" => None,
        other => Some(
            PgVersion::parse(other).unwrap_or_else(|| panic!("{BACKEND_VAR}={other}: expected sqlite, pg16 or pg15")),
        ),
    }
}

/// A running test server.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub client: reqwest::Client,
    pub config: ServerConfig,
    embedders: Embedders,
    data_dir: Arc<TempDir>,
    /// The PostgreSQL database the store lives in, when the backend is PostgreSQL (dropped with the last server).
    database: Option<Arc<TestDatabase>>,
    store: Arc<dyn Store>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

/// A response with its body parsed as JSON (`Value::Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// The `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestServer {
    /// A server with the default configuration on a fresh data directory.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server whose configuration `tweak` adjusts (the listen address is always `127.0.0.1:0`).
    pub async fn spawn_with(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut config = ServerConfig::default();
        tweak(&mut config);
        let embedders = Embedders::new(config.embedders.clone());
        Self::spawn_embedders(config, embedders).await
    }

    /// A server with the real local embedding model (semantic search on), loaded once per test binary.
    pub async fn spawn_semantic() -> Self {
        Self::spawn_embedders(ServerConfig::default(), crate::embedding::local_embedders()).await
    }

    /// [`TestServer::spawn_semantic`] with a configuration `tweak`, which may point embedding providers elsewhere
    /// (so the local model is loaded again for this server).
    pub async fn spawn_semantic_with(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut config = ServerConfig::default();
        tweak(&mut config);
        config.embedders.model_dir = Some(crate::embedding::model_dir());
        let embedders = Embedders::new(config.embedders.clone());
        Self::spawn_embedders(config, embedders).await
    }

    async fn spawn_embedders(mut config: ServerConfig, embedders: Embedders) -> Self {
        config.listen = "127.0.0.1:0".parse().expect("address");
        let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        let database = match postgres_backend() {
            Some(version) => Some(Arc::new(TestDatabase::create(version).await)),
            None => None,
        };
        Self::start(config, embedders, dir, database).await
    }

    async fn start(
        config: ServerConfig,
        embedders: Embedders,
        data_dir: Arc<TempDir>,
        database: Option<Arc<TestDatabase>>,
    ) -> Self {
        let store: Arc<dyn Store> = match &database {
            Some(database) => Arc::new(
                PostgresStore::open(database.url(), PostgresOptions::default()).await.expect("open postgres store"),
            ),
            None => Arc::new(SqliteStore::open(data_dir.path(), SqliteOptions::default()).await.expect("open store")),
        };
        let app = Application::bind_with(config.clone(), store.clone(), embedders.clone()).await.expect("bind");
        let base = format!("http://{}", app.local_addr());
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            base,
            client: reqwest::Client::new(),
            config,
            embedders,
            data_dir,
            database,
            store,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// `"sqlite"` or `"postgres"`: the store this server runs on.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// The PostgreSQL database's URL, when the server runs on PostgreSQL.
    pub fn database_url(&self) -> Option<&str> {
        self.database.as_deref().map(TestDatabase::url)
    }

    /// The path of the SQLite database file (meaningful only when [`TestServer::backend`] is `sqlite`).
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.path().join(engram_store::sqlite::DB_FILE)
    }

    /// Stops gracefully (in-flight requests finish) and closes the store.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("server io");
        }
        self.store.close().await;
    }

    /// Stops this server and starts a new one on the same data (directory or database) and configuration.
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        Self::start(self.config.clone(), self.embedders.clone(), self.data_dir.clone(), self.database.clone()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request builder for custom headers; send it with [`TestServer::send`].
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn send(&self, builder: RequestBuilder) -> Resp {
        let response = builder.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, headers, body, text }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(self.request(Method::POST, path).json(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(self.request(Method::PATCH, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// Creates an agent named `name` with `human` and `persona` blocks; returns its JSON.
    pub async fn create_agent(&self, name: &str) -> Value {
        let r = self
            .post(
                "/v1/agents",
                serde_json::json!({
                    "name": name,
                    "blocks": [
                        {"label": "human", "value": "Name: unknown", "limit": 200},
                        {"label": "persona", "value": "A careful assistant."}
                    ]
                }),
            )
            .await;
        assert_eq!(r.status, 201, "create agent: {}", r.text);
        r.body
    }

    /// Every item of a paginated list, following cursors with `limit` per page.
    pub async fn list_all(&self, path: &str, limit: u32) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = format!("{path}{sep}limit={limit}");
            if let Some(a) = &after {
                url.push_str(&format!("&after={a}"));
            }
            let r = self.get(&url).await;
            assert_eq!(r.status, 200, "list {url}: {}", r.text);
            items.extend(r.body["items"].as_array().cloned().unwrap_or_default());
            match r.body["next_cursor"].as_str() {
                Some(c) => after = Some(c.to_owned()),
                None => return items,
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
