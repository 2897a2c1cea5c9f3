//! The HTTP error model: every failure becomes a status and `{"error": {"code", "message", "details"}}`.
//!
//! Store errors are mapped in one exhaustive `match` (no `_` arm), so a new variant forces a decision here. Details of
//! engram's own faults are logged, never sent to the client.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engram_agentfile::AgentFileError;
use engram_core::ValidationError;
use engram_core::block::LimitExceeded;
use engram_embed::EmbedError;
use engram_runtime::RuntimeError;
use engram_store::StoreError;
use serde_json::{Value, json};

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("send the body as JSON with `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("missing or invalid API key: send `Authorization: Bearer <key>`")]
    Unauthorized,
    #[error("{message}")]
    NotFound { kind: &'static str, message: String },
    #[error("no route for {method} {path}")]
    RouteNotFound { method: String, path: String },
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    #[error(transparent)]
    LimitExceeded(#[from] LimitExceeded),
    #[error("a request with this Idempotency-Key is still being processed; retry later")]
    IdempotencyInProgress,
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An Agent File that cannot be imported.
    #[error(transparent)]
    AgentFile(#[from] AgentFileError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The model provider failed; the run ended with `llm_error`.
    #[error("the model provider failed: {message}")]
    Upstream { message: String, run_id: String, provider_status: Option<u16> },
    /// A run stopped because storage failed under it.
    #[error("the run failed: {message}")]
    RunFailed { message: String, storage_unavailable: bool },
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A not-found error for an id that is malformed or unknown.
    pub fn not_found(kind: &'static str, id: &str) -> Self {
        Self::NotFound { kind, message: format!("{kind} `{id}` not found") }
    }

    /// Status, stable code and details for this error.
    fn parts(&self) -> (StatusCode, String, Value) {
        let none = Value::Null;
        match self {
            Self::Invalid(e) => (StatusCode::BAD_REQUEST, "invalid_request".into(), json!({ "field": e.field })),
            Self::MalformedJson(_) => (StatusCode::BAD_REQUEST, "invalid_json".into(), none),
            Self::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type".into(), none),
            Self::PayloadTooLarge { limit } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into(), json!({ "limit_bytes": limit }))
            }
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized".into(), none),
            Self::NotFound { kind, .. } => (StatusCode::NOT_FOUND, format!("{kind}_not_found"), none),
            Self::RouteNotFound { .. } => (StatusCode::NOT_FOUND, "route_not_found".into(), none),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed".into(), none),
            Self::LimitExceeded(e) => limit_parts(e),
            Self::IdempotencyInProgress => (StatusCode::CONFLICT, "idempotency_in_progress".into(), none),
            Self::IdempotencyKeyReused => (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused".into(), none),
            Self::Store(e) => store_parts(e),
            Self::AgentFile(e) => agentfile_parts(e),
            Self::Runtime(e) => runtime_parts(e),
            Self::Upstream { run_id, provider_status, .. } => (
                StatusCode::BAD_GATEWAY,
                "upstream_error".into(),
                json!({ "run_id": run_id, "stop_reason": "llm_error", "provider_status": provider_status }),
            ),
            Self::RunFailed { storage_unavailable: true, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable".into(), none)
            }
            Self::RunFailed { storage_unavailable: false, .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error".into(), none)
            }
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error".into(), none),
        }
    }
}

fn limit_parts(e: &LimitExceeded) -> (StatusCode, String, Value) {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        "block_limit_exceeded".into(),
        json!({ "label": e.label, "limit": e.limit, "requested": e.requested }),
    )
}

/// An Agent File refused: too large (413), not JSON (400), or not a file engram can import (422, with the JSON path
/// of the offending field).
fn agentfile_parts(e: &AgentFileError) -> (StatusCode, String, Value) {
    match e {
        AgentFileError::TooLarge { limit, .. } => {
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into(), json!({ "limit_bytes": limit }))
        }
        AgentFileError::Syntax { .. } => (StatusCode::BAD_REQUEST, "invalid_json".into(), Value::Null),
        AgentFileError::Invalid { field, .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "agentfile_invalid".into(), json!({ "field": field }))
        }
    }
}

fn runtime_parts(e: &RuntimeError) -> (StatusCode, String, Value) {
    let none = Value::Null;
    match e {
        RuntimeError::NoModel(_) => (StatusCode::UNPROCESSABLE_ENTITY, "no_model".into(), none),
        RuntimeError::ProviderUnavailable(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "model_provider_unavailable".into(), none)
        }
        RuntimeError::AgentBusy(_) => (StatusCode::CONFLICT, "agent_busy".into(), none),
        RuntimeError::NothingToCompact => (StatusCode::CONFLICT, "nothing_to_compact".into(), none),
        RuntimeError::Summary(_) => (StatusCode::BAD_GATEWAY, "upstream_error".into(), none),
        RuntimeError::SearchModeUnavailable(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "search_mode_unavailable".into(), json!({ "mode": "vector" }))
        }
        RuntimeError::Embedding(e) => embedding_parts(e),
        RuntimeError::Store(e) => store_parts(e),
    }
}

/// An embedding provider failure: its own fault is 502 (503 when it asks to be retried later); a model that cannot
/// be used here is the caller's configuration, 422.
fn embedding_parts(e: &EmbedError) -> (StatusCode, String, Value) {
    match e {
        EmbedError::Unavailable { model, .. } | EmbedError::UnknownModel { model, .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "embedding_model_unavailable".into(), json!({ "model": model }))
        }
        EmbedError::InputTooLarge { model, .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "embedding_input_too_large".into(), json!({ "model": model }))
        }
        EmbedError::RateLimited { status, .. }
        | EmbedError::Server { status, .. }
        | EmbedError::Rejected { status, .. } => {
            (StatusCode::BAD_GATEWAY, "embedding_provider_error".into(), json!({ "provider_status": status }))
        }
        EmbedError::Timeout(_)
        | EmbedError::Transport(_)
        | EmbedError::Malformed(_)
        | EmbedError::Dimension { .. }
        | EmbedError::Model(_) => {
            (StatusCode::BAD_GATEWAY, "embedding_provider_error".into(), json!({ "provider_status": null }))
        }
    }
}

fn store_parts(e: &StoreError) -> (StatusCode, String, Value) {
    let none = Value::Null;
    match e {
        StoreError::NotFound { kind, id } => (StatusCode::NOT_FOUND, format!("{kind}_not_found"), json!({ "id": id })),
        StoreError::AlreadyExists(_) => (StatusCode::CONFLICT, "already_exists".into(), none),
        StoreError::VersionConflict { expected, actual } => (
            StatusCode::CONFLICT,
            "version_conflict".into(),
            json!({ "expected_version": expected, "current_version": actual }),
        ),
        StoreError::LimitExceeded(e) => limit_parts(e),
        StoreError::BlockInUse { agent_ids, .. } => {
            (StatusCode::CONFLICT, "block_in_use".into(), json!({ "agent_ids": agent_ids }))
        }
        StoreError::Invalid(e) => (StatusCode::BAD_REQUEST, "invalid_request".into(), json!({ "field": e.field })),
        StoreError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable".into(), none),
        StoreError::EmbeddingMismatch { stored_model, stored_dim, model, dim, .. } => (
            StatusCode::CONFLICT,
            "embedding_mismatch".into(),
            json!({ "stored_model": stored_model, "stored_dimensions": stored_dim, "model": model, "dimensions": dim }),
        ),
        StoreError::EmbeddingInUse { model } => {
            (StatusCode::CONFLICT, "embedding_in_use".into(), json!({ "model": model }))
        }
        StoreError::SchemaTooNew { .. }
        | StoreError::Corrupt(_)
        | StoreError::Database(_)
        | StoreError::Migration(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error".into(), none),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, details) = self.parts();
        // A provider's failure is not engram's secret: its message tells the client what went wrong upstream.
        let message = if status.is_server_error() && status != StatusCode::BAD_GATEWAY {
            // engram's own faults: log the detail, tell the client only what it can act on.
            tracing::error!(error = %self, debug = ?self, "request failed");
            match status {
                StatusCode::SERVICE_UNAVAILABLE => "storage is unavailable; retry shortly".to_owned(),
                _ => "internal error; the request id in the response headers identifies it in the logs".to_owned(),
            }
        } else {
            self.to_string()
        };
        let mut error = json!({ "code": code, "message": message });
        if !details.is_null() {
            error["details"] = details;
        }
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Handler result type.
pub type ApiResult<T> = Result<T, ApiError>;
