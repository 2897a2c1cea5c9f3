//! `/v1/agents/{agent_id}/blocks`: an agent's core memory blocks by label, and attaching or detaching shared ones.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use engram_core::block::BlockLabel;
use engram_core::id::BlockId;

use crate::api::etag::{block_response, if_match};
use crate::api::path;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::wire::agent::AgentBody;
use crate::wire::block::{AttachBlockRequest, BlockBody, DetachBlockRequest, PatchBlockRequest};
use crate::wire::common::ErrorResponse;

/// List an agent's blocks in the order they are shown to the model.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/blocks", tag = "blocks",
    params(("agent_id" = String, Path)),
    responses((status = 200, body = Vec<BlockBody>), (status = 404, body = ErrorResponse)))]
pub async fn list_agent_blocks(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
) -> ApiResult<Json<Vec<BlockBody>>> {
    let blocks = state.store.list_agent_blocks(&caller.org, path::agent_id(&agent_id)?).await?;
    Ok(Json(blocks.into_iter().map(BlockBody::from).collect()))
}

/// Read the block an agent sees under `label`.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/blocks/{label}", tag = "blocks",
    params(("agent_id" = String, Path), ("label" = String, Path)),
    responses((status = 200, body = BlockBody, headers(("ETag" = String, description = "\"<version>\""))),
              (status = 404, body = ErrorResponse)))]
pub async fn get_agent_block(
    State(state): State<AppState>,
    caller: Caller,
    Path((agent_id, label)): Path<(String, String)>,
) -> ApiResult<Response> {
    read_block(&state, &caller, &agent_id, &label).await
}

/// Reads an agent's block; shared by the label route and the `attach`/`detach` label aliases.
pub async fn read_block(state: &AppState, caller: &Caller, agent_id: &str, label: &str) -> ApiResult<Response> {
    let block = state.store.get_agent_block(&caller.org, path::agent_id(agent_id)?, &path::label(label)?).await?;
    Ok(block_response(StatusCode::OK, block))
}

/// Change the block an agent sees under `label` (shared blocks change for every agent using them).
#[utoipa::path(patch, path = "/v1/agents/{agent_id}/blocks/{label}", tag = "blocks", request_body = PatchBlockRequest,
    params(("agent_id" = String, Path), ("label" = String, Path),
           ("If-Match" = Option<String>, Header, description = "Fail with 409 unless the block is at this version")),
    responses((status = 200, body = BlockBody), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 409, description = "Stale If-Match", body = ErrorResponse),
              (status = 422, description = "Value exceeds the limit", body = ErrorResponse)))]
pub async fn patch_agent_block(
    State(state): State<AppState>,
    caller: Caller,
    Path((agent_id, label)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PatchBlockRequest>,
) -> ApiResult<Response> {
    edit_block(&state, &caller, &agent_id, &label, &headers, req).await
}

/// Edits an agent's block; shared by the label route and the `attach`/`detach` label aliases.
pub async fn edit_block(
    state: &AppState,
    caller: &Caller,
    agent_id: &str,
    label: &str,
    headers: &HeaderMap,
    req: PatchBlockRequest,
) -> ApiResult<Response> {
    let agent = path::agent_id(agent_id)?;
    let label = path::label(label)?;
    let version = if_match(headers)?;
    let patch = req.into_domain()?;
    let block = state.store.update_agent_block(&caller.write_ctx(), agent, &label, patch, version).await?;
    Ok(block_response(StatusCode::OK, block))
}

/// Routes reads and edits of a block labelled `label` (`attach` or `detach`) that the static action route of the
/// same path would otherwise answer with 405.
pub fn label_alias(label: &'static str) -> axum::routing::MethodRouter<AppState> {
    axum::routing::get(move |State(state): State<AppState>, caller: Caller, Path(agent_id): Path<String>| async move {
        read_block(&state, &caller, &agent_id, label).await
    })
    .patch(
        move |State(state): State<AppState>,
              caller: Caller,
              Path(agent_id): Path<String>,
              headers: HeaderMap,
              ApiJson(req): ApiJson<PatchBlockRequest>| async move {
            edit_block(&state, &caller, &agent_id, label, &headers, req).await
        },
    )
}

/// Attach an existing block to the agent.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/blocks/attach", tag = "blocks", request_body = AttachBlockRequest,
    params(("agent_id" = String, Path)),
    responses((status = 200, body = AgentBody), (status = 404, body = ErrorResponse),
              (status = 409, description = "The agent already has a block with that label", body = ErrorResponse)))]
pub async fn attach_block(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
    ApiJson(req): ApiJson<AttachBlockRequest>,
) -> ApiResult<Json<AgentBody>> {
    let agent = path::agent_id(&agent_id)?;
    let block = BlockId::parse("block_id", &req.block_id)?;
    let agent = state.store.attach_block(&caller.write_ctx(), agent, block).await?;
    Ok(Json(agent.into()))
}

/// Detach the block the agent sees under `label` (the block itself stays).
#[utoipa::path(post, path = "/v1/agents/{agent_id}/blocks/detach", tag = "blocks", request_body = DetachBlockRequest,
    params(("agent_id" = String, Path)),
    responses((status = 200, body = AgentBody), (status = 404, body = ErrorResponse)))]
pub async fn detach_block(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
    ApiJson(req): ApiJson<DetachBlockRequest>,
) -> ApiResult<Json<AgentBody>> {
    let agent = path::agent_id(&agent_id)?;
    let label = BlockLabel::parse("label", &req.label)?;
    let agent = state.store.detach_block(&caller.write_ctx(), agent, &label).await?;
    Ok(Json(agent.into()))
}
