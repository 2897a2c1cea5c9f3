//! Composition of the HTTP application: shared state, the router with its middleware stack, and the
//! [`Application`] that binds a listener and serves until a shutdown future resolves.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Request, Uri};
use axum::middleware;
use engram_core::agent::ModelRef;
use engram_core::clock::SystemClock;
use engram_embed::Embedders;
use engram_llm::Providers;
use engram_runtime::Runtime;
use engram_store::Store;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::api;
use crate::auth::{self, Authenticator};
use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::idempotency;
use crate::mcp;
use crate::metrics::{self, Metrics};
use crate::openapi::ApiDoc;

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<ServerConfig>,
    pub runtime: Runtime,
    pub(crate) auth: Arc<Authenticator>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) default_embedding: ModelRef,
    pub(crate) openapi_json: Arc<String>,
    /// MCP's streamable HTTP transport, mounted at `/mcp`; its sessions end when the server shuts down.
    pub(crate) mcp: engram_mcp::HttpTransport,
}

impl AppState {
    /// Builds the state, validating the parts of the configuration the server interprets itself, and loading the
    /// embedding models it configures.
    pub fn new(config: ServerConfig, store: Arc<dyn Store>) -> Result<Self, BindError> {
        let embedders = Embedders::new(config.embedders.clone());
        Self::with_embedders(config, store, embedders)
    }

    /// Builds the state around embedding models already loaded (tests share one local model between servers).
    pub fn with_embedders(
        config: ServerConfig,
        store: Arc<dyn Store>,
        embedders: Embedders,
    ) -> Result<Self, BindError> {
        let default_embedding = ModelRef::parse("embedding_model", &config.embedding_model)
            .map_err(|e| BindError::InvalidConfig(e.to_string()))?;
        let auth = Authenticator::new(&config.api_keys).map_err(BindError::InvalidConfig)?;
        let providers =
            Providers::new(config.providers.clone()).map_err(|e| BindError::InvalidConfig(e.to_string()))?;
        let runtime = Runtime::new(store.clone(), providers, embedders, Arc::new(SystemClock), config.runtime.clone());
        let mcp = mcp::transport(&config, store.clone(), runtime.retrieval().clone());
        Ok(Self {
            runtime,
            store,
            auth: Arc::new(auth),
            metrics: Arc::new(Metrics::default()),
            default_embedding,
            openapi_json: Arc::new(String::new()),
            mcp,
            config: Arc::new(config),
        })
    }
}

/// Builds the whole HTTP application for `state`.
pub fn router(mut state: AppState) -> Router {
    let protected = api::routes()
        .route_layer(middleware::from_fn_with_state(state.clone(), idempotency::layer))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::layer));
    let (routes, openapi) =
        OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(protected).merge(api::public_routes()).split_for_parts();
    state.openapi_json = Arc::new(openapi.to_pretty_json().unwrap_or_else(|_| "{}".to_owned()));

    let body_limit = state.config.body_limit_bytes;
    routes
        .merge(mcp::routes(&state))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), metrics::layer))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let request_id = req.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok());
            tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

async fn route_not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::RouteNotFound { method: method.to_string(), path: uri.path().to_owned() }
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(
        "refusing to listen on {addr} without API keys: anyone who can reach it could read and change every agent. \
         Configure API keys ([[api_keys]] in the config file or ENGRAM_API_KEYS=id:key[:org]), or listen on a \
         loopback address such as 127.0.0.1"
    )]
    Exposed { addr: SocketAddr },
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("cannot listen on {addr}: {source}")]
    Io { addr: SocketAddr, source: std::io::Error },
    #[error("cannot recover runs interrupted by the last stop: {0}")]
    Recovery(String),
}

/// A bound, not yet serving, HTTP server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("addr", &self.listener.local_addr().ok()).finish_non_exhaustive()
    }
}

impl Application {
    /// Validates the configuration and binds the listen address (port 0 picks a free port).
    pub async fn bind(config: ServerConfig, store: Arc<dyn Store>) -> Result<Self, BindError> {
        let embedders = Embedders::new(config.embedders.clone());
        Self::bind_with(config, store, embedders).await
    }

    /// As [`Application::bind`], with embedding models already loaded.
    pub async fn bind_with(
        config: ServerConfig,
        store: Arc<dyn Store>,
        embedders: Embedders,
    ) -> Result<Self, BindError> {
        if config.api_keys.is_empty() && !config.listen.ip().is_loopback() {
            return Err(BindError::Exposed { addr: config.listen });
        }
        let state = AppState::with_embedders(config, store, embedders)?;
        let addr = state.config.listen;
        let listener = TcpListener::bind(addr).await.map_err(|source| BindError::Io { addr, source })?;
        // Runs a crash interrupted are marked failed and queued ones resume before the first request is served.
        state.runtime.recover().await.map_err(|e| BindError::Recovery(e.to_string()))?;
        Ok(Self { listener, state })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.state.config.listen)
    }

    /// The embedding models the server uses.
    pub fn embedders(&self) -> &Embedders {
        self.state.runtime.retrieval().embedders()
    }

    /// True when no API keys are configured: requests are unauthenticated and act as the `default` organisation.
    pub fn local_mode(&self) -> bool {
        self.state.auth.local_mode()
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish (up to 30 s).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        // Embeds what was stored without vectors (every message; passages written while the model was missing).
        let _indexer = self.state.runtime.retrieval().spawn_indexer();
        let mcp = self.state.mcp.clone();
        let app = router(self.state);
        let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
        let serve = axum::serve(self.listener, app).with_graceful_shutdown(async move {
            shutdown.await;
            // MCP event streams stay open until their session ends; end them so in-flight requests can drain.
            mcp.close_sessions();
            let _ = drained_tx.send(());
        });
        let mut serve = std::pin::pin!(serve.into_future());
        tokio::select! {
            result = &mut serve => result,
            () = async {
                let _ = drained_rx.await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            } => {
                tracing::warn!("in-flight requests did not finish within 30 s of shutdown; stopping anyway");
                Ok(())
            }
        }
    }
}
