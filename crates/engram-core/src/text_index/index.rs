//! `TextIndex`: an agent's rows (key, attribute, length, terms), their postings, and the exact live statistics
//! BM25 reads; inserts, replacements, removals and the rebuild that compacts them.
//!
//! Rows get ordinals as they are added. A removed or replaced row becomes a tombstone (its length set to `DEAD`):
//! the statistics drop it at once, searches skip it, and its postings stay until the next rebuild, which runs when
//! tombstones pass a fifth of the rows, or when the postings added since the last rebuild pass a quarter of those
//! it built. A rebuild renumbers the live rows densely in key order (see `keys`) and lays all postings out flat
//! again.

use std::fmt;

use super::analyzer::for_each_token;
use super::bm25::{Norm, ceil_f32, saturation};
use super::forward::Forward;
use super::keys::RowKeys;
use super::postings::{Builder, Postings};
use super::vocabulary::{RecentTokens, Vocabulary, inline_key};

/// Length of a removed row.
pub(super) const DEAD: u32 = u32::MAX;
/// Rows (live and dead) an index can number; ordinal `u32::MAX` is never used, so it can mark the end of a list.
const MAX_ORDINALS: usize = u32::MAX as usize - 1;
/// Tombstones trigger a rebuild past this share of all rows…
const MAX_DEAD_FRACTION: f64 = 0.2;
/// …once there are at least this many.
const MIN_DEAD_FOR_REBUILD: usize = 256;
/// The delta part triggers a rebuild past this share of the main part's postings…
const MAX_DELTA_FRACTION: f64 = 0.25;
/// …plus this many postings (so small indexes do not rebuild on every insert).
const MIN_DELTA_FOR_REBUILD: usize = 1 << 16;
/// `extend` lays rows out by a rebuild rather than one by one after this many rows (and a quarter of the index).
const MIN_BULK_ROWS: usize = 1_024;

/// One term's statistics over the rows that hold it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TermStats {
    /// Live rows holding the term: BM25's n(t).
    pub(super) rows: u32,
    /// At least the largest saturation of the term in a row holding it, at the reference average length (removals
    /// do not lower it until a rebuild).
    pub(super) max_saturation: f32,
}

/// Full-text search over one agent's rows: exact FTS5-style BM25 (k1 = 1.2, b = 0.75) over the index's own live
/// statistics, any query term matching (OR). `A` is a per-row attribute (time, role…) that search filters read.
pub struct TextIndex<A> {
    pub(super) vocabulary: Vocabulary,
    pub(super) postings: Postings,
    pub(super) forward: Forward,
    /// By ordinal: the row's key (and the live row of each key), attribute and length in tokens (`DEAD` once
    /// removed).
    pub(super) keys: RowKeys,
    pub(super) attrs: Vec<A>,
    pub(super) lens: Vec<u32>,
    /// By term number.
    pub(super) terms: Vec<TermStats>,
    /// Tokens in all live rows.
    pub(super) live_tokens: u64,
    pub(super) dead_rows: usize,
    /// The average length the saturation bounds were taken at: the one at the last rebuild (or, before the first,
    /// the first row's length).
    pub(super) reference_len: f64,
    /// Scratch for inserts: the token being folded, the row's short tokens, its term numbers, its (term, count)
    /// pairs.
    token: String,
    row_keys: Vec<[u64; 2]>,
    row_terms: Vec<u32>,
    pairs: Vec<(u32, u32)>,
}

impl<A: Copy> Default for TextIndex<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A> fmt::Debug for TextIndex<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextIndex")
            .field("rows", &self.keys.live())
            .field("dead_rows", &self.dead_rows)
            .field("terms", &self.vocabulary.len())
            .field("live_tokens", &self.live_tokens)
            .finish_non_exhaustive()
    }
}

impl<A: Copy> TextIndex<A> {
    pub fn new() -> Self {
        Self {
            vocabulary: Vocabulary::default(),
            postings: Postings::default(),
            forward: Forward::default(),
            keys: RowKeys::default(),
            attrs: Vec::new(),
            lens: Vec::new(),
            terms: Vec::new(),
            live_tokens: 0,
            dead_rows: 0,
            reference_len: 0.0,
            token: String::new(),
            row_keys: Vec::new(),
            row_terms: Vec::new(),
            pairs: Vec::new(),
        }
    }

    /// Live rows.
    pub fn len(&self) -> usize {
        self.keys.live()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.live() == 0
    }

    pub fn contains(&self, key: i64) -> bool {
        self.ordinal(key).is_some()
    }

    /// The ordinal of `key`'s live row.
    pub(super) fn ordinal(&self, key: i64) -> Option<u32> {
        self.keys.find(key, |ord| self.lens.get(ord as usize).is_some_and(|&len| len != DEAD))
    }

    /// Tokens in all live rows (BM25's average length is this over `len`).
    pub fn total_tokens(&self) -> u64 {
        self.live_tokens
    }

    /// Distinct terms ever indexed (including those whose rows have all been removed).
    pub fn term_count(&self) -> usize {
        self.vocabulary.len()
    }

    /// Approximate heap bytes held: rows, postings, term lists per row, vocabulary and caches.
    pub fn memory_bytes(&self) -> usize {
        self.vocabulary.memory_bytes()
            + self.postings.memory_bytes()
            + self.forward.memory_bytes()
            + self.keys.memory_bytes()
            + self.attrs.capacity() * size_of::<A>()
            + self.lens.capacity() * size_of::<u32>()
            + self.terms.capacity() * size_of::<TermStats>()
            + self.token.capacity()
            + self.row_keys.capacity() * size_of::<[u64; 2]>()
            + self.row_terms.capacity() * size_of::<u32>()
            + self.pairs.capacity() * size_of::<(u32, u32)>()
    }

    /// Indexes `text` under `key`, replacing the row `key` had. Searchable at once.
    pub fn insert(&mut self, key: i64, text: &str, attr: A) {
        self.bury(key);
        self.append(key, text, attr, None, true);
        self.maintain();
    }

    /// Indexes many rows (later rows replace earlier ones with the same key): the way to load an index, about
    /// twice as fast as inserting the rows one by one. Once the call has added a quarter as many rows as the index
    /// held (and at least 1,024), the rest are laid out together by one rebuild at the end; a smaller
    /// call (a chunk of a load, a batch of writes) costs what its inserts would. Loading in chunks is fine: every
    /// rebuild grows the index by at least a quarter.
    pub fn extend<T: AsRef<str>>(&mut self, rows: impl IntoIterator<Item = (i64, T, A)>) {
        let rows = rows.into_iter();
        let expected = rows.size_hint().0;
        self.keys.reserve(expected);
        self.attrs.reserve(expected);
        self.lens.reserve(expected);
        self.forward.reserve_rows(expected);
        let bulk_after = (self.len() / 4).max(MIN_BULK_ROWS);
        // The cache costs a few hundred kilobytes: only for calls of some size.
        let mut recent = (expected >= MIN_BULK_ROWS).then(RecentTokens::new);
        let mut added = 0;
        for (key, text, attr) in rows {
            let bulk = added >= bulk_after;
            if recent.is_none() && added >= MIN_BULK_ROWS {
                recent = Some(RecentTokens::new());
            }
            self.bury(key);
            self.append(key, text.as_ref(), attr, recent.as_mut(), !bulk);
            if !bulk {
                self.maintain();
            }
            added += 1;
        }
        if added > bulk_after {
            self.rebuild();
        }
    }

    /// Removes `key`'s row. Returns whether there was one.
    pub fn remove(&mut self, key: i64) -> bool {
        let removed = self.bury(key);
        if removed {
            self.maintain();
        }
        removed
    }

    /// Turns `key`'s row into a tombstone and takes it out of the statistics.
    fn bury(&mut self, key: i64) -> bool {
        let Some(ord) = self.ordinal(key) else {
            return false;
        };
        self.keys.bury(key);
        for (term, _) in self.forward.row(ord) {
            if let Some(stats) = self.terms.get_mut(term as usize) {
                stats.rows = stats.rows.saturating_sub(1);
            }
        }
        if let Some(len) = self.lens.get_mut(ord as usize) {
            self.live_tokens = self.live_tokens.saturating_sub(u64::from(*len));
            *len = DEAD;
        }
        self.dead_rows += 1;
        true
    }

    /// Adds a live row (its key must not be live), with its postings in the delta part when `postings` is set
    /// (else the caller rebuilds before the next search). `recent` caches frequent tokens during a load. Returns
    /// whether the row was added: it is not only when 2³² − 1 rows are live, or 2³² terms known.
    fn append(&mut self, key: i64, text: &str, attr: A, mut recent: Option<&mut RecentTokens>, postings: bool) -> bool {
        if self.keys.rows() >= MAX_ORDINALS {
            self.rebuild();
            if self.keys.rows() >= MAX_ORDINALS {
                return false;
            }
        }
        let Self { vocabulary, token, row_keys, row_terms, pairs, .. } = self;
        row_keys.clear();
        row_terms.clear();
        let mut complete = true;
        // Tokenise first and look the tokens up after (order does not matter here): lookups that miss the
        // processor's cache then overlap instead of waiting on each other.
        for_each_token(text, token, |folded| match inline_key(folded) {
            Some(key) => row_keys.push(key),
            None => match vocabulary.term_of_long(folded) {
                Some(term) => row_terms.push(term),
                None => complete = false,
            },
        });
        for &key in row_keys.iter() {
            match vocabulary.term_of_short(key, recent.as_deref_mut()) {
                Some(term) => row_terms.push(term),
                None => complete = false,
            }
        }
        if !complete {
            return false;
        }
        let len = u32::try_from(row_terms.len()).unwrap_or(DEAD - 1).min(DEAD - 1);
        row_terms.sort_unstable();
        pairs.clear();
        for &term in row_terms.iter() {
            match pairs.last_mut() {
                Some((last, count)) if *last == term => *count = count.saturating_add(1),
                _ => pairs.push((term, 1)),
            }
        }
        if self.terms.len() < self.vocabulary.len() {
            self.terms.resize(self.vocabulary.len(), TermStats::default());
        }
        if self.reference_len <= 0.0 {
            self.reference_len = f64::from(len.max(1));
        }
        let norm = Norm::new(self.reference_len).of(len);
        let ord = self.keys.rows() as u32;
        for &(term, count) in self.pairs.iter() {
            let Some(stats) = self.terms.get_mut(term as usize) else {
                continue;
            };
            stats.rows += 1;
            // Without postings the rebuild to come sets the bounds.
            if postings {
                stats.max_saturation = stats.max_saturation.max(ceil_f32(saturation(count, norm)));
                self.postings.push(term, ord, count);
            }
        }
        self.forward.push(&self.pairs);
        self.keys.push(key);
        self.attrs.push(attr);
        self.lens.push(len);
        self.live_tokens += u64::from(len);
        true
    }

    /// Rebuilds when tombstones or the delta part have grown past their limits.
    fn maintain(&mut self) {
        let rows = self.keys.rows();
        let too_dead =
            self.dead_rows >= MIN_DEAD_FOR_REBUILD && self.dead_rows as f64 > MAX_DEAD_FRACTION * rows as f64;
        let delta_limit = MIN_DELTA_FOR_REBUILD as f64 + MAX_DELTA_FRACTION * self.postings.main_len() as f64;
        if too_dead || self.postings.delta_len() as f64 > delta_limit || (rows > 0 && self.is_empty()) {
            self.rebuild();
        }
    }

    /// Drops the tombstones, renumbers the live rows densely in key order, and lays every live row's postings out
    /// in one main part.
    pub(super) fn rebuild(&mut self) {
        if self.dead_rows > 0 || !self.keys.all_sorted() {
            self.compact_rows();
        }
        let live = self.len();
        if live > 0 && self.live_tokens > 0 {
            self.reference_len = self.live_tokens as f64 / live as f64;
        }
        if self.reference_len <= 0.0 {
            self.reference_len = 1.0;
        }
        self.forward.shrink();
        self.keys.shrink();
        shrink(&mut self.attrs);
        shrink(&mut self.lens);
        let rows_per_term: Vec<u32> = self.terms.iter().map(|stats| stats.rows).collect();
        let mut builder = Builder::new(&rows_per_term);
        // Rows are dense now: ordinal = position.
        for ord in 0..self.lens.len() as u32 {
            for (term, count) in self.forward.row(ord) {
                builder.place(term, ord, count);
            }
        }
        let (postings, max_saturations) = builder.finish(&self.lens, self.reference_len);
        self.postings = postings;
        for (stats, max_saturation) in self.terms.iter_mut().zip(max_saturations) {
            stats.max_saturation = max_saturation;
        }
    }

    /// Drops the tombstones' rows and renumbers the live rows densely in key order.
    fn compact_rows(&mut self) {
        let mut order: Vec<u32> =
            (0..self.keys.rows() as u32).filter(|&ord| self.lens.get(ord as usize) != Some(&DEAD)).collect();
        if !self.keys.all_sorted() {
            let keys = self.keys.keys();
            order.sort_unstable_by_key(|&ord| keys.get(ord as usize).copied().unwrap_or(i64::MAX));
        }
        let live = order.len();
        let mut keys = Vec::with_capacity(live);
        let mut attrs = Vec::with_capacity(live);
        let mut lens = Vec::with_capacity(live);
        let live_bytes = order.iter().map(|&ord| self.forward.row_bytes(ord)).sum();
        let mut forward = Forward::with_capacity(live, live_bytes);
        for &old in &order {
            let (Some(key), Some(&attr), Some(&len)) =
                (self.keys.key(old), self.attrs.get(old as usize), self.lens.get(old as usize))
            else {
                continue;
            };
            forward.push_copy(&self.forward, old);
            keys.push(key);
            attrs.push(attr);
            lens.push(len);
        }
        self.forward = forward;
        self.keys = RowKeys::from_sorted(keys);
        self.attrs = attrs;
        self.lens = lens;
        self.dead_rows = 0;
    }
}

/// Gives back a vector's spare capacity when it is more than an eighth of its length.
fn shrink<T>(vector: &mut Vec<T>) {
    if vector.capacity() - vector.len() > vector.len() / 8 {
        vector.shrink_to_fit();
    }
}
