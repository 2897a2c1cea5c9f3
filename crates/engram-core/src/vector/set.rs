//! `VectorSet`: the exact data of an index, rows of one fixed dimension stored back to back in one `Vec<f32>`,
//! each with a key, a small attribute and a one-byte-per-component code of the row (see `quant`).
//!
//! Rows are normalised on the way in, so a dot product is a cosine similarity. Removal swaps the last row into the
//! hole, keeping the rows contiguous; a key→slot map finds rows by key. The attribute (the store keeps a timestamp
//! and a role there) lets a filter run inside the scan, before any score is computed. The scans live in `scan`.

use std::collections::HashMap;

use super::VectorError;
use super::distance::norm_f64;
use super::quant::{MAX_CODED_DIM, quantize_into};

/// Largest number of rows (slots and graph nodes are `u32`, with the top bit reserved).
pub const MAX_ROWS: usize = (u32::MAX >> 1) as usize;

/// Vectors of one dimension with their keys and attributes, searchable exactly.
#[derive(Debug, Clone)]
pub struct VectorSet<A> {
    pub(crate) dim: usize,
    pub(crate) data: Vec<f32>,
    /// `dim` codes per row, empty when the dimension is too large for codes.
    pub(crate) codes: Vec<u8>,
    /// Per row: the scale of its codes and the bound on what they lose.
    pub(crate) scales: Vec<f32>,
    pub(crate) errors: Vec<f32>,
    pub(crate) keys: Vec<i64>,
    pub(crate) attrs: Vec<A>,
    slots: HashMap<i64, usize>,
}

/// Writes `vector` scaled to unit length into `out`, after checking its dimension and values.
pub(crate) fn normalized_into(dim: usize, vector: &[f32], out: &mut [f32]) -> Result<(), VectorError> {
    if vector.len() != dim {
        return Err(VectorError::DimensionMismatch { expected: dim, got: vector.len() });
    }
    if let Some(position) = vector.iter().position(|x| !x.is_finite()) {
        return Err(VectorError::NonFinite { position });
    }
    let length = norm_f64(vector);
    if length == 0.0 {
        return Err(VectorError::ZeroVector);
    }
    let inverse = 1.0 / length;
    for (target, x) in out.iter_mut().zip(vector) {
        *target = (f64::from(*x) * inverse) as f32;
    }
    Ok(())
}

/// A normalised copy of `vector`, checked against `dim`.
pub(crate) fn normalized(dim: usize, vector: &[f32]) -> Result<Vec<f32>, VectorError> {
    let mut out = vec![0.0; vector.len()];
    normalized_into(dim, vector, &mut out)?;
    Ok(out)
}

impl<A: Copy> VectorSet<A> {
    /// An empty set of `dim`-dimensional vectors. A set of dimension 0 accepts no vector (all are zero-length).
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            data: Vec::new(),
            codes: Vec::new(),
            scales: Vec::new(),
            errors: Vec::new(),
            keys: Vec::new(),
            attrs: Vec::new(),
            slots: HashMap::new(),
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn contains(&self, key: i64) -> bool {
        self.slots.contains_key(&key)
    }

    /// Whether rows carry codes (dimensions up to 16,384).
    pub(crate) fn coded(&self) -> bool {
        self.dim <= MAX_CODED_DIM
    }

    /// The stored (normalised) vector and attribute of `key`.
    pub fn get(&self, key: i64) -> Option<(&[f32], A)> {
        self.slots.get(&key).map(|&slot| (self.row(slot), self.attrs[slot]))
    }

    /// Every row as (key, stored normalised vector, attribute), in slot order (which removals shuffle).
    pub fn iter(&self) -> impl Iterator<Item = (i64, &[f32], A)> + '_ {
        self.keys.iter().zip(&self.attrs).enumerate().map(|(slot, (&key, &attr))| (key, self.row(slot), attr))
    }

    /// Stores `vector` (normalised) under `key`, replacing the row if the key is already present.
    pub fn push(&mut self, key: i64, vector: &[f32], attr: A) -> Result<(), VectorError> {
        if let Some(&slot) = self.slots.get(&key) {
            let row = normalized(self.dim, vector)?;
            self.data[slot * self.dim..(slot + 1) * self.dim].copy_from_slice(&row);
            self.attrs[slot] = attr;
            self.code_row(slot);
            return Ok(());
        }
        if self.len() >= MAX_ROWS {
            return Err(VectorError::TooManyVectors { max: MAX_ROWS });
        }
        let start = self.data.len();
        self.data.resize(start + self.dim, 0.0);
        if let Err(error) = normalized_into(self.dim, vector, &mut self.data[start..]) {
            self.data.truncate(start);
            return Err(error);
        }
        let slot = self.keys.len();
        self.slots.insert(key, slot);
        self.keys.push(key);
        self.attrs.push(attr);
        if self.coded() {
            self.codes.resize(self.codes.len() + self.dim, 0);
            self.scales.push(0.0);
            self.errors.push(0.0);
            self.code_row(slot);
        }
        Ok(())
    }

    /// Recomputes the codes of `slot` from its row.
    fn code_row(&mut self, slot: usize) {
        if !self.coded() {
            return;
        }
        let range = slot * self.dim..(slot + 1) * self.dim;
        let (scale, error) = quantize_into(&self.data[range.clone()], &mut self.codes[range]);
        self.scales[slot] = scale;
        self.errors[slot] = error;
    }

    /// Removes `key`'s row, moving the last row into its slot. Returns whether the key was present.
    pub fn remove(&mut self, key: i64) -> bool {
        let Some(slot) = self.slots.remove(&key) else {
            return false;
        };
        let last = self.keys.len() - 1;
        if slot != last {
            self.data.copy_within(last * self.dim..(last + 1) * self.dim, slot * self.dim);
            if self.coded() {
                self.codes.copy_within(last * self.dim..(last + 1) * self.dim, slot * self.dim);
            }
            let moved = self.keys[last];
            self.slots.insert(moved, slot);
        }
        self.keys.swap_remove(slot);
        self.attrs.swap_remove(slot);
        self.data.truncate(last * self.dim);
        if self.coded() {
            self.scales.swap_remove(slot);
            self.errors.swap_remove(slot);
            self.codes.truncate(last * self.dim);
        }
        true
    }

    /// Bytes held by the rows, codes, keys, attributes and key map (capacity, not just length).
    pub fn memory_bytes(&self) -> usize {
        self.data.capacity() * size_of::<f32>()
            + self.codes.capacity()
            + (self.scales.capacity() + self.errors.capacity()) * size_of::<f32>()
            + self.keys.capacity() * size_of::<i64>()
            + self.attrs.capacity() * size_of::<A>()
            + self.slots.capacity() * (size_of::<i64>() + size_of::<usize>() + 1)
    }

    pub(crate) fn slot_of(&self, key: i64) -> Option<usize> {
        self.slots.get(&key).copied()
    }

    /// The row in `slot` (empty if there is no such slot).
    pub(crate) fn row(&self, slot: usize) -> &[f32] {
        self.data.get(slot * self.dim..(slot + 1) * self.dim).unwrap_or(&[])
    }

    /// The codes and code scale of `slot` (empty if there is no such slot or the set has no codes).
    #[inline]
    pub(crate) fn code(&self, slot: usize) -> (&[u8], f32) {
        (
            self.codes.get(slot * self.dim..(slot + 1) * self.dim).unwrap_or(&[]),
            self.scales.get(slot).copied().unwrap_or(0.0),
        )
    }

    pub(crate) fn key_at(&self, slot: usize) -> i64 {
        self.keys[slot]
    }

    pub(crate) fn attr_at(&self, slot: usize) -> &A {
        &self.attrs[slot]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::distance::dot;

    #[test]
    fn pushing_an_existing_key_replaces_its_row_and_codes() {
        let mut set = VectorSet::new(3);
        set.push(1, &[1.0, 0.0, 0.0], 'a').unwrap();
        set.push(2, &[0.0, 1.0, 0.0], 'b').unwrap();
        set.push(1, &[0.0, 0.0, 2.0], 'c').unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.get(1), Some((&[0.0, 0.0, 1.0][..], 'c')));
        assert_eq!(set.code(set.slot_of(1).unwrap()).0, &[128, 128, 255]);
    }

    #[test]
    fn removal_moves_the_last_row_with_its_codes() {
        let mut set = VectorSet::new(2);
        set.push(10, &[1.0, 0.0], ()).unwrap();
        set.push(20, &[0.0, 1.0], ()).unwrap();
        set.push(30, &[-1.0, 0.0], ()).unwrap();
        assert!(set.remove(10));
        assert!(!set.remove(10));
        let slot = set.slot_of(30).unwrap();
        assert_eq!(slot, 0);
        assert_eq!(set.row(slot), &[-1.0, 0.0]);
        assert_eq!(set.code(slot).0, &[1, 128]);
        assert_eq!(set.keys, vec![30, 20]);
        assert_eq!(set.scales.len(), 2);
    }

    #[test]
    fn bad_vectors_are_refused_and_leave_the_set_unchanged() {
        let mut set = VectorSet::new(3);
        set.push(1, &[1.0, 2.0, 3.0], ()).unwrap();
        assert_eq!(set.push(2, &[1.0, 2.0], ()), Err(VectorError::DimensionMismatch { expected: 3, got: 2 }));
        assert_eq!(set.push(2, &[1.0, f32::NAN, 0.0], ()), Err(VectorError::NonFinite { position: 1 }));
        assert_eq!(set.push(2, &[0.0, 0.0, f32::INFINITY], ()), Err(VectorError::NonFinite { position: 2 }));
        assert_eq!(set.push(2, &[0.0; 3], ()), Err(VectorError::ZeroVector));
        assert_eq!(set.push(1, &[0.0; 3], ()), Err(VectorError::ZeroVector));
        assert_eq!(set.len(), 1);
        assert!(!set.contains(2));
        let (row, ()) = set.get(1).unwrap();
        assert!((dot(row, row) - 1.0).abs() < 1e-6);
        assert_eq!(set.data.len(), 3);
        assert_eq!(set.codes.len(), 3);
    }

    #[test]
    fn huge_components_normalise_without_overflow() {
        let mut set = VectorSet::new(2);
        set.push(1, &[3e37, 4e37], ()).unwrap();
        let (row, ()) = set.get(1).unwrap();
        assert!((row[0] - 0.6).abs() < 1e-6 && (row[1] - 0.8).abs() < 1e-6);
    }
}
