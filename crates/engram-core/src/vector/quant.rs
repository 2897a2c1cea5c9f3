//! Scalar quantisation of unit vectors to `i8` codes, with a bound on the error it causes.
//!
//! Every row keeps, beside its `f32` values, one `i8` code per component (scaled so its largest component maps to
//! ±127), that scale, and the Euclidean length of what the codes lose. A code is a quarter of the row's bytes and
//! its dot product runs on integers, so scanning codes is two to three times faster than scanning `f32` rows,
//! which are limited by memory bandwidth. Codes alone give approximate scores; `bound` turns them into an interval
//! that provably holds the `f32` score, which lets the exact scan skip every row that cannot reach the top `k`
//! and compute the real score only for the few that can. The HNSW graph walks on code scores and re-ranks its
//! final candidates with `f32` scores.

/// Largest dimension the codes serve; beyond it an `i32` code sum could overflow and scans use `f32` alone.
pub(crate) const MAX_CODED_DIM: usize = 1 << 16;

/// Lanes per step of the integer dot product.
const LANES: usize = 16;

/// Dot product of two code vectors (exact: integers, no rounding).
#[inline]
pub(crate) fn dot_codes(a: &[i8], b: &[i8]) -> i32 {
    let len = a.len().min(b.len());
    let (a_blocks, a_tail) = a[..len].as_chunks::<LANES>();
    let (b_blocks, b_tail) = b[..len].as_chunks::<LANES>();
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
/// `vector - scale * codes`.
pub(crate) fn quantize_into(vector: &[f32], codes: &mut [i8]) -> (f32, f32) {
    let largest = vector.iter().fold(0.0f32, |largest, x| largest.max(x.abs()));
    if largest == 0.0 || !largest.is_finite() {
        codes.iter_mut().for_each(|code| *code = 0);
        return (0.0, (super::distance::norm_f64(vector) * (1.0 + 1e-6)) as f32);
    }
    let scale = largest / 127.0;
    let mut error = 0.0f64;
    for (code, x) in codes.iter_mut().zip(vector) {
        let rounded = (x / scale).round().clamp(-127.0, 127.0);
        *code = rounded as i8;
        let lost = f64::from(*x) - f64::from(scale) * f64::from(rounded);
        error += lost * lost;
    }
    // Rounded up, so the bound stays a bound after the cast to f32.
    (scale, (error.sqrt() * (1.0 + 1e-6) + 1e-12) as f32)
}

/// A query prepared for code scans: its codes, their scale and error, and the constants of `bound`.
#[derive(Debug, Clone)]
pub(crate) struct CodedQuery {
    pub(crate) codes: Vec<i8>,
    pub(crate) scale: f32,
    /// `bound(row_error) = row_error * per_row + fixed`.
    per_row: f32,
    fixed: f32,
}

impl CodedQuery {
    /// Codes for a unit `query`.
    pub(crate) fn new(query: &[f32]) -> Self {
        let mut codes = vec![0i8; query.len()];
        let (scale, error) = quantize_into(query, &mut codes);
        // Float rounding in the f32 dot product, the norms of unit vectors stored as f32 and the score product
        // below is far below this allowance (8 units in the last place per component).
        let rounding = (query.len() as f32 + 16.0) * f32::EPSILON * 4.0;
        Self { codes, scale, per_row: 1.0 + error + rounding, fixed: error * (1.0 + rounding) + rounding }
    }

    /// Approximate score of a row from its codes and scale.
    #[inline]
    pub(crate) fn score(&self, codes: &[i8], scale: f32) -> f32 {
        (f64::from(self.scale) * f64::from(scale) * f64::from(dot_codes(&self.codes, codes))) as f32
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
    fn integer_dot_matches_naive_sum() {
        for len in [0, 5, 16, 17, 384, 1000] {
            let a: Vec<i8> = (0..len).map(|i| ((i * 37) % 255) as i32 as i8).collect();
            let b: Vec<i8> = (0..len).map(|i| ((i * 91 + 3) % 255) as i32 as i8).collect();
            let naive: i32 = a.iter().zip(&b).map(|(x, y)| i32::from(*x) * i32::from(*y)).sum();
            assert_eq!(dot_codes(&a, &b), naive);
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
                let mut codes = vec![0i8; dim];
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
        let mut codes = vec![1i8; 4];
        assert_eq!(quantize_into(&[0.0; 4], &mut codes), (0.0, 0.0));
        assert_eq!(codes, vec![0; 4]);
    }
}
