//! `/v1/agents`: create, list, read, update and delete agents.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use engram_core::agent::{AgentFilter, Tag};
use serde::Deserialize;

use crate::api::path;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery};
use crate::wire::agent::{AgentBody, CreateAgentRequest, PatchAgentRequest};
use crate::wire::common::{ErrorResponse, ListResponse, PageParams};

/// Create an agent, with new blocks and/or existing blocks attached.
#[utoipa::path(post, path = "/v1/agents", tag = "agents", request_body = CreateAgentRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key for this request")),
    responses(
        (status = 201, body = AgentBody),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 404, description = "A block in block_ids does not exist", body = ErrorResponse),
        (status = 409, description = "Two blocks share a label", body = ErrorResponse),
        (status = 422, description = "A block value exceeds its limit", body = ErrorResponse),
    ))]
pub async fn create_agent(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateAgentRequest>,
) -> ApiResult<(StatusCode, Json<AgentBody>)> {
    let new = req.into_domain(&state.default_embedding)?;
    let agent = state.store.create_agent(&caller.write_ctx(), new).await?;
    Ok((StatusCode::CREATED, Json(agent.into())))
}

/// Filters and paging for the agent list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAgentsParams {
    /// Only agents with exactly this name.
    name: Option<String>,
    /// Only agents carrying this tag.
    tag: Option<String>,
    /// 1..=1000, default 50.
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    after: Option<String>,
}

/// List agents, oldest first.
#[utoipa::path(get, path = "/v1/agents", tag = "agents", params(ListAgentsParams),
    responses((status = 200, body = ListResponse<AgentBody>), (status = 400, body = ErrorResponse)))]
pub async fn list_agents(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListAgentsParams>,
) -> ApiResult<Json<ListResponse<AgentBody>>> {
    let filter =
        AgentFilter { name: params.name, tag: params.tag.as_deref().map(|t| Tag::parse("tag", t)).transpose()? };
    let page = PageParams { limit: params.limit, after: params.after }.into_request()?;
    let agents = state.store.list_agents(&caller.org, &filter, &page).await?;
    Ok(Json(ListResponse::from_page(agents, AgentBody::from)))
}

/// Read an agent with its blocks.
#[utoipa::path(get, path = "/v1/agents/{agent_id}", tag = "agents",
    params(("agent_id" = String, Path)),
    responses((status = 200, body = AgentBody), (status = 404, body = ErrorResponse)))]
pub async fn get_agent(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
) -> ApiResult<Json<AgentBody>> {
    let agent = state.store.get_agent(&caller.org, path::agent_id(&agent_id)?).await?;
    Ok(Json(agent.into()))
}

/// Change an agent's configuration (any create field except blocks).
#[utoipa::path(patch, path = "/v1/agents/{agent_id}", tag = "agents", request_body = PatchAgentRequest,
    params(("agent_id" = String, Path)),
    responses((status = 200, body = AgentBody), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub async fn patch_agent(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
    ApiJson(req): ApiJson<PatchAgentRequest>,
) -> ApiResult<Json<AgentBody>> {
    let id = path::agent_id(&agent_id)?;
    let patch = req.into_domain()?;
    let agent = state.store.update_agent(&caller.write_ctx(), id, patch).await?;
    Ok(Json(agent.into()))
}

/// Delete an agent, its messages and its archive. Shared blocks stay.
#[utoipa::path(delete, path = "/v1/agents/{agent_id}", tag = "agents",
    params(("agent_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorResponse)))]
pub async fn delete_agent(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
) -> ApiResult<StatusCode> {
    state.store.delete_agent(&caller.write_ctx(), path::agent_id(&agent_id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
