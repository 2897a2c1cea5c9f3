//! BM25 as SQLite FTS5's `bm25()` computes it (k1 = 1.2, b = 0.75, IDF floored at 1e-6), and the upper bounds
//! pruning reads.
//!
//! A row's score is the sum over the query's terms it holds of `idf(t) · saturation(count, norm(len))`. Bounds on
//! `saturation` are kept per term and per block of postings, computed at a reference average length (the one at
//! the last rebuild) and stored as `f32` rounded up; [`drift`] turns them into bounds at the current average.

use super::index::DEAD;

/// Term-frequency saturation.
const K1: f64 = 1.2;
/// Length normalisation.
const B: f64 = 0.75;
/// The IDF used where the formula gives zero or less (terms in at least half the rows), as in FTS5.
const MIN_IDF: f64 = 1e-6;
/// Bounds are raised by this factor so rounding can never put a real score above its bound.
pub(super) const BOUND_SLACK: f64 = 1.0 + 1e-9;

/// `ln((N − n + 0.5) / (n + 0.5))` for a term in `holding` of `rows` rows, or 1e-6 where that is not positive.
pub(super) fn idf(rows: u64, holding: u32) -> f64 {
    let (rows, holding) = (rows as f64, f64::from(holding));
    let idf = ((rows - holding + 0.5) / (holding + 0.5)).ln();
    if idf > 0.0 { idf } else { MIN_IDF }
}

/// Precomputed parts of the length factor for one average length.
#[derive(Debug, Clone, Copy)]
pub(super) struct Norm {
    base: f64,
    per_token: f64,
}

impl Norm {
    pub(super) fn new(avg_len: f64) -> Self {
        Self { base: K1 * (1.0 - B), per_token: K1 * B / avg_len }
    }

    /// `k1 · (1 − b + b · len / avg_len)`.
    #[inline]
    pub(super) fn of(self, len: u32) -> f64 {
        self.base + self.per_token * f64::from(len)
    }
}

/// Counts with their own entry in a table of longest lengths; larger counts share the last entry.
pub(super) const LENGTH_TABLE: usize = 16;

impl Norm {
    /// For each count below `LENGTH_TABLE - 1`, the longest row whose saturation at that count can reach `need` (0
    /// when none can), generous by a token and a relative 1e-9 so that only rows that certainly fall short are
    /// longer; the last entry, for larger counts, allows every length.
    pub(super) fn fill_max_lens(self, need: f64, max_lens: &mut [u32; LENGTH_TABLE]) {
        let need = need * (1.0 - 1e-9);
        for (count, max_len) in max_lens.iter_mut().enumerate() {
            *max_len = if count == LENGTH_TABLE - 1 || need.is_nan() || need <= 0.0 {
                DEAD - 1
            } else {
                // saturation(count, norm) >= need  ⟺  len <= (count · (k1 + 1) / need − count − base) / per_token
                let count = count as f64;
                let len = (count * (K1 + 1.0) / need - count - self.base) / self.per_token;
                if len >= 0.0 { (len.floor() + 1.0).min(f64::from(DEAD - 1)) as u32 } else { 0 }
            };
        }
    }
}

/// `count · (k1 + 1) / (count + norm)`: what the IDF multiplies.
#[inline]
pub(super) fn saturation(count: u32, norm: f64) -> f64 {
    let count = f64::from(count);
    (count * (K1 + 1.0)) / (count + norm)
}

/// `x` as an `f32` no smaller than `x`.
pub(super) fn ceil_f32(x: f64) -> f32 {
    let rounded = x as f32;
    if f64::from(rounded) < x { rounded.next_up() } else { rounded }
}

/// The factor that turns a saturation bound taken at average length `reference` into one at `current`.
///
/// The length term of the denominator scales with `reference / current`; when the average has grown the
/// denominator shrinks by at most that ratio, and when it has shrunk the denominator only grows.
pub(super) fn drift(current: f64, reference: f64) -> f64 {
    if reference > 0.0 && current > reference { current / reference } else { 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drifted_bounds_hold() {
        for reference in [1.0, 7.5, 34.0, 300.0] {
            for current in [0.5, 1.0, 20.0, 34.0, 900.0] {
                for count in [1, 2, 7, 300] {
                    for len in [0, 1, 8, 34, 60, 10_000] {
                        let then = saturation(count, Norm::new(reference).of(len));
                        let now = saturation(count, Norm::new(current).of(len));
                        assert!(now <= then * drift(current, reference) * BOUND_SLACK, "{reference} {current}");
                        assert!(f64::from(ceil_f32(then)) >= then);
                    }
                }
            }
        }
        assert_eq!(idf(3, 2), MIN_IDF);
        let mut max_lens = [0; LENGTH_TABLE];
        for avg in [1.0, 34.0] {
            let norm = Norm::new(avg);
            for need in [0.0, 0.5, 1.0, 1.5, 2.1, 2.2, 3.0] {
                norm.fill_max_lens(need, &mut max_lens);
                assert_eq!(max_lens[LENGTH_TABLE - 1], DEAD - 1);
                for count in 1..300u32 {
                    let max_len = max_lens[(count as usize).min(LENGTH_TABLE - 1)];
                    for len in [0, 1, 2, 5, 8, 33, 34, 60, 1_000, 100_000] {
                        if saturation(count, norm.of(len)) >= need {
                            assert!(len <= max_len, "avg {avg} need {need} count {count} len {len}");
                        }
                    }
                    assert!(max_len == 0 || max_len == DEAD - 1 || saturation(count, norm.of(max_len + 1)) < need);
                }
            }
        }
        assert!((idf(1_000, 1) - (999.5f64 / 1.5).ln()).abs() < 1e-12);
    }
}
