//! Health, metrics and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::ApiResult;

/// Server health.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    /// `ok` when the database answers.
    pub status: &'static str,
    pub version: &'static str,
    /// `sqlite` or `postgres`.
    pub storage: &'static str,
    /// On PostgreSQL, how vector search runs: `pgvector` (PostgreSQL ranks the vectors) or `exact` (pgvector is not
    /// installed: engram scans each agent's vectors exactly). Absent on SQLite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector_path: Option<&'static str>,
    /// The default embedding model given to new agents.
    pub embedding_model: String,
    /// Whether vector and hybrid search are available for agents on the default embedding model.
    pub semantic_search: bool,
    /// Why semantic search is unavailable, and what to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_note: Option<String>,
    /// True in local mode: no API keys, loopback only.
    pub local_mode: bool,
}

/// Liveness and configuration summary; 503 `storage_unavailable` when the database does not answer.
#[utoipa::path(get, path = "/v1/health", tag = "health", security(()),
    responses((status = 200, body = HealthBody), (status = 503, body = crate::wire::common::ErrorResponse)))]
pub async fn health(State(state): State<AppState>) -> ApiResult<Json<HealthBody>> {
    state.store.ping().await?;
    let embedder = state.runtime.retrieval().embedders().get(&state.default_embedding);
    Ok(Json(HealthBody {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        storage: state.store.backend(),
        vector_path: state.store.capabilities().vector_path,
        embedding_model: state.default_embedding.to_string(),
        semantic_search: embedder.is_ok(),
        embedding_note: embedder.err().map(|e| e.to_string()),
        local_mode: state.auth.local_mode(),
    }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "health", security(()),
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}

/// The OpenAPI 3.1 document of this API.
pub async fn openapi_json(State(state): State<AppState>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], state.openapi_json.as_str().to_owned())
}
