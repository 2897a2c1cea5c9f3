//! Search requests and results shared by archival and recall search.

use chrono::{DateTime, Utc};

use crate::ValidationError;
use crate::agent::Tag;

/// How to rank: by meaning, by words, or both fused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    #[default]
    Hybrid,
    Vector,
    Text,
}

impl SearchMode {
    pub fn parse(field: &str, text: &str) -> Result<Self, ValidationError> {
        match text {
            "hybrid" => Ok(Self::Hybrid),
            "vector" => Ok(Self::Vector),
            "text" => Ok(Self::Text),
            _ => Err(ValidationError::new(field, format!("`{text}` is not a search mode (hybrid, vector, text)"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hybrid => "hybrid",
            Self::Vector => "vector",
            Self::Text => "text",
        }
    }
}

/// Whether a result must carry any or all of the requested tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagMode {
    #[default]
    Any,
    All,
}

impl TagMode {
    pub fn parse(field: &str, text: &str) -> Result<Self, ValidationError> {
        match text {
            "any" => Ok(Self::Any),
            "all" => Ok(Self::All),
            _ => Err(ValidationError::new(field, format!("`{text}` is not a tag mode (any, all)"))),
        }
    }
}

/// Most results one search returns.
pub const MAX_K: u32 = 100;
/// Results returned when the caller does not say.
pub const DEFAULT_K: u32 = 10;
/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 10_000;

/// Checks `k`.
pub fn check_k(field: &str, k: i64) -> Result<u32, ValidationError> {
    if (1..=i64::from(MAX_K)).contains(&k) {
        Ok(k as u32)
    } else {
        Err(ValidationError::new(field, format!("must be between 1 and {MAX_K}, got {k}")))
    }
}

/// Filters applied before ranking.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassageFilter {
    pub tags: Vec<Tag>,
    pub tag_mode: TagMode,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// An archival search: query text, how many results, and filters.
#[derive(Debug, Clone, PartialEq)]
pub struct PassageQuery {
    pub text: String,
    pub k: u32,
    pub filter: PassageFilter,
}

/// A recall search over an agent's messages, in or out of the context window.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageSearch {
    pub text: String,
    pub role: Option<crate::message::Role>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: u32,
}

/// A search result with its score (higher is better; comparable only within one result list).
#[derive(Debug, Clone, PartialEq)]
pub struct Scored<T> {
    pub item: T,
    pub score: f64,
}

/// Turns free text into the words a full-text index should match, any of them (OR semantics), so a question
/// matches passages that share some of its words and BM25 ranks those sharing more, rarer words first.
///
/// Words are runs of letters and digits; everything else (FTS operators, quotes, punctuation) is dropped, so no
/// user text can inject query syntax.
pub fn query_terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let word = word.to_lowercase();
        if !terms.contains(&word) {
            terms.push(word);
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_terms_strip_syntax() {
        assert_eq!(query_terms("What's \"NEAR\" (x OR y)*?"), vec!["what", "s", "near", "x", "or", "y"]);
        assert_eq!(query_terms("Café café"), vec!["café"]);
        assert!(query_terms("  --- ").is_empty());
    }
}
