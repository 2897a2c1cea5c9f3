//! Agents: the server objects that own a system prompt, a model configuration, memory blocks, a message history and
//! an archive. An agent without a model is a memory-only agent.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::ValidationError;
use crate::block::{Block, NewBlock};
use crate::id::{AgentId, BlockId};
use crate::text::{check_max_chars, check_no_control, check_not_blank};

/// An agent's display name: 1..=200 characters, no control characters, not blank.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AgentName(String);

impl AgentName {
    pub fn parse(field: &str, text: &str) -> Result<Self, ValidationError> {
        check_not_blank(field, text)?;
        check_max_chars(field, text, 200)?;
        check_no_control(field, text)?;
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A model reference `provider/model`, e.g. `openai/gpt-4o-mini` or `ollama/llama3.1:8b`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef {
    provider: String,
    model: String,
}

impl ModelRef {
    pub fn parse(field: &str, text: &str) -> Result<Self, ValidationError> {
        let bad = || {
            ValidationError::new(
                field,
                format!("`{text}` is not a model reference; use `provider/model`, e.g. `openai/gpt-4o-mini`"),
            )
        };
        let (provider, model) = text.split_once('/').ok_or_else(bad)?;
        let provider_ok = !provider.is_empty()
            && provider.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !provider_ok || model.trim().is_empty() || text.len() > 200 || text.chars().any(char::is_control) {
            return Err(bad());
        }
        Ok(Self { provider: provider.to_owned(), model: model.to_owned() })
    }

    pub fn provider(&self) -> &str {
        &self.provider
    }

    pub fn model(&self) -> &str {
        &self.model
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// A tag on an agent or a passage: 1..=64 characters, no commas (lists of tags travel comma-separated in queries),
/// no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn parse(field: &str, text: &str) -> Result<Self, ValidationError> {
        check_not_blank(field, text)?;
        check_max_chars(field, text, 64)?;
        check_no_control(field, text)?;
        if text.contains(',') {
            return Err(ValidationError::new(field, "must not contain commas"));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parses a list of tags, dropping duplicates and keeping first-seen order.
pub fn parse_tags(field: &str, texts: &[String]) -> Result<Vec<Tag>, ValidationError> {
    let mut tags: Vec<Tag> = Vec::with_capacity(texts.len());
    for (i, t) in texts.iter().enumerate() {
        let tag = Tag::parse(&format!("{field}[{i}]"), t)?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(tags)
}

/// A tool name as agents list them: `^[a-zA-Z0-9_-]{1,64}$` (the rule model providers apply to function names).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ToolName(String);

impl ToolName {
    pub fn parse(field: &str, text: &str) -> Result<Self, ValidationError> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return Err(ValidationError::new(
                field,
                format!("`{text}` is not a valid tool name (1 to 64 letters, digits, `_` or `-`)"),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free-form JSON metadata: an object of bounded size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    /// Serialized size limit, in bytes.
    pub const MAX_BYTES: usize = 64 * 1024;

    pub fn parse(field: &str, value: Value) -> Result<Self, ValidationError> {
        match value {
            Value::Object(map) => {
                let size = Value::Object(map.clone()).to_string().len();
                if size > Self::MAX_BYTES {
                    return Err(ValidationError::new(
                        field,
                        format!("must be at most {} bytes of JSON, got {size}", Self::MAX_BYTES),
                    ));
                }
                Ok(Self(map))
            }
            Value::Null => Ok(Self::default()),
            _ => Err(ValidationError::new(field, "must be a JSON object")),
        }
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// Default context window, in tokens, for agents that do not set one.
pub const DEFAULT_CONTEXT_WINDOW: u32 = 32_000;
/// Bounds for `context_window`.
pub const MIN_CONTEXT_WINDOW: u32 = 1_000;
pub const MAX_CONTEXT_WINDOW: u32 = 10_000_000;

/// Checks a context window size.
pub fn check_context_window(field: &str, n: i64) -> Result<u32, ValidationError> {
    if (i64::from(MIN_CONTEXT_WINDOW)..=i64::from(MAX_CONTEXT_WINDOW)).contains(&n) {
        Ok(n as u32)
    } else {
        Err(ValidationError::new(
            field,
            format!("must be between {MIN_CONTEXT_WINDOW} and {MAX_CONTEXT_WINDOW} tokens, got {n}"),
        ))
    }
}

/// Longest system prompt, in characters.
pub const MAX_SYSTEM_CHARS: usize = 100_000;

/// The configuration part of an agent: everything `PATCH /v1/agents/{id}` can change.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub name: AgentName,
    pub system: String,
    pub model: Option<ModelRef>,
    pub embedding: ModelRef,
    pub context_window: u32,
    pub tools: Vec<ToolName>,
    pub tags: Vec<Tag>,
    pub metadata: Metadata,
}

impl AgentConfig {
    /// A canonical byte encoding, for content commitments in audit events.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let value = serde_json::json!({
            "name": self.name.as_str(),
            "system": self.system,
            "model": self.model.as_ref().map(ToString::to_string),
            "embedding": self.embedding.to_string(),
            "context_window": self.context_window,
            "tools": self.tools.iter().map(ToolName::as_str).collect::<Vec<_>>(),
            "tags": self.tags.iter().map(Tag::as_str).collect::<Vec<_>>(),
            "metadata": self.metadata.as_map(),
        });
        value.to_string().into_bytes()
    }
}

/// A stored agent with its blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub id: AgentId,
    pub config: AgentConfig,
    pub blocks: Vec<Block>,
    /// Starts at 1; bumped by every configuration change.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An agent to create: its configuration, blocks made with it, and existing blocks to attach.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAgent {
    pub config: AgentConfig,
    pub blocks: Vec<NewBlock>,
    pub block_ids: Vec<BlockId>,
}

/// A partial update of an agent's configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentPatch {
    pub name: Option<AgentName>,
    pub system: Option<String>,
    /// `Some(None)` removes the model, making the agent memory-only.
    pub model: Option<Option<ModelRef>>,
    pub embedding: Option<ModelRef>,
    pub context_window: Option<u32>,
    pub tools: Option<Vec<ToolName>>,
    pub tags: Option<Vec<Tag>>,
    pub metadata: Option<Metadata>,
}

impl AgentPatch {
    /// Applies the patch; returns whether anything changed.
    pub fn apply_to(self, config: &mut AgentConfig) -> bool {
        let before = config.clone();
        if let Some(v) = self.name {
            config.name = v;
        }
        if let Some(v) = self.system {
            config.system = v;
        }
        if let Some(v) = self.model {
            config.model = v;
        }
        if let Some(v) = self.embedding {
            config.embedding = v;
        }
        if let Some(v) = self.context_window {
            config.context_window = v;
        }
        if let Some(v) = self.tools {
            config.tools = v;
        }
        if let Some(v) = self.tags {
            config.tags = v;
        }
        if let Some(v) = self.metadata {
            config.metadata = v;
        }
        *config != before
    }
}

/// Filters for listing agents.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentFilter {
    pub name: Option<String>,
    pub tag: Option<Tag>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_refs() {
        let m = ModelRef::parse("model", "openai/gpt-4o-mini").unwrap_or_else(|_| unreachable!());
        assert_eq!((m.provider(), m.model()), ("openai", "gpt-4o-mini"));
        assert!(ModelRef::parse("model", "ollama/llama3.1:8b").is_ok());
        assert!(ModelRef::parse("model", "openrouter/meta-llama/llama-3-70b").is_ok());
        for bad in ["gpt-4o", "/gpt", "openai/", "Open AI/x", "openai/ "] {
            assert!(ModelRef::parse("model", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_tags() {
        assert!(AgentName::parse("name", "  ").is_err());
        assert!(AgentName::parse("name", "a\nb").is_err());
        assert!(AgentName::parse("name", &"x".repeat(201)).is_err());
        assert!(Tag::parse("tags[0]", "a,b").is_err());
        let tags = parse_tags("tags", &["a".into(), "b".into(), "a".into()]).unwrap_or_default();
        assert_eq!(tags.len(), 2);
    }

    #[test]
    fn metadata_must_be_an_object() {
        assert!(Metadata::parse("metadata", serde_json::json!([1])).is_err());
        assert!(Metadata::parse("metadata", serde_json::json!({"a": 1})).is_ok());
        let big = serde_json::json!({"a": "x".repeat(Metadata::MAX_BYTES)});
        assert!(Metadata::parse("metadata", big).is_err());
    }
}
