//! Deterministic synthetic embeddings for the vector tests and the `vectors` benchmark (compiled into both; not
//! part of the library's API).
//!
//! Real sentence embeddings are neither uniform on the sphere nor isotropic around their topics: they gather in
//! topics, and within a topic most of the variance lies along a few directions (which are not the coordinate
//! axes). `Shape` models both: `clusters` random centres, plus noise along `rank` random directions with scales
//! decaying as `(j + 1)^-decay`, plus some isotropic noise. Queries are stored points moved by a smaller noise, so
//! each query has a true neighbourhood.

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
    /// Length of the noise around a centre relative to the (unit) centre.
    pub spread: f32,
    /// Directions a topic varies along (its own subset of a shared pool of random directions).
    pub rank: usize,
    /// Decay exponent of the noise scale along those directions: direction `j` gets `(j + 1)^-decay`.
    pub decay: f32,
    /// Share of the noise energy that is isotropic rather than along the topic's directions.
    pub isotropic: f32,
}

impl Shape {
    /// Topics with a few dominant directions each: the default stand-in for real embeddings.
    pub const CLUSTERED: Shape = Shape { clusters: 1_000, spread: 1.0, rank: 48, decay: 0.5, isotropic: 0.2 };
    /// Topics with isotropic noise: neighbours inside a topic are nearly tied, hard for any graph index.
    pub const ISOTROPIC: Shape = Shape { clusters: 1_000, spread: 1.0, rank: 0, decay: 0.0, isotropic: 1.0 };
    /// Uniform on the sphere: no structure at all, the pathological case.
    pub const UNIFORM: Shape = Shape { clusters: 0, spread: 1.0, rank: 0, decay: 0.0, isotropic: 1.0 };
}

/// Directions shared by all topics.
const POOL: usize = 512;

fn unit(v: &mut [f32]) {
    let length = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if length > 0.0 {
        v.iter_mut().for_each(|x| *x = (f64::from(*x) / length) as f32);
    }
}

fn random_unit(rng: &mut Rng, dim: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dim).map(|_| rng.gaussian()).collect();
    unit(&mut v);
    v
}

/// `n` normalised points of dimension `dim`, row after row, generated on `threads` threads (same result for any).
pub fn points(n: usize, dim: usize, shape: Shape, seed: u64, threads: usize) -> Vec<f32> {
    let mut setup = Rng::new(seed);
    let centres: Vec<Vec<f32>> = (0..shape.clusters).map(|_| random_unit(&mut setup, dim)).collect();
    let pool: Vec<Vec<f32>> =
        if shape.rank == 0 { Vec::new() } else { (0..POOL).map(|_| random_unit(&mut setup, dim)).collect() };
    let raw: Vec<f32> = (0..shape.rank).map(|j| ((j + 1) as f32).powf(-shape.decay)).collect();
    let total = raw.iter().map(|s| s * s).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    let along = shape.spread * (1.0 - shape.isotropic).max(0.0).sqrt();
    let directional: Vec<f32> = raw.iter().map(|s| s / total * along).collect();
    let isotropic = shape.spread * shape.isotropic.max(0.0).sqrt() / (dim.max(1) as f32).sqrt();
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
            let (centres, pool, directional) = (&centres, &pool, &directional);
            scope.spawn(move || {
                for (index, block) in group {
                    let mut rng = Rng::new(seed.wrapping_add(1 + index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
                    for row in block.chunks_mut(dim.max(1)) {
                        if centres.is_empty() {
                            row.iter_mut().for_each(|x| *x = rng.gaussian());
                        } else {
                            let cluster = rng.below(centres.len());
                            row.copy_from_slice(&centres[cluster]);
                            for (j, scale) in directional.iter().enumerate() {
                                let weight = scale * rng.gaussian();
                                let direction = &pool[(cluster * 37 + j) % POOL];
                                row.iter_mut().zip(direction).for_each(|(x, d)| *x += weight * d);
                            }
                            row.iter_mut().for_each(|x| *x += isotropic * rng.gaussian());
                        }
                        unit(row);
                    }
                }
            });
        }
    });
    data
}

/// `count` normalised queries, each a random stored point moved by isotropic noise a third of `spread` long.
pub fn queries_near(data: &[f32], dim: usize, count: usize, shape: Shape, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let rows = data.len() / dim.max(1);
    let noise = shape.spread / 3.0 / (dim.max(1) as f32).sqrt();
    let mut out = Vec::with_capacity(count * dim);
    for _ in 0..count {
        let row = &data[rng.below(rows) * dim..][..dim];
        let mut q: Vec<f32> = row.iter().map(|x| x + noise * rng.gaussian()).collect();
        unit(&mut q);
        out.extend_from_slice(&q);
    }
    out
}
