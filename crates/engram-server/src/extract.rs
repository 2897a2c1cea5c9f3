//! Request extractors that turn every malformed input into an [`ApiError`] with the offending field, instead of
//! axum's plain-text rejections: JSON bodies (content type, size limit, syntax, types, unknown fields) and query
//! strings.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::error::ApiError;

/// A JSON body deserialized with the path of any failing field reported in `error.details.field`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
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
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(_) => ApiError::PayloadTooLarge { limit: state.config.body_limit_bytes },
            other => ApiError::MalformedJson(other.body_text()),
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserializes `bytes`, distinguishing syntax errors (`invalid_json`) from shape errors (`invalid_request` with
/// the field path).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::MalformedJson(inner.to_string());
        }
        let field = if field.is_empty() || field == "." { "body".to_owned() } else { field };
        ApiError::Invalid(engram_core::ValidationError::new(field, strip_position(&inner.to_string())))
    })?;
    // Trailing bytes after the document are a syntax error too.
    de.end().map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok(value)
}

/// serde_json appends " at line 1 column 42" to messages; the field path says more to a client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// A query string deserialized strictly (unknown parameters are rejected, so typos do not silently do nothing).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str::<T>(query).map(ApiQuery).map_err(|e| {
            ApiError::Invalid(engram_core::ValidationError::new("query", format!("invalid query string: {e}")))
        })
    }
}
