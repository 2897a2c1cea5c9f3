//! `Idempotency-Key` on mutating POSTs: the first response is stored under the caller's key (for a day by
//! default) and replayed for retries, so a retried request has exactly one effect.
//!
//! The key is reserved before the handler runs, so two concurrent requests with one key cannot both act: the
//! second gets 409 `idempotency_in_progress`. A key reused for a different request (method, path, query or body)
//! gets 422 `idempotency_key_reused`. Server faults, 409s and 429s release the key so the client can retry.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use engram_store::{IdempotencyBegin, IdempotencyRecord};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

/// The request header clients send.
pub const HEADER: &str = "idempotency-key";
/// Set to `true` on responses replayed from a stored result.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Largest response stored for replay.
const MAX_STORED_RESPONSE: usize = 16 * 1024 * 1024;

/// Middleware; runs inside authentication.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match handle(state, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(state: AppState, req: Request, next: Next) -> Result<Response, ApiError> {
    let Some(key) = req.headers().get(HEADER) else { return Ok(next.run(req).await) };
    if req.method() != Method::POST {
        return Ok(next.run(req).await);
    }
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            engram_core::ValidationError::new("Idempotency-Key", "must be 1 to 255 visible ASCII characters")
        })?
        .to_owned();
    let caller = req.extensions().get::<Caller>().cloned().ok_or_else(|| ApiError::Internal("no caller".into()))?;

    let (parts, body) = req.into_parts();
    let limit = state.config.body_limit_bytes;
    let bytes = to_bytes(body, limit).await.map_err(|_| ApiError::PayloadTooLarge { limit })?;
    let fingerprint = fingerprint(&parts.method, parts.uri.path_and_query().map_or("", |p| p.as_str()), &bytes);

    let ttl = chrono::Duration::from_std(state.config.idempotency_ttl).unwrap_or(chrono::Duration::hours(24));
    let expired_before = Utc::now() - ttl;
    match state.store.idempotency_begin(&caller.org, &key, &fingerprint, expired_before).await? {
        IdempotencyBegin::Completed(record) => Ok(replay(record)),
        IdempotencyBegin::InProgress => Err(ApiError::IdempotencyInProgress),
        IdempotencyBegin::Mismatch => Err(ApiError::IdempotencyKeyReused),
        IdempotencyBegin::Started => {
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            let status = response.status();
            // A stream cannot be replayed: it is passed through and the key freed, so only non-streaming sends
            // are deduplicated.
            let streaming = response
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            let keep = !(status.is_server_error()
                || streaming
                || status == StatusCode::CONFLICT
                || status == StatusCode::TOO_MANY_REQUESTS);
            if !keep {
                if let Err(e) = state.store.idempotency_release(&caller.org, &key).await {
                    tracing::warn!(error = %e, "could not release idempotency key");
                }
                return Ok(response);
            }
            let (parts, body) = response.into_parts();
            let body = to_bytes(body, MAX_STORED_RESPONSE)
                .await
                .map_err(|e| ApiError::Internal(format!("buffering response for idempotency: {e}")))?;
            // The write itself is already committed; failing to remember the response must not hide it.
            if let Err(e) = state.store.idempotency_finish(&caller.org, &key, status.as_u16(), &body).await {
                tracing::error!(error = %e, "could not store idempotent response");
            }
            Ok(Response::from_parts(parts, Body::from(body)))
        }
    }
}

fn fingerprint(method: &Method, path_and_query: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update([0]);
    h.update(path_and_query.as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

fn replay(record: IdempotencyRecord) -> Response {
    let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::OK);
    let mut response = (status, record.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}
