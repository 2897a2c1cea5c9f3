//! `/v1/agents/{agent_id}/messages`: the agent's whole history (recall memory), in or out of the context window.

use axum::Json;
use axum::extract::{Path, State};

use crate::api::path;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::wire::common::{ErrorResponse, ListResponse};
use crate::wire::message::{MessageBody, MessageHit, MessageParams, MessageSearchParams, MessageSearchResponse};

/// List the agent's messages in history order (`order=desc` for newest first).
#[utoipa::path(get, path = "/v1/agents/{agent_id}/messages", tag = "messages",
    params(("agent_id" = String, Path), MessageParams),
    responses((status = 200, body = ListResponse<MessageBody>), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
    ApiQuery(params): ApiQuery<MessageParams>,
) -> ApiResult<Json<ListResponse<MessageBody>>> {
    let agent = path::agent_id(&agent_id)?;
    let page = state.store.list_messages(&caller.org, agent, &params.into_query()?).await?;
    Ok(Json(ListResponse::from_page(page, MessageBody::from)))
}

/// Search all of the agent's messages, in or out of the context window (the engine behind `conversation_search`):
/// `hybrid` (default), `vector` or `text`, as for archival search.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/messages/search", tag = "messages",
    params(("agent_id" = String, Path), MessageSearchParams),
    responses((status = 200, body = MessageSearchResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub async fn search_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
    ApiQuery(params): ApiQuery<MessageSearchParams>,
) -> ApiResult<Json<MessageSearchResponse>> {
    let agent = path::agent_id(&agent_id)?;
    let (mode, search) = params.into_search()?;
    let found = state.runtime.retrieval().search_messages(&caller.org, agent, &search, mode).await?;
    let results = found
        .results
        .into_iter()
        .map(|hit| MessageHit { message: MessageBody::from(hit.item), score: hit.score })
        .collect();
    Ok(Json(MessageSearchResponse { results, mode: found.mode.as_str(), note: found.note }))
}
