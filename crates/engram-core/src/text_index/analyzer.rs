//! Text analysis shared by stored text and queries, kept close to SQLite FTS5's `porter unicode61` tokenizer so
//! that moving search off FTS5 keeps what matches what.
//!
//! A token is a run of letters and digits (`char::is_alphanumeric`, the split `search::query_terms` uses), lower-cased
//! and folded: canonical decomposition, then the combining diacritical marks dropped ("Café" → "cafe"; marks that are
//! letters' vowel signs in other scripts stay, and Hangul syllables stay whole), and final sigma read as sigma. A term
//! is a folded token stemmed with the Snowball English (Porter2) stemmer. As in FTS5's porter tokenizer, tokens
//! shorter than 3 or longer than 64 bytes are kept whole; so are tokens that are not all ASCII after folding (the
//! English rules mean nothing for other scripts). ASCII text, nearly all of it, takes a byte-at-a-time path with
//! no allocation per token.

use std::borrow::Cow;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::char::decompose_canonical;

/// Tokens longer than this (in bytes) are not stemmed, as in FTS5's porter tokenizer.
const MAX_STEMMED_BYTES: usize = 64;
/// Tokens shorter than this (in bytes) are not stemmed, as in FTS5's porter tokenizer.
const MIN_STEMMED_BYTES: usize = 3;

/// Every term of `text` in order, stop words included: what the index stores for a row. Its length is the row's
/// length in BM25 (FTS5 counts every token too).
pub fn document_terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut token = String::new();
    for_each_token(text, &mut token, |folded| terms.push(stem(folded).into_owned()));
    terms
}

/// The distinct terms a query looks up: `search::query_terms` (its words, lower case, function words dropped unless
/// nothing else is left), each folded and stemmed, in order of first appearance, duplicates ("run", "running")
/// dropped.
pub fn query_terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut token = String::new();
    for word in crate::search::query_terms(text) {
        // The word is already one token: folding it whole (not splitting it again) keeps "i̇" (which lower-casing
        // "İ" gives) one letter, as it is in stored text.
        token.clear();
        for c in word.chars() {
            if c.is_ascii() { token.push(c.to_ascii_lowercase()) } else { push_folded(c, &mut token) }
        }
        if token.is_empty() {
            continue;
        }
        let term = stem(&token);
        if !terms.iter().any(|known| *known == *term) {
            terms.push(term.into_owned());
        }
    }
    terms
}

/// The term a folded token stands for.
pub(super) fn stem(folded: &str) -> Cow<'_, str> {
    if folded.len() < MIN_STEMMED_BYTES || folded.len() > MAX_STEMMED_BYTES || !folded.is_ascii() {
        return Cow::Borrowed(folded);
    }
    Stemmer::create(Algorithm::English).stem(folded)
}

/// Calls `emit` with each folded token of `text`, in order. A token of lower-case ASCII letters and digits (most
/// of them) is passed as a slice of `text`; others are built in `token`, a buffer the caller keeps between calls.
pub(super) fn for_each_token(text: &str, token: &mut String, mut emit: impl FnMut(&str)) {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte.is_ascii() && !byte.is_ascii_alphanumeric() {
            at += 1;
            continue;
        }
        let start = at;
        let mut upper = false;
        while let Some(&byte) = bytes.get(at)
            && byte.is_ascii_alphanumeric()
        {
            upper |= byte.is_ascii_uppercase();
            at += 1;
        }
        if bytes.get(at).is_none_or(u8::is_ascii) {
            // An ASCII token: `start..at` lies between ASCII bytes, so on character boundaries.
            let raw = text.get(start..at).unwrap_or("");
            if upper {
                token.clear();
                token.push_str(raw);
                token.make_ascii_lowercase();
                emit(token);
            } else {
                emit(raw);
            }
            continue;
        }
        // A token with a non-ASCII character: fold it character by character from its start.
        token.clear();
        at = start;
        while let Some(c) = text.get(at..).and_then(|rest| rest.chars().next()) {
            if !c.is_alphanumeric() {
                if at == start {
                    // Not a token after all: a non-ASCII separator.
                    at += c.len_utf8();
                }
                break;
            }
            at += c.len_utf8();
            if c.is_ascii() {
                token.push(c.to_ascii_lowercase());
            } else {
                push_folded(c, token);
            }
        }
        if !token.is_empty() {
            emit(token);
        }
    }
}

/// Appends `c` lower-cased and without diacritics.
fn push_folded(c: char, out: &mut String) {
    for lower in c.to_lowercase() {
        if lower == 'ς' {
            // `str::to_lowercase` (which `search::query_terms` uses) writes a word-final sigma as ς and
            // `char::to_lowercase` never does: read both as σ so queries and stored text agree.
            out.push('σ');
        } else if is_hangul_syllable(lower) {
            out.push(lower);
        } else {
            decompose_canonical(lower, |part| {
                if !is_diacritic(part) {
                    out.push(part);
                }
            });
        }
    }
}

/// Combining marks that are diacritics (accents, cedillas, dots above…), not a script's vowel signs.
fn is_diacritic(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

/// Precomposed Hangul syllables, which canonical decomposition would split into jamo for no gain.
fn is_hangul_syllable(c: char) -> bool {
    matches!(c, '\u{AC00}'..='\u{D7A3}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &[&str]) {
        assert_eq!(document_terms(text), expected, "{text:?}");
    }

    #[test]
    fn inflections_share_a_stem() {
        check("running runs run", &["run", "run", "run"]);
        check("Connected connecting CONNECTION connections", &["connect", "connect", "connect", "connect"]);
        check("studies studying", &["studi", "studi"]);
    }

    #[test]
    fn diacritics_and_case_are_folded() {
        check("Café CAFÉ cafe\u{301}", &["cafe", "cafe", "cafe"]);
        check("naïve Zoë Ångström", &["naiv", "zoe", "angstrom"]);
        check("İstanbul", &["istanbul"]);
        check("ΟΔΟΣ οδος οδοσ", &["οδοσ", "οδοσ", "οδοσ"]);
        // Vowel signs of other scripts are letters, not diacritics, and Hangul is kept whole.
        check("किताब 한국어", &["किताब", "한국어"]);
    }

    #[test]
    fn punctuation_splits_and_numbers_stay() {
        check("don't stop-gap e-mail: x@y.com", &["don", "t", "stop", "gap", "e", "mail", "x", "y", "com"]);
        check("In 2023, 42 runs; v2.0", &["in", "2023", "42", "run", "v2", "0"]);
        check("", &[]);
        check("  ... --- !!! ", &[]);
    }

    #[test]
    fn stop_words_are_kept_in_documents() {
        check("The cat is on the mat", &["the", "cat", "is", "on", "the", "mat"]);
    }

    #[test]
    fn short_long_and_foreign_tokens_are_not_stemmed() {
        check("as is", &["as", "is"]);
        let long = "running".repeat(10);
        assert_eq!(document_terms(&long), vec![long.clone()]);
        check("бегущих", &["бегущих"]);
    }

    #[test]
    fn queries_drop_function_words_and_duplicate_stems() {
        assert_eq!(query_terms("When did Caroline go running, and does she run?"), vec!["carolin", "go", "run"]);
        assert_eq!(query_terms("Who is he?"), vec!["who", "is", "he"]);
        assert_eq!(query_terms("CAFÉ café"), vec!["cafe"]);
        assert!(query_terms(" ?! ").is_empty());
    }

    #[test]
    fn query_terms_match_document_terms() {
        let text = "Ἀθῆναι ΣΟΦΟΣ Straße İzmir façade NAÏVE résumés ǅemal ﬁne";
        let stored = document_terms(text);
        for term in query_terms(text) {
            assert!(stored.contains(&term), "{term:?} not in {stored:?}");
        }
    }

    #[test]
    fn arbitrary_text_never_panics() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let alphabet: Vec<char> =
            "abcdeiouy sz'-.ÉéèçßøæœİıΣςσ한ा\u{301}\u{307}\u{345}0129 \n\tXYZ¿€😀ﬁǅ".chars().collect();
        for _ in 0..2_000 {
            let mut text = String::new();
            for _ in 0..(state % 40) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let _ = document_terms(&text);
            let _ = query_terms(&text);
        }
    }
}
