//! The agent's context window: `GET /v1/agents/{agent_id}/context` (the token breakdown of the next model call) and
//! `POST /v1/agents/{agent_id}/compact` (summarise and evict the oldest half now).

use axum::Json;
use axum::extract::{Path, State};

use crate::api::path;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::wire::common::ErrorResponse;
use crate::wire::run::{CompactResponse, ContextBody};

/// The token breakdown of the request the agent's next step would send; the parts add up to `total_tokens`.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/context", tag = "agents", params(("agent_id" = String, Path)),
    responses((status = 200, body = ContextBody), (status = 404, body = ErrorResponse)))]
pub async fn get_context(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
) -> ApiResult<Json<ContextBody>> {
    let agent = path::agent_id(&agent_id)?;
    Ok(Json(state.runtime.context(&caller.org, agent).await?.into()))
}

/// Summarise the oldest part of the window with the agent's model and move it to recall memory now. Waits for a
/// running run of the agent to finish first.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/compact", tag = "agents",
    params(("agent_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CompactResponse), (status = 404, body = ErrorResponse),
        (status = 409, body = ErrorResponse, description = "nothing_to_compact"),
        (status = 422, body = ErrorResponse, description = "no_model"),
        (status = 502, body = ErrorResponse, description = "upstream_error")))]
pub async fn compact(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
) -> ApiResult<Json<CompactResponse>> {
    let agent = path::agent_id(&agent_id)?;
    let outcome = state.runtime.compact(&caller.write_ctx(), agent).await?;
    Ok(Json(CompactResponse { evicted: outcome.evicted, summary_message_id: outcome.summary_message_id.to_string() }))
}
