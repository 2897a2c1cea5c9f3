//! Recall memory shapes: messages and the history listing's parameters.

use chrono::{DateTime, Utc};
use engram_core::ValidationError;
use engram_core::id::MessageId;
use engram_core::message::{Message, MessageQuery, Order, Role};
use engram_core::search::{DEFAULT_K, MAX_QUERY_CHARS, MessageSearch, SearchMode, check_k};
use engram_core::text::{check_max_chars, check_not_blank};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::wire::common::{parse_int, parse_limit, parse_time};

/// A message in an agent's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageBody {
    pub id: String,
    pub agent_id: String,
    pub run_id: Option<String>,
    pub step_id: Option<String>,
    /// `system`, `user`, `assistant`, `tool` or `summary`.
    pub role: String,
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallBody>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// `ok` or `error`, on tool results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_status: Option<String>,
    /// Whether the message is in the agent's context window.
    pub in_context: bool,
    /// Order in the agent's history, from 1.
    pub position: i64,
    pub created_at: DateTime<Utc>,
}

/// A tool call the model made.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolCallBody {
    pub id: String,
    pub name: String,
    #[schema(value_type = Object)]
    pub arguments: serde_json::Value,
}

impl From<Message> for MessageBody {
    fn from(m: Message) -> Self {
        Self {
            id: m.id.to_string(),
            agent_id: m.agent_id.to_string(),
            run_id: m.run_id.map(|r| r.to_string()),
            step_id: m.step_id.map(|s| s.to_string()),
            role: m.role.as_str().to_owned(),
            content: m.content,
            reasoning: m.reasoning,
            tool_calls: (!m.tool_calls.is_empty()).then(|| {
                m.tool_calls
                    .into_iter()
                    .map(|c| ToolCallBody { id: c.id, name: c.name, arguments: c.arguments })
                    .collect()
            }),
            tool_call_id: m.tool_call_id,
            tool_status: m.tool_status.map(|s| s.as_str().to_owned()),
            in_context: m.in_context,
            position: m.position,
            created_at: m.created_at,
        }
    }
}

/// History listing parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessageParams {
    /// 1..=1000, default 50.
    pub limit: Option<String>,
    /// Cursor: only messages after this message id (in the listing's order).
    pub after: Option<String>,
    /// Only messages before this message id (in the listing's order).
    pub before: Option<String>,
    /// `asc` (oldest first, default) or `desc`.
    pub order: Option<String>,
    /// Only messages with this role.
    pub role: Option<String>,
}

impl MessageParams {
    pub fn into_query(self) -> Result<MessageQuery, ApiError> {
        Ok(MessageQuery {
            limit: parse_limit(self.limit.as_deref())?,
            after: self.after.as_deref().map(|a| MessageId::parse("after", a)).transpose()?,
            before: self.before.as_deref().map(|b| MessageId::parse("before", b)).transpose()?,
            order: self.order.as_deref().map(|o| Order::parse("order", o)).transpose()?.unwrap_or_default(),
            role: self.role.as_deref().map(|r| Role::parse("role", r)).transpose()?,
        })
    }
}

/// Recall search parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessageSearchParams {
    /// What to look for.
    pub q: Option<String>,
    /// Only messages with this role.
    pub role: Option<String>,
    /// Only messages created at or after this RFC 3339 time.
    pub from: Option<String>,
    /// Only messages created at or before this RFC 3339 time.
    pub to: Option<String>,
    /// 1..=100, default 10.
    pub limit: Option<String>,
    /// `hybrid` (default), `vector` or `text`.
    pub mode: Option<String>,
}

impl MessageSearchParams {
    /// The search and its mode.
    pub fn into_search(self) -> Result<(SearchMode, MessageSearch), ValidationError> {
        let mode = self.mode.as_deref().map(|m| SearchMode::parse("mode", m)).transpose()?.unwrap_or_default();
        let text = self.q.unwrap_or_default();
        check_not_blank("q", &text)?;
        check_max_chars("q", &text, MAX_QUERY_CHARS)?;
        let limit = match self.limit.as_deref() {
            None => DEFAULT_K,
            Some(t) => check_k("limit", parse_int("limit", t)?)?,
        };
        let search = MessageSearch {
            text,
            role: self.role.as_deref().map(|r| Role::parse("role", r)).transpose()?,
            from: self.from.as_deref().map(|t| parse_time("from", t)).transpose()?,
            to: self.to.as_deref().map(|t| parse_time("to", t)).transpose()?,
            limit,
        };
        Ok((mode, search))
    }
}

/// A recall search result.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageHit {
    pub message: MessageBody,
    /// Higher is better; comparable only within one response.
    pub score: f64,
}

/// Recall search results, best first.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageSearchResponse {
    pub results: Vec<MessageHit>,
    /// How the results were ranked: `hybrid`, `vector` or `text` (see the archival search).
    #[schema(value_type = String, example = "hybrid")]
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
