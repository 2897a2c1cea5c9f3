//! Latency samples and their percentiles (nearest rank over the sorted samples).

use std::time::Duration;

/// Percentiles of one measured operation.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub n: usize,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub mean: Duration,
}

impl Summary {
    /// `None` when there are no samples.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let total: Duration = sorted.iter().sum();
        Some(Self {
            n: sorted.len(),
            p50: percentile(&sorted, 50.0),
            p95: percentile(&sorted, 95.0),
            p99: percentile(&sorted, 99.0),
            mean: total / u32::try_from(sorted.len()).unwrap_or(u32::MAX),
        })
    }
}

/// Nearest-rank percentile of non-empty sorted samples: the smallest sample with at least `p`% of samples at or
/// below it.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nearest_rank() {
        let samples: Vec<Duration> = (1..=100).rev().map(ms).collect();
        let summary = Summary::of(&samples).unwrap();
        assert_eq!((summary.p50, summary.p95, summary.p99), (ms(50), ms(95), ms(99)));
        let one = Summary::of(&[ms(7)]).unwrap();
        assert_eq!((one.p50, one.p99), (ms(7), ms(7)));
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn median_of_five() {
        let summary = Summary::of(&[ms(5), ms(1), ms(4), ms(2), ms(3)]).unwrap();
        assert_eq!(summary.p50, ms(3));
    }
}
