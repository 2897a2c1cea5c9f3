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
/// user text can inject query syntax. Function words ([`STOP_WORDS`]: "the", "did", "to", …) are dropped too when
/// the text has any other word: BM25 gives them almost no weight, yet each one makes nearly every passage a match
/// the index has to score, which is what made a search over 100k passages cost 100 ms. A text made only of such
/// words ("who is he") keeps them all.
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
    if terms.iter().any(|t| !is_stop_word(t)) {
        terms.retain(|t| !is_stop_word(t));
    }
    terms
}

/// Whether `word` (lower case) is one of [`STOP_WORDS`].
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// English function words left out of full-text queries, sorted (for binary search). The common English list
/// (pronouns, articles, auxiliaries, prepositions, conjunctions, question words), plus the fragments contractions
/// leave once apostrophes split words ("don't" → "don", "t").
#[rustfmt::skip]
pub const STOP_WORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be",
    "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "d", "did", "do",
    "does", "doing", "don", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having",
    "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it",
    "its", "itself", "just", "ll", "m", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off",
    "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "re", "s", "same", "she",
    "should", "so", "some", "such", "t", "than", "that", "the", "their", "theirs", "them", "themselves", "then",
    "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "ve", "very", "was",
    "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you",
    "your", "yours", "yourself", "yourselves",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_terms_strip_syntax() {
        assert_eq!(query_terms("What's \"NEAR\" (x OR y)*?"), vec!["near", "x", "y"]);
        assert_eq!(query_terms("Café café"), vec!["café"]);
        assert!(query_terms("  --- ").is_empty());
    }

    #[test]
    fn function_words_are_dropped_unless_nothing_else_is_left() {
        assert_eq!(
            query_terms("When did Caroline go to the support group?"),
            vec!["caroline", "go", "support", "group"]
        );
        assert_eq!(query_terms("Who is he?"), vec!["who", "is", "he"]);
    }

    #[test]
    fn the_stop_word_list_is_sorted_lower_case_and_unique() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert!(STOP_WORDS.iter().all(|w| w.chars().all(|c| c.is_ascii_lowercase())));
        assert!(is_stop_word("the") && !is_stop_word("lisbon"));
    }
}
