//! Deterministic synthetic embeddings for the vector tests and the `vectors` benchmark (compiled into both; not
//! part of the library's API).
//!
//! Real sentence embeddings are neither uniform on the sphere nor isotropic around their topics: they gather in
//! topics, and within a topic most of the variance lies along a few directions. `Shape` models both: `clusters`
//! random centres, plus noise whose per-axis scale decays as `(axis + 1)^-decay` (decay 0 is isotropic noise,
//! 0.5 gives an effective dimension of about 26 at 384-d), scaled so the noise is `spread` times the centre's length.
//! Queries are stored points moved by a smaller noise, so each query has a true neighbourhood.

#![allow(dead_code)]

/// SplitMix64: small, fast, and good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x853c_49e6_748f_ea9b)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize % n.max(1)
    }

    /// Standard normal (Box–Muller).
    pub fn gaussian(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

/// How synthetic points are spread.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Number of topic centres; 0 means points uniform on the sphere.
    pub clusters: usize,
    /// Length of the noise relative to the (unit) centre.
    pub spread: f32,
    /// Decay exponent of the per-axis noise scale.
    pub decay: f32,
}

impl Shape {
    /// Clustered with a decaying spectrum: the default stand-in for real embeddings.
    pub const CLUSTERED: Shape = Shape { clusters: 1_000, spread: 1.0, decay: 0.5 };
    /// Clustered with isotropic noise: neighbours inside a topic are nearly tied, hard for any graph index.
    pub const ISOTROPIC: Shape = Shape { clusters: 1_000, spread: 1.0, decay: 0.0 };
    /// Uniform on the sphere: no structure at all, the pathological case.
    pub const UNIFORM: Shape = Shape { clusters: 0, spread: 1.0, decay: 0.0 };
}

fn unit(v: &mut [f32]) {
    let length = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if length > 0.0 {
        v.iter_mut().for_each(|x| *x = (f64::from(*x) / length) as f32);
    }
}

/// Per-axis noise scales with total length `spread`.
fn scales(dim: usize, shape: Shape) -> Vec<f32> {
    let raw: Vec<f64> = (0..dim).map(|axis| ((axis + 1) as f64).powf(-f64::from(shape.decay))).collect();
    let total = raw.iter().map(|s| s * s).sum::<f64>().sqrt();
    raw.iter().map(|s| (s / total * f64::from(shape.spread)) as f32).collect()
}

/// `n` normalised points of dimension `dim`, row after row, generated on `threads` threads (same result for any).
pub fn points(n: usize, dim: usize, shape: Shape, seed: u64, threads: usize) -> Vec<f32> {
    let mut centre_rng = Rng::new(seed);
    let centres: Vec<Vec<f32>> = (0..shape.clusters)
        .map(|_| {
            let mut c: Vec<f32> = (0..dim).map(|_| centre_rng.gaussian()).collect();
            unit(&mut c);
            c
        })
        .collect();
    let scale = scales(dim, shape);
    let mut data = vec![0.0f32; n * dim];
    const BLOCK: usize = 4_096;
    let blocks: Vec<(usize, &mut [f32])> = data.chunks_mut(BLOCK * dim.max(1)).enumerate().collect();
    let per_thread = blocks.len().div_ceil(threads.max(1)).max(1);
    let mut groups: Vec<Vec<(usize, &mut [f32])>> = Vec::new();
    for block in blocks {
        if groups.last().is_none_or(|group| group.len() == per_thread) {
            groups.push(Vec::new());
        }
        if let Some(group) = groups.last_mut() {
            group.push(block);
        }
    }
    std::thread::scope(|scope| {
        for group in groups {
            let (centres, scale) = (&centres, &scale);
            scope.spawn(move || {
                for (index, block) in group {
                    let mut rng = Rng::new(seed.wrapping_add(1 + index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
                    for row in block.chunks_mut(dim.max(1)) {
                        if centres.is_empty() {
                            row.iter_mut().for_each(|x| *x = rng.gaussian());
                        } else {
                            let centre = &centres[rng.below(centres.len())];
                            for ((x, c), s) in row.iter_mut().zip(centre).zip(scale) {
                                *x = c + s * rng.gaussian();
                            }
                        }
                        unit(row);
                    }
                }
            });
        }
    });
    data
}

/// `count` normalised queries, each a random stored point moved by noise of relative length `spread / 2`.
pub fn queries_near(data: &[f32], dim: usize, count: usize, shape: Shape, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let rows = data.len() / dim.max(1);
    let scale = scales(dim, Shape { spread: shape.spread / 2.0, ..shape });
    let mut out = Vec::with_capacity(count * dim);
    for _ in 0..count {
        let row = &data[rng.below(rows) * dim..][..dim];
        let mut q: Vec<f32> = row.iter().zip(&scale).map(|(x, s)| x + s * rng.gaussian()).collect();
        unit(&mut q);
        out.extend_from_slice(&q);
    }
    out
}
