//! Shapes shared by every resource: list pages, error bodies, and small parsing helpers for optional fields.

use chrono::{DateTime, Utc};
use engram_core::ValidationError;
use engram_core::page::{Page, PageLimit, PageRequest};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> ListResponse<T> {
    pub fn from_page<D>(page: Page<D>, f: impl FnMut(D) -> T) -> Self {
        let page = page.map(f);
        Self { items: page.items, next_cursor: page.next_cursor }
    }
}

/// The body of every non-2xx response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case: `invalid_request`, `agent_not_found`, `version_conflict`, …
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// Structured context, e.g. `{"field": "blocks[0].label"}`.
    #[schema(value_type = Object)]
    pub details: Option<serde_json::Value>,
}

/// Deserializes a field that distinguishes "absent" (`None`) from "null" (`Some(None)`).
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// Query parameters for plain paginated lists.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1..=1000 (default 50).
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

impl PageParams {
    pub fn into_request(self) -> Result<PageRequest, ValidationError> {
        Ok(PageRequest { limit: parse_limit(self.limit.as_deref())?, after: self.after })
    }
}

/// Parses an optional `limit` query parameter.
pub fn parse_limit(text: Option<&str>) -> Result<PageLimit, ValidationError> {
    match text {
        None => Ok(PageLimit::default()),
        Some(t) => PageLimit::parse("limit", parse_int("limit", t)?),
    }
}

/// Parses an integer query parameter.
pub fn parse_int(field: &str, text: &str) -> Result<i64, ValidationError> {
    text.trim().parse().map_err(|_| ValidationError::new(field, format!("`{text}` is not an integer")))
}

/// Parses an RFC 3339 timestamp.
pub fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, ValidationError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ValidationError::new(field, format!("`{text}` is not an RFC 3339 timestamp")))
}
