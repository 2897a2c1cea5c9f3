//! `/v1/agents/{agent_id}/archival`: archival memory passages, single and batch inserts, and search.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use engram_core::ValidationError;
use engram_core::passage::MAX_BATCH;

use crate::api::path;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::wire::common::{ErrorResponse, ListResponse, PageParams};
use crate::wire::passage::{
    BatchPassagesRequest, BatchPassagesResponse, CreatePassageRequest, IncludeParams, PassageBody, PassageHit,
    SearchParams, SearchResponse,
};

/// Add a passage to the agent's archive.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/archival", tag = "archival", request_body = CreatePassageRequest,
    params(("agent_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = PassageBody), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub async fn create_passage(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
    ApiJson(req): ApiJson<CreatePassageRequest>,
) -> ApiResult<(StatusCode, Json<PassageBody>)> {
    let agent = path::agent_id(&agent_id)?;
    let new = req.into_domain("")?;
    let mut inserted = state.runtime.retrieval().insert_passages(&caller.write_ctx(), agent, vec![new]).await?;
    let passage = inserted.pop().ok_or_else(|| ApiError::Internal("insert returned no passage".into()))?;
    Ok((StatusCode::CREATED, Json(passage.into())))
}

/// Add up to 1000 passages in one transaction.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/archival/batch", tag = "archival", request_body = BatchPassagesRequest,
    params(("agent_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = BatchPassagesResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub async fn create_passages_batch(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
    ApiJson(req): ApiJson<BatchPassagesRequest>,
) -> ApiResult<(StatusCode, Json<BatchPassagesResponse>)> {
    let agent = path::agent_id(&agent_id)?;
    if req.items.is_empty() || req.items.len() > MAX_BATCH {
        return Err(ValidationError::new(
            "items",
            format!("must hold between 1 and {MAX_BATCH} passages, got {}", req.items.len()),
        )
        .into());
    }
    let items = req
        .items
        .into_iter()
        .enumerate()
        .map(|(i, item)| item.into_domain(&format!("items[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let inserted = state.runtime.retrieval().insert_passages(&caller.write_ctx(), agent, items).await?;
    let ids = inserted.iter().map(|p| p.id.to_string()).collect();
    Ok((StatusCode::CREATED, Json(BatchPassagesResponse { ids })))
}

/// List the agent's passages, oldest first.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/archival", tag = "archival",
    params(("agent_id" = String, Path), PageParams),
    responses((status = 200, body = ListResponse<PassageBody>), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub async fn list_passages(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<ListResponse<PassageBody>>> {
    let agent = path::agent_id(&agent_id)?;
    let page = state.store.list_passages(&caller.org, agent, &params.into_request()?).await?;
    Ok(Json(ListResponse::from_page(page, PassageBody::from)))
}

/// Read one passage (`?include=embedding` adds its vector).
#[utoipa::path(get, path = "/v1/agents/{agent_id}/archival/{passage_id}", tag = "archival",
    params(("agent_id" = String, Path), ("passage_id" = String, Path), IncludeParams),
    responses((status = 200, body = PassageBody), (status = 404, body = ErrorResponse)))]
pub async fn get_passage(
    State(state): State<AppState>,
    caller: Caller,
    Path((agent_id, passage_id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<IncludeParams>,
) -> ApiResult<Json<PassageBody>> {
    let agent = path::agent_id(&agent_id)?;
    let id = path::passage_id(&passage_id)?;
    let passage = state.store.get_passage(&caller.org, agent, id, params.embedding()?).await?;
    Ok(Json(passage.into()))
}

/// Delete a passage from the archive and from every index.
#[utoipa::path(delete, path = "/v1/agents/{agent_id}/archival/{passage_id}", tag = "archival",
    params(("agent_id" = String, Path), ("passage_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorResponse)))]
pub async fn delete_passage(
    State(state): State<AppState>,
    caller: Caller,
    Path((agent_id, passage_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let agent = path::agent_id(&agent_id)?;
    let id = path::passage_id(&passage_id)?;
    state.store.delete_passage(&caller.write_ctx(), agent, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Search the archive: `hybrid` (default) fuses BM25 and vector similarity, `vector` ranks by meaning (cosine),
/// `text` by BM25. Filters apply before ranking. The response's `mode` says how it was ranked: when the agent's
/// embedding model cannot be used, `hybrid` answers from text alone (`mode: "text"` with a `note`), and `vector`
/// answers 422 `search_mode_unavailable`.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/archival/search", tag = "archival",
    params(("agent_id" = String, Path), SearchParams),
    responses((status = 200, body = SearchResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 409, description = "Stored vectors come from another embedding model", body = ErrorResponse),
              (status = 422, description = "Search mode not available", body = ErrorResponse),
              (status = 502, description = "The embedding provider failed", body = ErrorResponse)))]
pub async fn search_passages(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> ApiResult<Json<SearchResponse>> {
    let agent = path::agent_id(&agent_id)?;
    let (mode, query) = params.into_query()?;
    let found = state.runtime.retrieval().search_passages(&caller.org, agent, &query, mode).await?;
    Ok(Json(SearchResponse {
        results: found.results.into_iter().map(PassageHit::from).collect(),
        mode: found.mode.as_str(),
        note: found.note,
    }))
}
