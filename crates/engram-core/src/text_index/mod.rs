//! Full-text search over one agent's rows in memory: an inverted index scored with BM25 exactly as SQLite FTS5's
//! `bm25()` scores, over the index's own statistics.
//!
//! `TextIndex` is what a store holds per agent, next to its `VectorIndex`: loaded from the database on first use
//! (`extend`) and kept in step with each write (`insert`, `remove`). Text goes through `analyzer` (words, lower case,
//! no diacritics, Porter2 stems: close to FTS5's `porter unicode61`), the `vocabulary` numbers the terms, `postings`
//! holds which rows hold each term and how often, `forward` each row's terms (so a removal can update the
//! statistics), and `search` walks the postings with MaxScore pruning. Nothing here does I/O.

mod analyzer;
mod bm25;
mod forward;
mod index;
mod interner;
mod keys;
mod postings;
mod search;
mod vocabulary;

#[cfg(test)]
mod tests;

pub use analyzer::{document_terms, query_terms};
pub use index::TextIndex;
pub use search::TextHit;
