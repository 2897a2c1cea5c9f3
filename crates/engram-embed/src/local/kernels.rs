//! The encoder's work outside matrix products, as plain loops over `f32` slices: bias additions fused with GELU or
//! with the residual connection and layer normalisation, and attention over each text's own tokens.
//!
//! Fusing matters on a CPU: each step as a separate tensor operation reads and writes the whole activation and
//! allocates a new one, and candle spreads large element-wise operations over a thread pool of its own whose
//! threads spin while they wait; here each row is read once while it is in cache, in place. Every kernel runs
//! through [`pulp`]'s dispatch, which compiles the loops once more for AVX2 and FMA and picks that copy when the
//! CPU has them (the crate is built for baseline x86-64, and `unsafe` feature detection is not allowed here). So
//! that the compiler can vectorise them, every helper is `#[inline(always)]` (it must be inlined into the
//! dispatched copy to get its instruction set) and sums run in eight lanes. On a CPU without FMA the same code is
//! correct but slower, as `mul_add` becomes a library call.

use pulp::{Arch, Simd, WithSimd};

/// One text's tokens inside a packed batch: rows `start..start + len` of every activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) len: usize,
}

/// A layer normalisation's parameters: `(x - mean) / sqrt(variance + eps) * gamma + beta` over each row.
pub(crate) struct Norm {
    pub(crate) gamma: Vec<f32>,
    pub(crate) beta: Vec<f32>,
    pub(crate) eps: f32,
}

/// `values` (rows of `bias.len()`) plus `bias` on every row.
pub(crate) fn add_bias(values: &mut [f32], bias: &[f32]) {
    Arch::new().dispatch(AddBias { values, bias });
}

/// `gelu(values + bias)` on every row, in place.
pub(crate) fn add_bias_gelu(values: &mut [f32], bias: &[f32]) {
    Arch::new().dispatch(AddBiasGelu { values, bias });
}

/// `norm(values + bias + residual)` on every row, in place: the end of both halves of a transformer layer.
pub(crate) fn add_bias_residual_norm(values: &mut [f32], residual: &[f32], bias: &[f32], norm: &Norm) {
    Arch::new().dispatch(AddBiasResidualNorm { values, residual, bias, norm });
}

/// `norm(values)` on every row (of `norm.gamma.len()`), in place.
pub(crate) fn norm_rows(values: &mut [f32], norm: &Norm) {
    Arch::new().dispatch(NormRows { values, norm });
}

/// Scaled dot-product attention of each text over its own tokens, every head at once: `qkv` holds one row per
/// token, `[query | key | value]`, each `heads * HEAD_DIM` wide with the heads side by side (the query already
/// scaled by `1/sqrt(HEAD_DIM)`). Returns the context, one `heads * HEAD_DIM` row per token, heads side by side.
///
/// A text never attends to another text's tokens, so no padding and no mask are needed. `HEAD_DIM` is a constant
/// so that a head's context stays in registers.
pub(crate) fn attention<const HEAD_DIM: usize>(qkv: &[f32], spans: &[Span], heads: usize) -> Vec<f32> {
    // The SIMD loops below take whole vectors of up to eight f32.
    const { assert!(HEAD_DIM.is_multiple_of(8), "the head size must be a multiple of 8") };
    let rows = qkv.len() / (3 * heads * HEAD_DIM);
    let mut context = vec![0.0f32; rows * heads * HEAD_DIM];
    Arch::new().dispatch(Attention::<HEAD_DIM> { qkv, spans, heads, context: &mut context });
    context
}

// Each kernel is a `WithSimd` type rather than a closure: `with_simd` can be marked `#[inline(always)]`, so its
// loops are compiled inside pulp's AVX2 + FMA function (a closure the compiler chose not to inline was compiled
// for baseline x86-64, every `mul_add` a library call).

struct AddBias<'a> {
    values: &'a mut [f32],
    bias: &'a [f32],
}

impl WithSimd for AddBias<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        for row in self.values.chunks_exact_mut(self.bias.len()) {
            for (x, b) in row.iter_mut().zip(self.bias) {
                *x += b;
            }
        }
    }
}

struct AddBiasGelu<'a> {
    values: &'a mut [f32],
    bias: &'a [f32],
}

impl WithSimd for AddBiasGelu<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        for row in self.values.chunks_exact_mut(self.bias.len()) {
            for (x, b) in row.iter_mut().zip(self.bias) {
                *x = gelu(*x + b);
            }
        }
    }
}

struct AddBiasResidualNorm<'a> {
    values: &'a mut [f32],
    residual: &'a [f32],
    bias: &'a [f32],
    norm: &'a Norm,
}

impl WithSimd for AddBiasResidualNorm<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let width = self.bias.len();
        for (row, residual) in self.values.chunks_exact_mut(width).zip(self.residual.chunks_exact(width)) {
            for ((x, b), r) in row.iter_mut().zip(self.bias).zip(residual) {
                *x = (*x + b) + r;
            }
            normalize_row(row, self.norm);
        }
    }
}

struct NormRows<'a> {
    values: &'a mut [f32],
    norm: &'a Norm,
}

impl WithSimd for NormRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        for row in self.values.chunks_exact_mut(self.norm.gamma.len()) {
            normalize_row(row, self.norm);
        }
    }
}

struct Attention<'a, const HEAD_DIM: usize> {
    qkv: &'a [f32],
    spans: &'a [Span],
    heads: usize,
    context: &'a mut [f32],
}

impl<const HEAD_DIM: usize> WithSimd for Attention<'_, HEAD_DIM> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let hidden = self.heads * HEAD_DIM;
        let longest = self.spans.iter().map(|span| span.len).max().unwrap_or(0);
        let mut scores = vec![0.0f32; longest];
        for span in self.spans {
            let tokens = &self.qkv[span.start * 3 * hidden..(span.start + span.len) * 3 * hidden];
            let context = &mut self.context[span.start * hidden..(span.start + span.len) * hidden];
            let scores = &mut scores[..span.len];
            for head in 0..self.heads {
                let (query, key, value) = (head * HEAD_DIM, hidden + head * HEAD_DIM, 2 * hidden + head * HEAD_DIM);
                for (row, out) in tokens.chunks_exact(3 * hidden).zip(context.chunks_exact_mut(hidden)) {
                    let query = &row[query..query + HEAD_DIM];
                    for (score, other) in scores.iter_mut().zip(tokens.chunks_exact(3 * hidden)) {
                        *score = dot(simd, query, &other[key..key + HEAD_DIM]);
                    }
                    let total = softmax_unnormalised(scores);
                    let mut sum = [0.0f32; HEAD_DIM];
                    {
                        let (sum, _) = S::as_mut_simd_f32s(&mut sum);
                        for (&weight, other) in scores.iter().zip(tokens.chunks_exact(3 * hidden)) {
                            let weight = simd.splat_f32s(weight);
                            let (values, _) = S::as_simd_f32s(&other[value..value + HEAD_DIM]);
                            for (s, v) in sum.iter_mut().zip(values) {
                                *s = simd.mul_add_f32s(weight, *v, *s);
                            }
                        }
                    }
                    let scale = 1.0 / total;
                    for (out, s) in out[head * HEAD_DIM..(head + 1) * HEAD_DIM].iter_mut().zip(sum) {
                        *out = s * scale;
                    }
                }
            }
        }
    }
}

/// Replaces `scores` with `exp(score - max)` and returns their sum (softmax without the final division, which the
/// caller folds into its weighted sum).
#[inline(always)]
fn softmax_unnormalised(scores: &mut [f32]) -> f32 {
    let max = scores.iter().fold(f32::MIN, |max, &score| max.max(score));
    for score in scores.iter_mut() {
        *score = exp(*score - max);
    }
    sum(scores)
}

/// Moves one row to zero mean and unit variance (two passes, as accurate as the reference), then scales and shifts.
#[inline(always)]
fn normalize_row(row: &mut [f32], norm: &Norm) {
    let count = row.len() as f32;
    let mean = sum(row) / count;
    let mut lanes = [0.0f32; 8];
    let mut chunks = row.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, x) in lanes.iter_mut().zip(chunk) {
            let centred = x - mean;
            *lane = centred.mul_add(centred, *lane);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|x| (x - mean) * (x - mean)).sum();
    let variance = (add_lanes(lanes) + tail) / count;
    let scale = 1.0 / (variance + norm.eps).sqrt();
    for ((x, gamma), beta) in row.iter_mut().zip(&norm.gamma).zip(&norm.beta) {
        *x = ((*x - mean) * scale).mul_add(*gamma, *beta);
    }
}

/// The sum of `values`, in eight lanes (a plain running sum is one long dependency chain the compiler may not
/// reorder).
#[inline(always)]
fn sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, x) in lanes.iter_mut().zip(chunk) {
            *lane += x;
        }
    }
    add_lanes(lanes) + chunks.remainder().iter().sum::<f32>()
}

/// The dot product of two slices of the same length, a multiple of the SIMD width (the attention heads' 32 or 64
/// values): explicit SIMD, because left to itself the compiler vectorises the loop around this one instead, with
/// gathers.
#[inline(always)]
fn dot<S: Simd>(simd: S, a: &[f32], b: &[f32]) -> f32 {
    let ((a, _), (b, _)) = (S::as_simd_f32s(a), S::as_simd_f32s(b));
    let mut sum = simd.splat_f32s(0.0);
    for (a, b) in a.iter().zip(b) {
        sum = simd.mul_add_f32s(*a, *b, sum);
    }
    simd.reduce_sum_f32s(sum)
}

#[inline(always)]
fn add_lanes(lanes: [f32; 8]) -> f32 {
    let [a, b, c, d, e, f, g, h] = lanes;
    ((a + e) + (c + g)) + ((b + f) + (d + h))
}

/// `exp(x)` in f32 as Cephes computes it: `2^n · exp(r)` with `n = round(x / ln 2)`, `|r| ≤ ln(2)/2` and a degree-7
/// polynomial for `exp(r)`; relative error below 2e-7, no branches or library calls, so it vectorises. Inputs are
/// clamped to `[-87.3, 88.3]`, where the result stays a normal f32 (far below `-87` softmax weights are ~1e-38
/// instead of 0, which no sum notices).
#[inline(always)]
#[allow(clippy::excessive_precision, reason = "Cephes's constants, written as published")]
fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.3);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    // ln 2 in two parts, so that `x - n ln 2` stays exact.
    let r = n.mul_add(-0.693_359_375, x);
    let r = n.mul_add(2.121_944_4e-4, r);
    let p = 1.987_569_1e-4f32
        .mul_add(r, 1.398_199_9e-3)
        .mul_add(r, 8.333_452e-3)
        .mul_add(r, 4.166_579_6e-2)
        .mul_add(r, 1.666_666_5e-1)
        .mul_add(r, 5.000_000_1e-1);
    let exp_r = p.mul_add(r * r, r) + 1.0;
    // n is in [-126, 127], so 2^n is a normal f32 built from its exponent bits.
    exp_r * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// GELU as BERT defines it, `x/2 · (1 + erf(x/√2))`.
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// `erf` as a ratio of polynomials over `[-4, 4]` (beyond which f32 `erf` is ±1), the approximation Eigen and XLA
/// use for f32; absolute error below 1e-7, no branches or `exp`, so it vectorises.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let numerator = (-2.726_142_3e-10_f32)
        .mul_add(x2, 2.770_681_4e-8)
        .mul_add(x2, -2.101_024e-6)
        .mul_add(x2, -5.692_506_4e-5)
        .mul_add(x2, -7.349_906_3e-4)
        .mul_add(x2, -2.954_6e-3)
        .mul_add(x2, -1.609_603_3e-2)
        * x;
    let denominator = (-1.456_607_2e-5_f32)
        .mul_add(x2, -2.133_740_6e-4)
        .mul_add(x2, -1.682_827e-3)
        .mul_add(x2, -7.373_329e-3)
        .mul_add(x2, -1.426_474e-2);
    numerator / denominator
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        // Reference values of erf to 10 digits.
        for (x, expected) in [
            (0.0f32, 0.0f64),
            (0.1, 0.112_462_916_0),
            (0.5, 0.520_499_877_8),
            (1.0, 0.842_700_792_9),
            (-1.5, -0.966_105_146_5),
            (2.0, 0.995_322_265_0),
            (3.0, 0.999_977_909_5),
            (6.0, 1.0),
            (-9.0, -1.0),
        ] {
            let got = f64::from(erf(x));
            assert!((got - expected).abs() < 2e-7, "erf({x}) = {got}, expected {expected}");
        }
        assert_eq!(gelu(0.0), 0.0);
        assert!((f64::from(gelu(1.0)) - 0.841_344_746).abs() < 1e-6);
        assert!((f64::from(gelu(-1.0)) + 0.158_655_254).abs() < 1e-6);
    }

    #[test]
    fn exp_is_within_two_ulp_or_so() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let expected = f64::from(x).exp();
            let got = f64::from(exp(x));
            assert!(((got - expected) / expected).abs() < 3e-7, "exp({x}) = {got}, expected {expected}");
            x += 0.0137;
        }
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) < 1e-37);
        assert!(exp(f32::MIN).is_finite());
    }

    #[test]
    fn fused_bias_kernels_match_the_plain_formulas() {
        let values: Vec<f32> = (0..40).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let bias: Vec<f32> = (0..10).map(|i| i as f32 * 0.1 - 0.5).collect();

        let mut added = values.clone();
        add_bias(&mut added, &bias);
        let mut gelus = values.clone();
        add_bias_gelu(&mut gelus, &bias);
        for (i, x) in values.iter().enumerate() {
            let b = bias[i % 10];
            assert_eq!(added[i], x + b);
            let expected = 0.5 * f64::from(x + b) * (1.0 + libm_erf(f64::from(x + b) / 2f64.sqrt()));
            assert!((f64::from(gelus[i]) - expected).abs() < 1e-6, "gelu({}) = {}", x + b, gelus[i]);
        }

        let residual: Vec<f32> = (0..40).map(|i| (i as f32 * 0.11).cos()).collect();
        let norm = Norm { gamma: (0..10).map(|i| 1.0 + i as f32 * 0.05).collect(), beta: vec![0.25; 10], eps: 1e-12 };
        let mut normed = values.clone();
        add_bias_residual_norm(&mut normed, &residual, &bias, &norm);
        for row in 0..4 {
            let v: Vec<f64> =
                (0..10).map(|i| f64::from(values[row * 10 + i] + bias[i] + residual[row * 10 + i])).collect();
            let mean = v.iter().sum::<f64>() / 10.0;
            let variance = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 10.0;
            for i in 0..10 {
                let expected = (v[i] - mean) / (variance + 1e-12).sqrt() * f64::from(norm.gamma[i]) + 0.25;
                assert!((f64::from(normed[row * 10 + i]) - expected).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn attention_matches_a_direct_computation_per_text() {
        const HEAD_DIM: usize = 8;
        let heads = 2;
        let hidden = heads * HEAD_DIM;
        let spans = [Span { start: 0, len: 3 }, Span { start: 3, len: 1 }, Span { start: 4, len: 5 }];
        let rows = 9;
        let qkv: Vec<f32> = (0..rows * 3 * hidden).map(|i| ((i * 7919 % 113) as f32 / 113.0 - 0.5) * 4.0).collect();
        let context = attention::<HEAD_DIM>(&qkv, &spans, heads);
        assert_eq!(context.len(), rows * hidden);
        let at = |row: usize, part: usize, head: usize, d: usize| {
            f64::from(qkv[row * 3 * hidden + part * hidden + head * HEAD_DIM + d])
        };
        for span in spans {
            for head in 0..heads {
                for i in span.start..span.start + span.len {
                    let scores: Vec<f64> = (span.start..span.start + span.len)
                        .map(|j| (0..HEAD_DIM).map(|d| at(i, 0, head, d) * at(j, 1, head, d)).sum())
                        .collect();
                    let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                    let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let total: f64 = weights.iter().sum();
                    for d in 0..HEAD_DIM {
                        let expected: f64 = (span.start..span.start + span.len)
                            .zip(&weights)
                            .map(|(j, w)| w / total * at(j, 2, head, d))
                            .sum();
                        let got = f64::from(context[i * hidden + head * HEAD_DIM + d]);
                        assert!((got - expected).abs() < 1e-5, "row {i} head {head} dim {d}: {got} vs {expected}");
                    }
                }
            }
        }
    }

    /// erf in f64 by its Taylor series (fine for the small arguments the tests use).
    fn libm_erf(x: f64) -> f64 {
        let mut term = x;
        let mut total = x;
        for n in 1..60 {
            term *= -x * x / n as f64;
            total += term / (2 * n + 1) as f64;
        }
        total * 2.0 / std::f64::consts::PI.sqrt()
    }
}
