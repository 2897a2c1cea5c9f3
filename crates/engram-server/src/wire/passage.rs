//! Archival memory shapes: passages, inserts (single and batch) and search requests and results.

use chrono::{DateTime, Utc};
use engram_core::agent::{Metadata, parse_tags};
use engram_core::passage::{NewPassage, Passage, check_text};
use engram_core::search::{
    DEFAULT_K, MAX_QUERY_CHARS, PassageFilter, PassageQuery, Scored, SearchMode, TagMode, check_k,
};
use engram_core::text::{check_max_chars, check_not_blank};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::wire::common::{parse_int, parse_time};

/// An archival passage.
#[derive(Debug, Serialize, ToSchema)]
pub struct PassageBody {
    #[schema(example = "psg_01JD0000000000000000000000")]
    pub id: String,
    pub agent_id: String,
    pub text: String,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// Only with `?include=embedding`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<EmbeddingBody>,
}

/// A stored embedding.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingBody {
    pub model: String,
    pub dimension: usize,
    pub vector: Vec<f32>,
}

impl From<Passage> for PassageBody {
    fn from(p: Passage) -> Self {
        Self {
            id: p.id.to_string(),
            agent_id: p.agent_id.to_string(),
            text: p.text,
            tags: p.tags.iter().map(|t| t.as_str().to_owned()).collect(),
            metadata: p.metadata.into_value(),
            created_at: p.created_at,
            embedding: p.embedding.map(|e| EmbeddingBody {
                model: e.model,
                dimension: e.vector.len(),
                vector: e.vector,
            }),
        }
    }
}

/// A passage to insert.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePassageRequest {
    pub text: String,
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Object)]
    pub metadata: Option<serde_json::Value>,
    /// When the passage's content happened; defaults to now.
    pub created_at: Option<DateTime<Utc>>,
}

impl CreatePassageRequest {
    pub fn into_domain(self, field: &str) -> Result<NewPassage, ApiError> {
        let f = |name: &str| if field.is_empty() { name.to_owned() } else { format!("{field}.{name}") };
        check_text(&f("text"), &self.text)?;
        Ok(NewPassage {
            text: self.text,
            tags: parse_tags(&f("tags"), &self.tags.unwrap_or_default())?,
            metadata: Metadata::parse(&f("metadata"), self.metadata.unwrap_or_default())?,
            created_at: self.created_at,
            embedding: None,
        })
    }
}

/// Up to 1000 passages inserted in one transaction.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchPassagesRequest {
    pub items: Vec<CreatePassageRequest>,
}

/// Ids of the inserted passages, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchPassagesResponse {
    pub ids: Vec<String>,
}

/// `?include=embedding` on passage reads.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncludeParams {
    /// `embedding` to include the stored vector.
    pub include: Option<String>,
}

impl IncludeParams {
    pub fn embedding(&self) -> Result<bool, ApiError> {
        match self.include.as_deref() {
            None | Some("") => Ok(false),
            Some("embedding") => Ok(true),
            Some(other) => Err(engram_core::ValidationError::new(
                "include",
                format!("`{other}` cannot be included; the only option is `embedding`"),
            )
            .into()),
        }
    }
}

/// Archival search parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The query text.
    pub q: Option<String>,
    /// Results to return, 1..=100 (default 10).
    pub k: Option<String>,
    /// Comma-separated tags to filter on.
    pub tags: Option<String>,
    /// `any` (default) or `all` of `tags`.
    pub tag_mode: Option<String>,
    /// Only passages created at or after this RFC 3339 time.
    pub from: Option<String>,
    /// Only passages created at or before this RFC 3339 time.
    pub to: Option<String>,
    /// `hybrid` (default), `vector` or `text`.
    pub mode: Option<String>,
}

impl SearchParams {
    pub fn into_query(self) -> Result<(SearchMode, PassageQuery), ApiError> {
        let text = self.q.unwrap_or_default();
        check_not_blank("q", &text)?;
        check_max_chars("q", &text, MAX_QUERY_CHARS)?;
        let k = match self.k.as_deref() {
            Some(k) => check_k("k", parse_int("k", k)?)?,
            None => DEFAULT_K,
        };
        let tag_texts: Vec<String> = self
            .tags
            .as_deref()
            .map(|t| t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        let filter = PassageFilter {
            tags: parse_tags("tags", &tag_texts)?,
            tag_mode: self.tag_mode.as_deref().map(|m| TagMode::parse("tag_mode", m)).transpose()?.unwrap_or_default(),
            from: self.from.as_deref().map(|t| parse_time("from", t)).transpose()?,
            to: self.to.as_deref().map(|t| parse_time("to", t)).transpose()?,
        };
        let mode = self.mode.as_deref().map(|m| SearchMode::parse("mode", m)).transpose()?.unwrap_or_default();
        Ok((mode, PassageQuery { text, k, filter }))
    }
}

/// A search hit.
#[derive(Debug, Serialize, ToSchema)]
pub struct PassageHit {
    pub passage: PassageBody,
    /// Higher is better; comparable only within one response.
    pub score: f64,
}

impl From<Scored<Passage>> for PassageHit {
    fn from(s: Scored<Passage>) -> Self {
        Self { passage: s.item.into(), score: s.score }
    }
}

/// Search results, best first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    pub results: Vec<PassageHit>,
    /// How the results were ranked: `hybrid`, `vector` or `text`. A hybrid search answers `text` when the agent's
    /// embedding model cannot be used, with `note` saying why.
    #[schema(value_type = String, example = "hybrid")]
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
