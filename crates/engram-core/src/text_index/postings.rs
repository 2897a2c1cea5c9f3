//! `Postings`: for each term, the rows holding it (ascending ordinals) and how often it occurs in each.
//!
//! Two parts. The main part is one flat array for all terms (term `t`'s postings are a range of it, found through
//! `offsets`), built in one go by a `Builder`: five bytes a posting, nothing per term but an offset. Rows inserted
//! since then go to the delta part, a small list per term they hold; their ordinals are all above the main part's,
//! so a term's main postings followed by its delta postings are still in ascending order. The index rebuilds the
//! main part, delta included, once the delta grows large or removed rows pile up. Counts are one byte; a count of
//! 255 or more is kept exactly in `overflow`, which only huge texts ever use.
//!
//! A term's main postings of [`BLOCK_LEN`] or more are cut into blocks of that many, each with its last ordinal and
//! the largest saturation of its postings (at the reference average length), so a search can skip blocks whose
//! rows cannot reach the best `k`.

use hashbrown::HashMap;

use super::bm25::{Norm, ceil_f32, saturation};

/// A count byte meaning "look the count up in `overflow`".
const COUNT_OVERFLOW: u8 = u8::MAX;
/// log2 of the postings per block.
pub(super) const BLOCK_SHIFT: usize = 7;
/// Postings per block.
pub(super) const BLOCK_LEN: usize = 1 << BLOCK_SHIFT;

/// What a block of main postings can add to a row's score, before the IDF.
#[derive(Debug, Clone, Copy)]
pub(super) struct Block {
    /// The block's last ordinal.
    pub(super) last: u32,
    /// The largest saturation of its postings at the reference average length, rounded up.
    pub(super) max_saturation: f32,
}

#[derive(Default)]
pub(super) struct Postings {
    /// Term `t`'s main postings are `ords[offsets[t]..offsets[t + 1]]` (none for terms numbered since).
    offsets: Vec<usize>,
    ords: Vec<u32>,
    counts: Vec<u8>,
    /// Blocks of terms with at least `BLOCK_LEN` main postings.
    blocks: HashMap<u32, Box<[Block]>>,
    delta: HashMap<u32, List>,
    delta_len: usize,
    /// Counts of 255 and more, by (term, ordinal).
    overflow: HashMap<(u32, u32), u32>,
}

#[derive(Default)]
struct List {
    ords: Vec<u32>,
    counts: Vec<u8>,
}

/// A run of postings: ordinals ascending, each with its count byte.
#[derive(Clone, Copy)]
pub(super) struct Part<'a> {
    pub(super) ords: &'a [u32],
    pub(super) counts: &'a [u8],
}

impl Postings {
    /// The blocks of term `term`'s main postings (none when it has fewer than `BLOCK_LEN`).
    pub(super) fn blocks(&self, term: u32) -> &[Block] {
        self.blocks.get(&term).map_or(&[], |blocks| blocks)
    }

    /// Term `term`'s postings: the main part's, then the delta's.
    pub(super) fn parts(&self, term: u32) -> [Part<'_>; 2] {
        let t = term as usize;
        let main = match (self.offsets.get(t), self.offsets.get(t + 1)) {
            (Some(&start), Some(&end)) => Part {
                ords: self.ords.get(start..end).unwrap_or(&[]),
                counts: self.counts.get(start..end).unwrap_or(&[]),
            },
            _ => Part { ords: &[], counts: &[] },
        };
        let delta = match self.delta.get(&term) {
            Some(list) => Part { ords: &list.ords, counts: &list.counts },
            None => Part { ords: &[], counts: &[] },
        };
        [main, delta]
    }

    /// The exact count behind a count byte read from `parts`.
    #[inline]
    pub(super) fn count(&self, term: u32, ord: u32, byte: u8) -> u32 {
        if byte == COUNT_OVERFLOW {
            self.overflow.get(&(term, ord)).copied().unwrap_or(u32::from(COUNT_OVERFLOW))
        } else {
            u32::from(byte)
        }
    }

    /// Adds a posting to the delta part. `ord` must be above every ordinal already held for `term`.
    pub(super) fn push(&mut self, term: u32, ord: u32, count: u32) {
        let list = self.delta.entry(term).or_default();
        list.ords.push(ord);
        list.counts.push(count_byte(&mut self.overflow, term, ord, count));
        self.delta_len += 1;
    }

    /// Postings in the main part, including removed rows' until the next rebuild.
    pub(super) fn main_len(&self) -> usize {
        self.ords.len()
    }

    /// Postings in the delta part.
    pub(super) fn delta_len(&self) -> usize {
        self.delta_len
    }

    pub(super) fn memory_bytes(&self) -> usize {
        let lists: usize =
            self.delta.values().map(|list| list.ords.capacity() * size_of::<u32>() + list.counts.capacity()).sum();
        self.offsets.capacity() * size_of::<usize>()
            + self.ords.capacity() * size_of::<u32>()
            + self.counts.capacity()
            + self.blocks.allocation_size()
            + self.blocks.values().map(|blocks| blocks.len() * size_of::<Block>()).sum::<usize>()
            + self.delta.allocation_size()
            + lists
            + self.overflow.allocation_size()
    }
}

/// The count byte for `count`, recording a large count in `overflow`.
#[inline]
fn count_byte(overflow: &mut HashMap<(u32, u32), u32>, term: u32, ord: u32, count: u32) -> u8 {
    match u8::try_from(count) {
        Ok(byte) if byte < COUNT_OVERFLOW => byte,
        _ => overflowed(overflow, term, ord, count),
    }
}

#[cold]
#[inline(never)]
fn overflowed(overflow: &mut HashMap<(u32, u32), u32>, term: u32, ord: u32, count: u32) -> u8 {
    overflow.insert((term, ord), count);
    COUNT_OVERFLOW
}

/// Builds a main part (and an empty delta) from every row's pairs, given in ascending ordinal order.
pub(super) struct Builder {
    postings: Postings,
    /// Where each term's next posting goes.
    next: Vec<usize>,
}

impl Builder {
    /// A builder for terms whose row counts are `rows_per_term` (indexed by term): it places exactly that many
    /// postings per term.
    pub(super) fn new(rows_per_term: &[u32]) -> Self {
        let mut offsets = Vec::with_capacity(rows_per_term.len() + 1);
        let mut total = 0usize;
        offsets.push(0);
        for &rows in rows_per_term {
            total += rows as usize;
            offsets.push(total);
        }
        let next = offsets[..rows_per_term.len()].to_vec();
        let postings = Postings { offsets, ords: vec![0; total], counts: vec![0; total], ..Postings::default() };
        Self { postings, next }
    }

    /// Places one posting; calls for one term must come in ascending ordinal order.
    #[inline]
    pub(super) fn place(&mut self, term: u32, ord: u32, count: u32) {
        let t = term as usize;
        let (Some(next), Some(&end)) = (self.next.get_mut(t), self.postings.offsets.get(t + 1)) else {
            return;
        };
        debug_assert!(*next < end, "more postings for term {term} than its row count");
        if *next >= end {
            return;
        }
        let slot = *next;
        *next += 1;
        let postings = &mut self.postings;
        if let (Some(ord_slot), Some(count_slot)) = (postings.ords.get_mut(slot), postings.counts.get_mut(slot)) {
            *ord_slot = ord;
            *count_slot = count_byte(&mut postings.overflow, term, ord, count);
        }
    }

    /// The main part, with blocks bounded at average length `avg_len` (`lens` are the rows' lengths by ordinal),
    /// and each term's largest saturation (rounded up).
    pub(super) fn finish(self, lens: &[u32], avg_len: f64) -> (Postings, Vec<f32>) {
        debug_assert!(
            self.next.iter().zip(self.postings.offsets.iter().skip(1)).all(|(next, end)| next == end),
            "fewer postings than the row counts promised"
        );
        let mut postings = self.postings;
        let norm = Norm::new(avg_len);
        let mut max_saturations = Vec::with_capacity(postings.offsets.len().saturating_sub(1));
        let mut blocks = Vec::new();
        for (term, range) in postings.offsets.windows(2).enumerate() {
            let (start, end) = (range[0], range[1]);
            let ords = postings.ords.get(start..end).unwrap_or(&[]);
            let counts = postings.counts.get(start..end).unwrap_or(&[]);
            blocks.clear();
            let mut term_max = 0.0f32;
            for (ords, counts) in ords.chunks(BLOCK_LEN).zip(counts.chunks(BLOCK_LEN)) {
                let max = ords.iter().zip(counts).fold(0.0f64, |max, (&ord, &byte)| {
                    let count = postings.count(term as u32, ord, byte);
                    let len = lens.get(ord as usize).copied().unwrap_or(0);
                    max.max(saturation(count, norm.of(len)))
                });
                let max_saturation = ceil_f32(max);
                term_max = term_max.max(max_saturation);
                blocks.push(Block { last: ords.last().copied().unwrap_or(0), max_saturation });
            }
            max_saturations.push(term_max);
            if ords.len() >= BLOCK_LEN {
                postings.blocks.insert(term as u32, blocks.as_slice().into());
            }
        }
        (postings, max_saturations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_then_delta_in_order_with_exact_counts() {
        let mut builder = Builder::new(&[2, 0, 1]);
        builder.place(0, 3, 1);
        builder.place(2, 3, 300);
        builder.place(0, 7, 2);
        let (mut postings, max_saturations) = builder.finish(&[1; 11], 1.0);
        assert_eq!(max_saturations, vec![ceil_f32(saturation(2, 1.2)), 0.0, ceil_f32(saturation(300, 1.2))]);
        postings.push(0, 9, 1);
        postings.push(1, 9, 255);
        postings.push(5, 10, 4);
        let all = |postings: &Postings, term: u32| -> Vec<(u32, u32)> {
            postings
                .parts(term)
                .iter()
                .flat_map(|part| part.ords.iter().zip(part.counts))
                .map(|(&ord, &byte)| (ord, postings.count(term, ord, byte)))
                .collect()
        };
        assert_eq!(all(&postings, 0), vec![(3, 1), (7, 2), (9, 1)]);
        assert_eq!(all(&postings, 1), vec![(9, 255)]);
        assert_eq!(all(&postings, 2), vec![(3, 300)]);
        assert_eq!(all(&postings, 5), vec![(10, 4)]);
        assert_eq!(all(&postings, 6), vec![]);
        assert_eq!((postings.main_len(), postings.delta_len()), (3, 3));
    }

    #[test]
    fn long_lists_get_blocks_bounding_their_postings() {
        let rows = 1_000u32;
        let lens: Vec<u32> = (0..rows).map(|ord| 1 + ord % 50).collect();
        let mut builder = Builder::new(&[rows, 10]);
        for ord in 0..rows {
            builder.place(0, ord, 1 + ord % 3);
            if ord < 10 {
                builder.place(1, ord, 1);
            }
        }
        let (postings, _) = builder.finish(&lens, 20.0);
        assert!(postings.blocks(1).is_empty());
        let blocks = postings.blocks(0);
        assert_eq!(blocks.len(), (rows as usize).div_ceil(BLOCK_LEN));
        for (i, block) in blocks.iter().enumerate() {
            let ords = (i * BLOCK_LEN) as u32..((i + 1) * BLOCK_LEN).min(rows as usize) as u32;
            assert_eq!(block.last, ords.end - 1);
            let max =
                ords.map(|ord| saturation(1 + ord % 3, Norm::new(20.0).of(lens[ord as usize]))).fold(0.0, f64::max);
            assert!(f64::from(block.max_saturation) >= max && f64::from(block.max_saturation) < max * 1.000_001);
        }
    }
}
