//! `Forward`: each row's distinct terms with their counts, compressed, by row ordinal.
//!
//! The postings say which rows hold a term; this says which terms a row holds. Removing a row needs it (to lower
//! each of its terms' row counts, which BM25's IDF reads), and so does rebuilding the postings, which reads every
//! live row here and needs nothing else. A row is its `(term, count)` pairs in ascending term order, each the gap
//! from the previous term shifted left by one with the low bit set when the count is above one, then (only then)
//! the count, as LEB128 varints: most counts are one, so a pair takes about two bytes.

/// Rows' term lists, end to end.
#[derive(Default)]
pub(super) struct Forward {
    bytes: Vec<u8>,
    /// Where each row's bytes end; row `i` starts where row `i - 1` ends.
    ends: Vec<usize>,
}

impl Forward {
    /// Appends a row: its distinct terms in ascending order, each with its count.
    pub(super) fn push(&mut self, pairs: &[(u32, u32)]) {
        let mut previous = 0;
        for &(term, count) in pairs {
            let gap = u64::from(term.wrapping_sub(previous));
            write_varint(&mut self.bytes, gap << 1 | u64::from(count != 1));
            if count != 1 {
                write_varint(&mut self.bytes, u64::from(count));
            }
            previous = term;
        }
        self.ends.push(self.bytes.len());
    }

    /// Appends row `ord` of `other` as it is.
    pub(super) fn push_copy(&mut self, other: &Forward, ord: u32) {
        self.bytes.extend_from_slice(other.raw(ord));
        self.ends.push(self.bytes.len());
    }

    /// Row `ord`'s `(term, count)` pairs, in ascending term order (none for a row that does not exist).
    pub(super) fn row(&self, ord: u32) -> Pairs<'_> {
        Pairs { bytes: self.raw(ord), term: 0 }
    }

    fn raw(&self, ord: u32) -> &[u8] {
        let ord = ord as usize;
        let start = if ord == 0 { 0 } else { self.ends.get(ord - 1).copied().unwrap_or(0) };
        let end = self.ends.get(ord).copied().unwrap_or(start);
        self.bytes.get(start..end).unwrap_or(&[])
    }

    /// Room for `rows` rows of about `bytes` bytes in all.
    pub(super) fn with_capacity(rows: usize, bytes: usize) -> Self {
        Self { bytes: Vec::with_capacity(bytes), ends: Vec::with_capacity(rows) }
    }

    /// Gives back spare capacity when it is more than an eighth of what is used.
    pub(super) fn shrink(&mut self) {
        if self.bytes.capacity() - self.bytes.len() > self.bytes.len() / 8 {
            self.bytes.shrink_to_fit();
        }
        if self.ends.capacity() - self.ends.len() > self.ends.len() / 8 {
            self.ends.shrink_to_fit();
        }
    }

    /// Room for `rows` more rows.
    pub(super) fn reserve_rows(&mut self, rows: usize) {
        self.ends.reserve(rows);
    }

    /// Bytes of row `ord`.
    pub(super) fn row_bytes(&self, ord: u32) -> usize {
        self.raw(ord).len()
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * size_of::<usize>()
    }
}

/// Iterator over one row's pairs.
pub(super) struct Pairs<'a> {
    bytes: &'a [u8],
    term: u32,
}

impl Iterator for Pairs<'_> {
    type Item = (u32, u32);

    #[inline]
    fn next(&mut self) -> Option<(u32, u32)> {
        let head = read_varint(&mut self.bytes)?;
        let count = if head & 1 == 1 { u32::try_from(read_varint(&mut self.bytes)?).unwrap_or(u32::MAX) } else { 1 };
        self.term = self.term.wrapping_add((head >> 1) as u32);
        Some((self.term, count))
    }
}

#[inline]
fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[inline]
fn read_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    let mut shift = 0;
    while let Some((&byte, rest)) = bytes.split_first() {
        *bytes = rest;
        value |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
        if byte < 0x80 {
            return Some(value);
        }
        shift += 7;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let rows: Vec<Vec<(u32, u32)>> =
            vec![vec![(0, 1), (5, 2), (300, 1), (70_000, 400), (u32::MAX, u32::MAX)], vec![], vec![(7, 1)]];
        let mut forward = Forward::default();
        for row in &rows {
            forward.push(row);
        }
        let mut copy = Forward::default();
        copy.push_copy(&forward, 2);
        copy.push_copy(&forward, 0);
        for (ord, row) in rows.iter().enumerate() {
            assert_eq!(&forward.row(ord as u32).collect::<Vec<_>>(), row);
        }
        assert_eq!(copy.row(0).collect::<Vec<_>>(), rows[2]);
        assert_eq!(copy.row(1).collect::<Vec<_>>(), rows[0]);
        assert_eq!(forward.row(9).count(), 0);
    }
}
