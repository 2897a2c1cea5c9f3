//! `Interner`: distinct strings numbered 0, 1, 2… in the order first seen, stored end to end in one `String` and
//! found through a hash table of their numbers, so each costs its bytes plus about 13 bytes (no allocation per
//! string, which matters for the long tail of words seen once).

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

#[derive(Default)]
pub(super) struct Interner {
    /// Every string, end to end.
    text: String,
    /// Where each string ends in `text`; string `i` starts where `i - 1` ends.
    ends: Vec<usize>,
    /// The numbers of the strings, hashed by their text.
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl Interner {
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    /// String `id` (empty if there is none).
    #[cfg(test)]
    pub(super) fn get(&self, id: u32) -> &str {
        resolve(&self.text, &self.ends, id)
    }

    /// The number of `text`, if it was interned.
    pub(super) fn find(&self, text: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(text);
        self.table.find(hash, |&id| resolve(&self.text, &self.ends, id) == text).copied()
    }

    /// The number of `text`, interning it if new. `None` only once 2³² strings are held.
    pub(super) fn intern(&mut self, text: &str) -> Option<u32> {
        let Self { text: all, ends, table, hasher } = self;
        let hash = hasher.hash_one(text);
        if let Some(&id) = table.find(hash, |&id| resolve(all, ends, id) == text) {
            return Some(id);
        }
        let id = u32::try_from(ends.len()).ok()?;
        all.push_str(text);
        ends.push(all.len());
        table.insert_unique(hash, id, |&id| hasher.hash_one(resolve(all, ends, id)));
        Some(id)
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * size_of::<usize>() + self.table.allocation_size()
    }
}

fn resolve<'a>(text: &'a str, ends: &[usize], id: u32) -> &'a str {
    let id = id as usize;
    let start = if id == 0 { 0 } else { ends.get(id - 1).copied().unwrap_or(0) };
    let end = ends.get(id).copied().unwrap_or(start);
    text.get(start..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_strings_in_order_and_finds_them_again() {
        let mut interner = Interner::default();
        assert_eq!(interner.intern("cat"), Some(0));
        assert_eq!(interner.intern(""), Some(1));
        assert_eq!(interner.intern("café"), Some(2));
        assert_eq!(interner.intern("cat"), Some(0));
        assert_eq!(interner.len(), 3);
        assert_eq!((interner.get(0), interner.get(1), interner.get(2), interner.get(9)), ("cat", "", "café", ""));
        assert_eq!(interner.find("café"), Some(2));
        assert_eq!(interner.find("dog"), None);
        for i in 0..10_000 {
            interner.intern(&format!("w{i}"));
        }
        assert_eq!(interner.find("w9999"), Some(10_002));
        assert_eq!(interner.find("cat"), Some(0));
        assert!(interner.memory_bytes() > 10_000 * 4);
    }
}
