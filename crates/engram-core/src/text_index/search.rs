//! BM25 search: rows holding any query term, scored exactly as FTS5's `bm25()` scores them, best `k` kept.
//!
//! Document at a time with MaxScore pruning (Turtle and Flood) and block bounds: every term gets an upper bound on
//! what it can add to a row's score (its IDF times its largest saturation), and each block of 128 postings its own.
//! Cursors are sorted by bound; once `k` hits are kept, the terms whose bounds together stay below the worst kept
//! score are non-essential: a row holding only those cannot get in, so only the essential terms' postings are
//! walked, and a non-essential term is looked up (galloping forward) only while the row's score could still get in.
//! Before walking a window (up to the nearest end of the essential cursors' current blocks), the block bounds are
//! summed: when even that cannot reach the worst kept score, the whole window is skipped. Common words have small
//! IDFs and so turn non-essential quickly, and a very common word (IDF floored) is mostly skipped block by block,
//! which is what keeps a query mixing common and rare words cheap on a million rows. The result is exact: the same
//! rows and scores an exhaustive scan gives.
//!
//! Scores are summed in query-term order whatever order the terms were visited in, so equal rows get bit-identical
//! scores and ties are broken by key alone (smaller first). The filter is asked only about a row whose score would
//! put it in the current best `k`.

use super::analyzer::query_terms;
use super::bm25::{BOUND_SLACK, LENGTH_TABLE, Norm, drift, idf, saturation};
use super::index::{DEAD, TextIndex};
use super::postings::{BLOCK_SHIFT, Block, Part};
use crate::topk::TopK;

/// The ordinal past every list's end.
const END: u32 = u32::MAX;

/// One search result: the row's key and its BM25 score (higher is better; comparable within one index's results,
/// like FTS5's `-bm25()`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextHit {
    pub key: i64,
    pub score: f64,
}

impl<A: Copy> TextIndex<A> {
    /// The `k` best rows for `query` among those `accept` lets through, best first. `query` is analysed with
    /// [`query_terms`]; a row matches if it holds any term. `accept` is called only for rows that would enter the
    /// best `k` found so far.
    pub fn search(&self, query: &str, k: usize, accept: impl FnMut(i64, &A) -> bool) -> Vec<TextHit> {
        if k == 0 || self.is_empty() {
            return Vec::new();
        }
        let terms: Vec<u32> = query_terms(query).iter().filter_map(|stem| self.vocabulary.find(stem)).collect();
        self.search_terms(&terms, k, accept)
    }

    /// `search` over analysed terms (term numbers, distinct, in query order).
    fn search_terms(&self, terms: &[u32], k: usize, mut accept: impl FnMut(i64, &A) -> bool) -> Vec<TextHit> {
        let rows = self.len() as u64;
        let avg_len = self.live_tokens as f64 / rows as f64;
        let norm = Norm::new(avg_len);
        let drift = drift(avg_len, self.reference_len) * BOUND_SLACK;
        let mut idfs = Vec::with_capacity(terms.len());
        let mut cursors = Vec::with_capacity(terms.len());
        for &term in terms {
            let Some(stats) = self.terms.get(term as usize) else {
                continue;
            };
            if stats.rows == 0 {
                continue;
            }
            let idf = idf(rows, stats.rows);
            let scale = idf * drift;
            let [main, delta] = self.postings.parts(term);
            let bound = scale * f64::from(stats.max_saturation);
            cursors.push(Cursor::new(main, self.postings.blocks(term), delta, term, idfs.len(), scale, bound));
            idfs.push(idf);
        }
        cursors.sort_by(|a, b| a.bound.total_cmp(&b.bound));
        // bounds_below[i]: the most cursors 0..i together can add to a row.
        let mut bounds_below = Vec::with_capacity(cursors.len() + 1);
        bounds_below.push(0.0);
        for (i, cursor) in cursors.iter().enumerate() {
            bounds_below.push(bounds_below[i] + cursor.bound);
        }

        let mut top = TopK::new(k);
        // Cursors before this one are non-essential.
        let mut essential = 0;
        // The window up to this ordinal was checked against this floor and could not be skipped.
        let mut checked = (0u32, f64::NEG_INFINITY);
        // For the first essential term: the longest row that can still get in, by count byte, and for which floor
        // and essential cursor that was worked out.
        let mut max_lens = [0u32; LENGTH_TABLE];
        let mut lengths_for = (f64::NAN, usize::MAX);
        let mut contributions = vec![0.0f64; idfs.len()];
        let mut touched: Vec<usize> = Vec::with_capacity(idfs.len());
        while essential < cursors.len() {
            let doc = cursors[essential..].iter().map(|cursor| cursor.doc).min().unwrap_or(END);
            if doc == END {
                break;
            }
            let floor = top.floor();
            if let Some(floor) = floor
                && (doc > checked.0 || floor != checked.1)
            {
                let window_end = cursors[essential..].iter().map(Cursor::block_last).min().unwrap_or(END);
                let mut bound = bounds_below[essential];
                for cursor in &cursors[essential..] {
                    if cursor.doc <= window_end {
                        bound += cursor.block_bound();
                    }
                }
                if bound < floor {
                    if window_end == END {
                        break;
                    }
                    for cursor in &mut cursors[essential..] {
                        cursor.seek(window_end + 1);
                    }
                    continue;
                }
                checked = (window_end, floor);
            }
            let mut doc = doc;
            if let Some(floor) = floor {
                // Rows before any other essential term's next row hold only the first essential term (and maybe
                // non-essential ones): skip those whose length and count rule them out without scoring them.
                let others = cursors[essential + 1..].iter().map(|cursor| cursor.doc).min().unwrap_or(END);
                let lead = &mut cursors[essential];
                if lead.doc < others {
                    if lengths_for != (floor, essential) {
                        let need = (floor - bounds_below[essential]) / idfs[lead.slot];
                        norm.fill_max_lens(need, &mut max_lens);
                        lengths_for = (floor, essential);
                    }
                    lead.skip_rows_too_long(others, &self.lens, &max_lens);
                    doc = lead.doc.min(others);
                    if doc == END {
                        break;
                    }
                }
            }
            let len = self.lens.get(doc as usize).copied().unwrap_or(DEAD);
            if len == DEAD {
                for cursor in &mut cursors[essential..] {
                    if cursor.doc == doc {
                        cursor.advance();
                    }
                }
                continue;
            }
            let norm = norm.of(len);
            let mut partial = 0.0;
            touched.clear();
            for cursor in &mut cursors[essential..] {
                if cursor.doc == doc {
                    let score = idfs[cursor.slot] * saturation(self.count(cursor, doc), norm);
                    contributions[cursor.slot] = score;
                    touched.push(cursor.slot);
                    partial += score;
                    cursor.advance();
                }
            }
            let mut pruned = false;
            for i in (0..essential).rev() {
                if floor.is_some_and(|floor| partial + bounds_below[i + 1] < floor) {
                    pruned = true;
                    break;
                }
                let cursor = &mut cursors[i];
                cursor.seek(doc);
                if cursor.doc == doc {
                    let score = idfs[cursor.slot] * saturation(self.count(cursor, doc), norm);
                    contributions[cursor.slot] = score;
                    touched.push(cursor.slot);
                    partial += score;
                }
            }
            if pruned {
                continue;
            }
            let score = if touched.len() == 1 {
                partial
            } else {
                touched.sort_unstable();
                touched.iter().fold(0.0, |sum, &slot| sum + contributions[slot])
            };
            let (Some(key), Some(attr)) = (self.keys.key(doc), self.attrs.get(doc as usize)) else {
                continue;
            };
            if top.admits(key, score) && accept(key, attr) {
                top.offer(key, score);
                if let Some(floor) = top.floor() {
                    while essential < cursors.len() && bounds_below[essential + 1] < floor {
                        essential += 1;
                    }
                }
            }
        }
        top.into_sorted().map(|(key, score)| TextHit { key, score }).collect()
    }

    /// The count of `cursor`'s term in row `doc`, where the cursor stands.
    #[inline]
    fn count(&self, cursor: &Cursor<'_>, doc: u32) -> u32 {
        self.postings.count(cursor.term, doc, cursor.count_byte())
    }
}

/// A position in one term's postings (main part, then delta part).
struct Cursor<'a> {
    parts: [Part<'a>; 2],
    /// The main part's blocks (none for short lists, which count as one block bounded by `bound`, as does the
    /// delta part).
    blocks: &'a [Block],
    part: usize,
    pos: usize,
    /// The ordinal at the position, `END` once past the last.
    doc: u32,
    term: u32,
    /// The term's place in the query, where its contribution is summed.
    slot: usize,
    /// What turns a saturation bound into a score bound: the IDF, the drift factor and the slack.
    scale: f64,
    /// The most the term adds to any row's score.
    bound: f64,
}

impl<'a> Cursor<'a> {
    fn new(
        main: Part<'a>,
        blocks: &'a [Block],
        delta: Part<'a>,
        term: u32,
        slot: usize,
        scale: f64,
        bound: f64,
    ) -> Self {
        let mut cursor = Self { parts: [main, delta], blocks, part: 0, pos: 0, doc: END, term, slot, scale, bound };
        cursor.settle();
        cursor
    }

    #[inline]
    fn count_byte(&self) -> u8 {
        self.parts.get(self.part).and_then(|part| part.counts.get(self.pos)).copied().unwrap_or(0)
    }

    /// The block the cursor stands in, when it has one.
    #[inline]
    fn block(&self) -> Option<&Block> {
        if self.part == 0 { self.blocks.get(self.pos >> BLOCK_SHIFT) } else { None }
    }

    /// The last ordinal of the block (or part) the cursor stands in.
    #[inline]
    fn block_last(&self) -> u32 {
        match self.block() {
            Some(block) => block.last,
            None => self.parts.get(self.part).and_then(|part| part.ords.last()).copied().unwrap_or(END),
        }
    }

    /// The most the rest of the block (or part) the cursor stands in adds to a row's score.
    #[inline]
    fn block_bound(&self) -> f64 {
        match self.block() {
            Some(block) => self.scale * f64::from(block.max_saturation),
            None => self.bound,
        }
    }

    #[inline]
    fn advance(&mut self) {
        self.pos += 1;
        self.settle();
    }

    /// Moves to the next part while the current one is exhausted, and reads the ordinal there.
    #[inline]
    fn settle(&mut self) {
        loop {
            let Some(part) = self.parts.get(self.part) else {
                self.doc = END;
                return;
            };
            if let Some(&doc) = part.ords.get(self.pos) {
                self.doc = doc;
                return;
            }
            self.part += 1;
            self.pos = 0;
        }
    }

    /// Moves past the postings before `limit` whose rows are longer than `max_lens[count]` (the last entry for
    /// larger counts; removed rows, of length `DEAD`, always are), stopping at the first other one.
    fn skip_rows_too_long(&mut self, limit: u32, lens: &[u32], max_lens: &[u32; LENGTH_TABLE]) {
        while let Some(part) = self.parts.get(self.part) {
            let mut pos = self.pos;
            while let (Some(&ord), Some(&byte)) = (part.ords.get(pos), part.counts.get(pos)) {
                let max_len = max_lens[(byte as usize).min(LENGTH_TABLE - 1)];
                if ord >= limit || lens.get(ord as usize).is_some_and(|&len| len <= max_len) {
                    self.pos = pos;
                    self.doc = ord;
                    return;
                }
                pos += 1;
            }
            self.pos = pos;
            self.settle();
        }
    }

    /// Moves to the first posting at or after `target`.
    fn seek(&mut self, target: u32) {
        while self.doc < target {
            let Some(part) = self.parts.get(self.part) else {
                self.doc = END;
                return;
            };
            if part.ords.last().is_some_and(|&last| last >= target) {
                self.pos = gallop(part.ords, self.pos, target);
            } else {
                self.pos = part.ords.len();
            }
            self.settle();
        }
    }
}

/// The first index at or after `from` whose ordinal is at least `target` (or the length): doubling steps, then a
/// binary search in the last step.
#[inline]
fn gallop(ords: &[u32], from: usize, target: u32) -> usize {
    let mut low = from;
    let mut high = from;
    let mut step = 1;
    while let Some(&ord) = ords.get(high) {
        if ord >= target {
            break;
        }
        low = high + 1;
        high = high.saturating_add(step);
        step = step.saturating_mul(2);
    }
    let high = high.min(ords.len());
    low + ords.get(low..high).map_or(0, |run| run.partition_point(|&ord| ord < target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gallop_finds_the_first_at_or_after() {
        let ords: Vec<u32> = (0..1000).map(|i| i * 3).collect();
        for from in [0, 1, 17, 500, 999, 1000] {
            for target in [0, 1, 2, 3, 50, 1500, 2997, 2998, 5000] {
                let expected = (from..ords.len()).find(|&i| ords[i] >= target).unwrap_or(ords.len());
                assert_eq!(gallop(&ords, from, target), expected, "from {from} target {target}");
            }
        }
        assert_eq!(gallop(&[], 0, 5), 0);
    }
}
