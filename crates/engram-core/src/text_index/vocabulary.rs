//! `Vocabulary`: the index's terms (stems), numbered densely, and a cache from folded tokens to those numbers.
//!
//! Stemming a token costs far more than a hash lookup, and a corpus repeats its words endlessly, so each distinct
//! folded token ("running", "runs") is stemmed once and remembered with its term; loading a million passages then
//! stems only their distinct words. Term numbers are never reused: a term whose rows are all removed keeps its number
//! (and its place in the caches) until the index is dropped.
//!
//! Tokens of up to 16 bytes, nearly all of them, are cached under the token's bytes themselves (zero-padded: a
//! token never holds a zero byte), so a lookup reads one table slot and no string stored elsewhere.

use hashbrown::HashMap;

use super::analyzer::stem;
use super::interner::Interner;

/// Longest token cached inline.
const INLINE_TOKEN_BYTES: usize = 16;

#[derive(Default)]
pub(super) struct Vocabulary {
    /// Term number → stem.
    stems: Interner,
    /// Folded tokens of up to 16 bytes seen so far, with their terms.
    short_tokens: HashMap<[u64; 2], u32>,
    /// Longer folded tokens seen so far…
    tokens: Interner,
    /// …and the term of each.
    token_terms: Vec<u32>,
}

/// A small direct-mapped cache in front of `Vocabulary`'s tables for a bulk load: the few thousand most frequent
/// words make most of any text, and this keeps them in a table that stays in the processor's cache, where the
/// vocabulary's tables (hundreds of thousands of entries) do not. Dropped when the load ends.
pub(super) struct RecentTokens {
    slots: Vec<([u64; 2], u32)>,
}

impl RecentTokens {
    /// Slots (a power of two).
    const SLOTS: usize = 1 << 14;

    pub(super) fn new() -> Self {
        // No token is all zero bytes, so the empty key never matches.
        Self { slots: vec![([0, 0], 0); Self::SLOTS] }
    }

    #[inline]
    fn slot(&mut self, key: [u64; 2]) -> Option<&mut ([u64; 2], u32)> {
        let hash = (key[0] ^ key[1].rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.slots.get_mut((hash >> 52) as usize & (Self::SLOTS - 1))
    }
}

/// A token of up to 16 bytes as its zero-padded bytes (little-endian), or `None` for a longer token.
#[inline]
pub(super) fn inline_key(token: &str) -> Option<[u64; 2]> {
    let bytes = token.as_bytes();
    if bytes.len() > INLINE_TOKEN_BYTES {
        return None;
    }
    let mut key = [0u64; 2];
    for (i, &byte) in bytes.iter().enumerate() {
        key[i >> 3] |= u64::from(byte) << ((i & 7) * 8);
    }
    Some(key)
}

/// The token an inline key holds.
fn inline_text(key: [u64; 2], out: &mut [u8; INLINE_TOKEN_BYTES]) -> &str {
    let (low, high) = out.split_at_mut(8);
    low.copy_from_slice(&key[0].to_le_bytes());
    high.copy_from_slice(&key[1].to_le_bytes());
    let len = out.iter().position(|&byte| byte == 0).unwrap_or(INLINE_TOKEN_BYTES);
    std::str::from_utf8(out.get(..len).unwrap_or(&[])).unwrap_or("")
}

impl Vocabulary {
    /// How many terms are numbered.
    pub(super) fn len(&self) -> usize {
        self.stems.len()
    }

    /// The term number of a stem, if any row ever held it.
    pub(super) fn find(&self, stem: &str) -> Option<u32> {
        self.stems.find(stem)
    }

    /// The term of a token of up to 16 bytes given by its [`inline_key`], numbering its stem if new. `None` only
    /// once 2³² terms are held.
    #[inline]
    pub(super) fn term_of_short(&mut self, key: [u64; 2], recent: Option<&mut RecentTokens>) -> Option<u32> {
        let slot = recent.and_then(|recent| recent.slot(key));
        if let Some((cached, term)) = slot.as_deref()
            && *cached == key
        {
            return Some(*term);
        }
        let term = match self.short_tokens.get(&key) {
            Some(&term) => term,
            None => {
                let mut bytes = [0; INLINE_TOKEN_BYTES];
                let term = self.stems.intern(&stem(inline_text(key, &mut bytes)))?;
                self.short_tokens.insert(key, term);
                term
            }
        };
        if let Some(slot) = slot {
            *slot = (key, term);
        }
        Some(term)
    }

    /// The term of a folded token longer than 16 bytes, numbering its stem if new.
    pub(super) fn term_of_long(&mut self, folded: &str) -> Option<u32> {
        if let Some(token) = self.tokens.find(folded) {
            return self.token_terms.get(token as usize).copied();
        }
        let term = self.stems.intern(&stem(folded))?;
        if self.tokens.intern(folded).is_some() {
            self.token_terms.push(term);
        }
        Some(term)
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.stems.memory_bytes()
            + self.short_tokens.allocation_size()
            + self.tokens.memory_bytes()
            + self.token_terms.capacity() * size_of::<u32>()
    }

    #[cfg(test)]
    pub(super) fn stem_of(&self, term: u32) -> &str {
        self.stems.get(term)
    }
}
