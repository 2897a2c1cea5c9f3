//! Agent File (`.af`) import and export: `POST /v1/agents/import` creates the agents a file describes (with their
//! blocks, tools, model settings and whole history, in one transaction) and `GET /v1/agents/{agent_id}/export`
//! writes an agent as a file. The format's mapping lives in `engram-agentfile`; this module feeds it the bytes and
//! what it needs to know about the server, and hands the result to the store.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use engram_agentfile::{ExportAgent, ImportOptions, Limits, parse_import, render_export};
use engram_core::agent::ModelRef;
use engram_core::message::{Message, MessageQuery};
use engram_core::page::PageLimit;

use crate::api::path;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::wire::agent::AgentBody;
use crate::wire::agentfile::{ImportResponse, MODEL_PROVIDERS, builtin_tools};
use crate::wire::common::ErrorResponse;

/// Create the agents of an Agent File: system prompt, blocks (shared ones stay shared), tools, tool rules, model,
/// context window and the whole history with the file's context window. What engram cannot use is kept in each
/// agent's metadata under `agentfile` (so an export gives it back) and listed in `warnings`. The body is the file,
/// or a JSON string holding it. Nothing is created unless everything is.
#[utoipa::path(post, path = "/v1/agents/import", tag = "agents",
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "An Agent File: the JSON document, or a JSON string whose content is the document"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key for this request")),
    responses(
        (status = 201, body = ImportResponse),
        (status = 400, description = "Not JSON (`invalid_json`)", body = ErrorResponse),
        (status = 413, description = "Larger than the body limit (`payload_too_large`)", body = ErrorResponse),
        (status = 415, description = "Not sent as JSON", body = ErrorResponse),
        (status = 422, description = "Not an agent file engram can import (`agentfile_invalid`, with the JSON path \
            in `details.field`), or a block over its limit", body = ErrorResponse),
    ))]
pub async fn import_agents(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> ApiResult<(StatusCode, Json<ImportResponse>)> {
    let bytes = json_bytes(request, &state).await?;
    let limit = state.config.body_limit_bytes;
    let embedders = state.runtime.retrieval().embedders().clone();
    let default_embedding = state.default_embedding.clone();
    // Parsing a large file is CPU work; it runs off the async workers.
    let parsed = tokio::task::spawn_blocking(move || {
        let builtins = builtin_tools();
        let usable = move |model: &ModelRef| embedders.get(model).is_ok();
        let options = ImportOptions {
            limits: Limits { max_bytes: limit, ..Limits::default() },
            builtins: &builtins,
            default_embedding,
            embedding_usable: &usable,
            model_providers: &MODEL_PROVIDERS,
        };
        parse_import(&bytes, &options)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the import task failed: {e}")))??;
    let agents = state.store.import_agents(&caller.write_ctx(), parsed.import).await?;
    let response = ImportResponse {
        agent_ids: agents.iter().map(|a| a.id.to_string()).collect(),
        agents: agents.into_iter().map(AgentBody::from).collect(),
        warnings: parsed.warnings,
    };
    Ok((StatusCode::CREATED, Json(response)))
}

/// The body of a JSON request, as bytes (the import parses it itself, within its own limits).
async fn json_bytes(request: Request, state: &AppState) -> Result<Bytes, ApiError> {
    let is_json = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
        });
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    Bytes::from_request(request, state).await.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::PayloadTooLarge { limit: state.config.body_limit_bytes },
        other => ApiError::MalformedJson(other.body_text()),
    })
}

/// Write an agent as an Agent File: its blocks, tools (engram's built-ins with their schemas, and whatever an
/// import kept), model settings and whole history with the context window, which opens with the compiled system
/// prompt. What an import kept comes back in its place; secrets are null. Importing the file gives an equal agent.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/export", tag = "agents", params(("agent_id" = String, Path)),
    responses(
        (status = 200, description = "An Agent File", body = serde_json::Value),
        (status = 404, body = ErrorResponse),
    ))]
pub async fn export_agent(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
) -> ApiResult<Response> {
    let id = path::agent_id(&agent_id)?;
    let agent = state.store.get_agent(&caller.org, id).await?;
    let messages = history(&state, &caller, &agent).await?;
    let file = render_export(&[ExportAgent { agent: &agent, messages: &messages }], &builtin_tools(), Utc::now());
    let name: String = agent
        .config
        .name
        .as_str()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}.af\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok(([(CONTENT_DISPOSITION, disposition)], Json(file)).into_response())
}

/// The agent's whole history, oldest first.
async fn history(state: &AppState, caller: &Caller, agent: &engram_core::agent::Agent) -> ApiResult<Vec<Message>> {
    let mut messages: Vec<Message> = Vec::new();
    loop {
        let query = MessageQuery {
            limit: PageLimit::parse("limit", 1000)?,
            after: messages.last().map(|m| m.id),
            ..MessageQuery::default()
        };
        let page = state.store.list_messages(&caller.org, agent.id, &query).await?;
        let done = page.next_cursor.is_none();
        messages.extend(page.items);
        if done {
            return Ok(messages);
        }
    }
}
