//! Measuring helpers: latency percentiles, the process's resident memory, a progress line on stderr, and number
//! formatting for the markdown tables.

use std::time::{Duration, Instant};

/// Latencies of one measured series.
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn push(&mut self, latency: Duration) {
        self.0.push(latency);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The latencies of the series' `i`th entries for which `keep(i)` holds.
    pub fn select(&self, keep: impl Fn(usize) -> bool) -> Latencies {
        Latencies(self.0.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, d)| *d).collect())
    }

    /// The `q` quantile (nearest rank) in milliseconds; 0 when empty.
    pub fn ms(&self, q: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort();
        let Some(last) = sorted.len().checked_sub(1) else { return 0.0 };
        let rank = ((last as f64) * q).round() as usize;
        sorted.get(rank.min(last)).map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
    }
}

/// Resident memory of this process in MiB (`VmRSS`), if the platform reports it.
pub fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The 1-minute load average, to note how busy the shared machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Bytes of the files directly in `dir` (the database, its WAL and shared memory).
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

/// Prints progress to stderr at most every few seconds.
pub struct Progress {
    label: String,
    total: usize,
    started: Instant,
    last: Instant,
}

impl Progress {
    pub fn new(label: impl Into<String>, total: usize) -> Self {
        let now = Instant::now();
        Self { label: label.into(), total, started: now, last: now }
    }

    pub fn update(&mut self, done: usize) {
        if self.last.elapsed() < Duration::from_secs(5) && done < self.total {
            return;
        }
        self.last = Instant::now();
        let seconds = self.started.elapsed().as_secs_f64();
        eprintln!("{}: {done}/{} ({:.0}/s, {seconds:.0} s)", self.label, self.total, done as f64 / seconds.max(1e-9));
    }
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A check mark against a target, for the tables.
pub fn verdict(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}
