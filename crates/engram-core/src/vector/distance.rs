//! Dot product and normalisation, written so the compiler turns them into SIMD code without `unsafe`.
//!
//! The dot product works on fixed-size blocks (`as_chunks::<16>`) with a `[f32; 16]` accumulator, which LLVM maps
//! onto four vector registers: four independent running sums instead of one, so the loop runs at the speed of
//! loads and multiplies rather than the latency of additions. Fixed-size arrays matter: with `chunks_exact` slices
//! (length unknown to the compiler) or a tree-shaped final reduction, LLVM picked two-lane vectors and ran 1.5×
//! slower. The summation order is fixed, so the same pair of vectors always gives the same score (exact search
//! relies on that for its tie-breaking).

/// Lanes per step of the dot product.
const LANES: usize = 16;

/// Dot product of two vectors of the same length; with normalised vectors this is their cosine similarity.
///
/// Extra components of the longer slice are ignored if the lengths differ (callers check dimensions first).
// Never inlined: inside larger loops (the graph walk) LLVM kept the accumulators on the stack and scalarised the
// loop; as a function of its own it is vectorised, and the call costs little next to hundreds of components.
#[inline(never)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let len = a.len().min(b.len());
    let (a_blocks, a_tail) = a[..len].as_chunks::<LANES>();
    let (b_blocks, b_tail) = b[..len].as_chunks::<LANES>();
    let mut sums = [0.0f32; LANES];
    for (x, y) in a_blocks.iter().zip(b_blocks) {
        for lane in 0..LANES {
            sums[lane] += x[lane] * y[lane];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in a_tail.iter().zip(b_tail) {
        tail += x * y;
    }
    sums.iter().sum::<f32>() + tail
}

/// Euclidean length of a vector.
#[cfg(test)]
pub(crate) fn norm(v: &[f32]) -> f32 {
    dot(v, v).sqrt()
}

/// Euclidean length computed in `f64`, so huge or tiny components neither overflow nor vanish.
pub(crate) fn norm_f64(v: &[f32]) -> f64 {
    v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt()
}

/// Scales a vector to unit length in place. A zero (or non-finite) vector is left as it is.
pub fn normalize(v: &mut [f32]) {
    let length = norm_f64(v);
    if length > 0.0 && length.is_finite() {
        let inverse = 1.0 / length;
        for x in v.iter_mut() {
            *x = (f64::from(*x) * inverse) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum()
    }

    fn pseudo_random(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn dot_matches_naive_sum_for_every_length() {
        for len in [0, 1, 3, 15, 16, 17, 31, 32, 33, 100, 384, 385, 768, 1536] {
            let a = pseudo_random(len, 7);
            let b = pseudo_random(len, 91);
            let expected = naive(&a, &b);
            let got = f64::from(dot(&a, &b));
            assert!((got - expected).abs() <= 1e-4 * (1.0 + expected.abs()), "len {len}: {got} vs {expected}");
        }
    }

    #[test]
    fn dot_ignores_the_longer_tail() {
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[1.0, 1.0]), 3.0);
    }

    #[test]
    fn normalize_gives_unit_length_and_keeps_direction() {
        let mut v = vec![3.0, 4.0, 0.0];
        normalize(&mut v);
        assert_eq!(v, vec![0.6, 0.8, 0.0]);
        let mut long = pseudo_random(384, 3);
        normalize(&mut long);
        assert!((norm(&long) - 1.0).abs() < 1e-5);
        let mut huge = vec![3e30, 4e30];
        normalize(&mut huge);
        assert!((huge[0] - 0.6).abs() < 1e-6 && (huge[1] - 0.8).abs() < 1e-6, "{huge:?}");
    }

    #[test]
    fn normalize_leaves_zero_vector_alone() {
        let mut v = vec![0.0; 5];
        normalize(&mut v);
        assert_eq!(v, vec![0.0; 5]);
    }
}
