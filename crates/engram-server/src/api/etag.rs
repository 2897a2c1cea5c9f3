//! Optimistic concurrency for blocks: responses carry `ETag: "<version>"`, and `If-Match: "<version>"` on a PATCH
//! makes it fail with 409 `version_conflict` when the block has changed since.

use axum::Json;
use axum::http::header::{ETAG, IF_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use engram_core::ValidationError;
use engram_core::block::Block;

use crate::error::ApiError;
use crate::wire::block::BlockBody;

/// The version an `If-Match` header demands, if any. `*` matches any version.
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(IF_MATCH) else { return Ok(None) };
    let bad = || ValidationError::new("If-Match", "must be a block version such as \"3\" (from the ETag header)");
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text == "*" {
        return Ok(None);
    }
    let text = text.strip_prefix("W/").unwrap_or(text);
    let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
    text.parse::<i64>().map(Some).map_err(|_| bad().into())
}

/// A block response with its ETag.
pub fn block_response(status: StatusCode, block: Block) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{}\"", block.version)).ok();
    let mut response = (status, Json(BlockBody::from(block))).into_response();
    if let Some(etag) = etag {
        response.headers_mut().insert(ETAG, etag);
    }
    response
}
