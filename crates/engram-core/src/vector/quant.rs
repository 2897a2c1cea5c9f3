//! Scalar quantisation of unit vectors to one byte per component, with a bound on the error it causes.
//!
//! Every row keeps, beside its `f32` values, one code per component (an integer in -127..=127, scaled so the
//! largest component maps to ±127, stored offset by 128 as a `u8`), that scale, and the Euclidean length of what
//! the codes lose. A code is a quarter of the row's bytes and its dot product runs on 16-bit integers, so scanning
//! codes is two to four times faster than scanning `f32` rows, which are limited by memory bandwidth. Codes alone give approximate scores; `bound` turns them into an interval
//! that provably holds the `f32` score, which lets the exact scan skip every row that cannot reach the top `k`
//! and compute the real score only for the few that can. The HNSW graph walks on code scores and re-ranks its
//! final candidates with `f32` scores.

/// Largest dimension the codes serve; beyond it an `i32` code sum could overflow and scans use `f32` alone.
pub(crate) const MAX_CODED_DIM: usize = 1 << 14;

/// Codes are stored offset by this, as `u8`, so widening them is a zero extension (one instruction, where a sign
/// extension takes two); `Probe` subtracts the offset once per dot product.
const OFFSET: i32 = 128;

/// Lanes per step of the integer dot product.
const LANES: usize = 16;

/// `Σ wide[i] * codes[i]` (exact: integers, no rounding).
// Never inlined: inside larger loops (the graph walk) LLVM kept the accumulators on the stack and scalarised the
// loop; as a function of its own it is vectorised (widening multiply-adds), and the call costs little.
#[inline(never)]
pub(crate) fn dot_wide(wide: &[i16], codes: &[u8]) -> i32 {
    let len = wide.len().min(codes.len());
    let (a_blocks, a_tail) = wide[..len].as_chunks::<LANES>();
    let (b_blocks, b_tail) = codes[..len].as_chunks::<LANES>();
    let mut sums = [0i32; LANES];
    for (x, y) in a_blocks.iter().zip(b_blocks) {
        for lane in 0..LANES {
            sums[lane] += i32::from(x[lane]) * i32::from(y[lane]);
        }
    }
    let mut tail = 0i32;
    for (x, y) in a_tail.iter().zip(b_tail) {
        tail += i32::from(*x) * i32::from(*y);
    }
    sums.iter().sum::<i32>() + tail
}

/// Writes the codes of `vector` into `codes`; returns the scale and an upper bound on the length of the error
/// `vector - scale * (codes - 128)`.
pub(crate) fn quantize_into(vector: &[f32], codes: &mut [u8]) -> (f32, f32) {
    let largest = vector.iter().fold(0.0f32, |largest, x| largest.max(x.abs()));
    if largest == 0.0 || !largest.is_finite() {
        codes.iter_mut().for_each(|code| *code = OFFSET as u8);
        return (0.0, (super::distance::norm_f64(vector) * (1.0 + 1e-6)) as f32);
    }
    let scale = largest / 127.0;
    let mut error = 0.0f64;
    for (code, x) in codes.iter_mut().zip(vector) {
        let rounded = (x / scale).round().clamp(-127.0, 127.0);
        *code = (rounded as i32 + OFFSET) as u8;
        let lost = f64::from(*x) - f64::from(scale) * f64::from(rounded);
        error += lost * lost;
    }
    // Rounded up, so the bound stays a bound after the cast to f32.
    (scale, (error.sqrt() * (1.0 + 1e-6) + 1e-12) as f32)
}

/// One side of code dot products, widened to `i16` once so each product with a stored code is cheap.
#[derive(Debug, Clone, Default)]
pub(crate) struct Probe {
    wide: Vec<i16>,
    /// `OFFSET * Σ wide`, what the stored codes' offset adds to `dot_wide`.
    bias: i32,
    scale: f32,
}

impl Probe {
    pub(crate) fn of(codes: &[u8], scale: f32) -> Self {
        let mut probe = Self::default();
        probe.set(codes, scale);
        probe
    }

    /// Reuses this probe's buffer for another vector.
    pub(crate) fn set(&mut self, codes: &[u8], scale: f32) {
        self.wide.clear();
        self.wide.extend(codes.iter().map(|&code| (i32::from(code) - OFFSET) as i16));
        self.bias = OFFSET * self.wide.iter().map(|&w| i32::from(w)).sum::<i32>();
        self.scale = scale;
    }

    /// Approximate dot product with a stored vector given by its codes and scale.
    #[inline]
    pub(crate) fn score(&self, codes: &[u8], scale: f32) -> f32 {
        self.scale * scale * (dot_wide(&self.wide, codes) - self.bias) as f32
    }
}

/// A query prepared for code scans: its probe and the constants of `bound`.
#[derive(Debug, Clone)]
pub(crate) struct CodedQuery {
    probe: Probe,
    /// `bound(row_error) = row_error * per_row + fixed`.
    per_row: f32,
    fixed: f32,
}

impl CodedQuery {
    /// Codes for a unit `query`.
    pub(crate) fn new(query: &[f32]) -> Self {
        let mut codes = vec![0u8; query.len()];
        let (scale, error) = quantize_into(query, &mut codes);
        // Float rounding in the f32 dot product, the norms of unit vectors stored as f32 and the score product
        // is far below this allowance (8 units in the last place per component).
        let rounding = (query.len() as f32 + 16.0) * f32::EPSILON * 4.0;
        Self {
            probe: Probe::of(&codes, scale),
            per_row: 1.0 + error + rounding,
            fixed: error * (1.0 + rounding) + rounding,
        }
    }

    /// Approximate score of a row from its codes and scale.
    #[inline]
    pub(crate) fn score(&self, codes: &[u8], scale: f32) -> f32 {
        self.probe.score(codes, scale)
    }

    /// How far the row's `f32` score can lie from `score`, given the row's code error.
    ///
    /// With q = q̂ + e_q and x = x̂ + e_x: q·x − q̂·x̂ = q̂·e_x + e_q·x, so by Cauchy–Schwarz the gap is at most
    /// |q̂|·|e_x| + |e_q|·|x| ≤ (1 + |e_q| + r)·|e_x| + |e_q|·(1 + r), plus r for the rounding of the float sums.
    #[inline]
    pub(crate) fn bound(&self, row_error: f32) -> f32 {
        row_error * self.per_row + self.fixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::distance::dot;
    use crate::vector::synthetic::{Shape, points};

    #[test]
    fn code_scores_match_the_dequantised_vectors() {
        for len in [0, 5, 16, 17, 384, 1000] {
            let a: Vec<u8> = (0..len).map(|i| ((i * 37) % 255 + 1) as u8).collect();
            let b: Vec<u8> = (0..len).map(|i| ((i * 91 + 3) % 255 + 1) as u8).collect();
            let naive: f64 =
                a.iter().zip(&b).map(|(x, y)| f64::from((i32::from(*x) - 128) * (i32::from(*y) - 128))).sum();
            let score = Probe::of(&a, 0.5).score(&b, 0.25);
            assert!((f64::from(score) - naive * 0.125).abs() < 1e-3 * (1.0 + naive.abs()), "len {len}");
        }
    }

    #[test]
    fn the_bound_holds_for_every_pair_and_is_tight_enough_to_prune() {
        let dim = 96;
        let rows = points(300, dim, Shape::ISOTROPIC, 5, 1);
        let mut widest = 0.0f32;
        for query in rows.chunks_exact(dim).take(30) {
            let coded = CodedQuery::new(query);
            for row in rows.chunks_exact(dim) {
                let mut codes = vec![0u8; dim];
                let (scale, error) = quantize_into(row, &mut codes);
                let gap = (dot(query, row) - coded.score(&codes, scale)).abs();
                let bound = coded.bound(error);
                assert!(gap <= bound, "gap {gap} exceeds bound {bound}");
                widest = widest.max(bound);
            }
        }
        assert!(widest < 0.05, "bound {widest} too loose to prune anything");
    }

    #[test]
    fn zero_vector_codes_to_zero_with_zero_error() {
        let mut codes = vec![1u8; 4];
        assert_eq!(quantize_into(&[0.0; 4], &mut codes), (0.0, 0.0));
        assert_eq!(codes, vec![128; 4]);
    }

    #[test]
    fn largest_component_maps_to_the_end_of_the_range() {
        let mut codes = vec![0u8; 3];
        let (scale, error) = quantize_into(&[0.5, -1.0, 0.0], &mut codes);
        assert_eq!(codes, vec![192, 1, 128]);
        assert!((scale - 1.0 / 127.0).abs() < 1e-9);
        assert!(error < 0.01);
    }
}
