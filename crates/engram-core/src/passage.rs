//! Archival memory: passages of text with tags, metadata and (once the retrieval layer computes it) an embedding.

use chrono::{DateTime, Utc};

use crate::ValidationError;
use crate::agent::{Metadata, Tag};
use crate::id::{AgentId, PassageId};
use crate::text::{check_max_chars, check_not_blank};

/// Longest passage text, in characters.
pub const MAX_PASSAGE_CHARS: usize = 100_000;
/// Most passages in one batch insert.
pub const MAX_BATCH: usize = 1_000;

/// Checks a passage's text.
pub fn check_text(field: &str, text: &str) -> Result<(), ValidationError> {
    check_not_blank(field, text)?;
    check_max_chars(field, text, MAX_PASSAGE_CHARS)
}

/// An embedding vector with the model that produced it. The dimension is the vector's length.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    pub model: String,
    pub vector: Vec<f32>,
}

/// A stored passage.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    pub id: PassageId,
    pub agent_id: AgentId,
    pub text: String,
    pub tags: Vec<Tag>,
    pub metadata: Metadata,
    /// When the passage's content happened (clients may backdate it), used by time filters.
    pub created_at: DateTime<Utc>,
    /// Present only when the caller asked for it.
    pub embedding: Option<Embedding>,
}

/// A passage to insert; its text has been checked with [`check_text`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewPassage {
    pub text: String,
    pub tags: Vec<Tag>,
    pub metadata: Metadata,
    pub created_at: Option<DateTime<Utc>>,
    pub embedding: Option<Embedding>,
}
