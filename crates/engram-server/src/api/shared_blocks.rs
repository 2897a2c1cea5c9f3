//! `/v1/blocks`: blocks as objects of their own, for sharing between agents.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use crate::api::etag::{block_response, if_match};
use crate::api::path;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::wire::block::{BlockBody, CreateBlockRequest, PatchBlockRequest};
use crate::wire::common::{ErrorResponse, ListResponse, PageParams};

/// Create a standalone block (attached to no agent yet).
#[utoipa::path(post, path = "/v1/blocks", tag = "blocks", request_body = CreateBlockRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = BlockBody), (status = 400, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub async fn create_block(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateBlockRequest>,
) -> ApiResult<Response> {
    let new = req.into_domain("")?;
    let block = state.store.create_block(&caller.write_ctx(), new).await?;
    Ok(block_response(StatusCode::CREATED, block))
}

/// List the organisation's blocks, oldest first.
#[utoipa::path(get, path = "/v1/blocks", tag = "blocks", params(PageParams),
    responses((status = 200, body = ListResponse<BlockBody>), (status = 400, body = ErrorResponse)))]
pub async fn list_blocks(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<ListResponse<BlockBody>>> {
    let page = state.store.list_blocks(&caller.org, &params.into_request()?).await?;
    Ok(Json(ListResponse::from_page(page, BlockBody::from)))
}

/// Read a block by id.
#[utoipa::path(get, path = "/v1/blocks/{block_id}", tag = "blocks", params(("block_id" = String, Path)),
    responses((status = 200, body = BlockBody), (status = 404, body = ErrorResponse)))]
pub async fn get_block(
    State(state): State<AppState>,
    caller: Caller,
    Path(block_id): Path<String>,
) -> ApiResult<Response> {
    let block = state.store.get_block(&caller.org, path::block_id(&block_id)?).await?;
    Ok(block_response(StatusCode::OK, block))
}

/// Change a block by id (seen by every agent it is attached to).
#[utoipa::path(patch, path = "/v1/blocks/{block_id}", tag = "blocks", request_body = PatchBlockRequest,
    params(("block_id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = BlockBody), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 409, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub async fn patch_block(
    State(state): State<AppState>,
    caller: Caller,
    Path(block_id): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PatchBlockRequest>,
) -> ApiResult<Response> {
    let id = path::block_id(&block_id)?;
    let version = if_match(&headers)?;
    let block = state.store.update_block(&caller.write_ctx(), id, req.into_domain()?, version).await?;
    Ok(block_response(StatusCode::OK, block))
}

/// `?force=true` deletes a block that agents still use.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteBlockParams {
    /// `true` to detach the block from every agent and delete it.
    force: Option<String>,
}

/// Delete a block. While agents use it: 409 `block_in_use` unless `force=true`.
#[utoipa::path(delete, path = "/v1/blocks/{block_id}", tag = "blocks",
    params(("block_id" = String, Path), DeleteBlockParams),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
pub async fn delete_block(
    State(state): State<AppState>,
    caller: Caller,
    Path(block_id): Path<String>,
    ApiQuery(params): ApiQuery<DeleteBlockParams>,
) -> ApiResult<StatusCode> {
    let id = path::block_id(&block_id)?;
    let force = match params.force.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::Invalid(engram_core::ValidationError::new(
                "force",
                format!("`{other}` is not a boolean (true, false)"),
            )));
        }
    };
    state.store.delete_block(&caller.write_ctx(), id, force).await?;
    Ok(StatusCode::NO_CONTENT)
}
