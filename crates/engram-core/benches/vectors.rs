//! Vector search benchmark: exact scan (1 and 2 threads) against our HNSW on synthetic embeddings, with build
//! time, memory, latency percentiles and recall@10 against the exact answer, printed as markdown tables.
//!
//! `cargo bench -p engram-core --bench vectors -- [--sizes 10000,100000,1000000] [--queries 200] [--dim 384]
//! [--data clustered|isotropic|uniform] [--ef 64,128] [--m 16] [--ef-construction 128] [--threads 2]`

#[path = "../src/vector/synthetic.rs"]
mod synthetic;

use std::time::{Duration, Instant};

use engram_core::vector::{HnswParams, IndexConfig, SearchPath, VectorIndex};
use synthetic::{Rng, Shape, points, queries_near};

const K: usize = 10;

struct Options {
    sizes: Vec<usize>,
    queries: usize,
    dim: usize,
    data: String,
    ef: Vec<usize>,
    m: usize,
    ef_construction: usize,
    threads: usize,
}

fn list(value: &str) -> Vec<usize> {
    value.split(',').filter_map(|part| part.trim().replace('_', "").parse().ok()).collect()
}

fn options() -> Options {
    let mut options = Options {
        sizes: vec![10_000, 100_000, 1_000_000],
        queries: 200,
        dim: 384,
        data: "clustered".into(),
        ef: vec![64, 128],
        m: HnswParams::default().m,
        ef_construction: HnswParams::default().ef_construction,
        threads: 2,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.windows(2) {
        let value = pair[1].as_str();
        match pair[0].as_str() {
            "--sizes" => options.sizes = list(value),
            "--queries" => options.queries = list(value).first().copied().unwrap_or(200),
            "--dim" => options.dim = list(value).first().copied().unwrap_or(384),
            "--data" => options.data = value.to_owned(),
            "--ef" => options.ef = list(value),
            "--m" => options.m = list(value).first().copied().unwrap_or(16),
            "--ef-construction" => options.ef_construction = list(value).first().copied().unwrap_or(128),
            "--threads" => options.threads = list(value).first().copied().unwrap_or(2),
            _ => {}
        }
    }
    options
}

fn shape(name: &str) -> Shape {
    match name {
        "isotropic" => Shape::ISOTROPIC,
        "uniform" => Shape::UNIFORM,
        _ => Shape::CLUSTERED,
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// p50 and p95 of the latencies, in milliseconds.
fn percentiles(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let at = |q: f64| ms(times[((times.len() - 1) as f64 * q).round() as usize]);
    (at(0.50), at(0.95))
}

/// Runs `search` once per query, returning latencies and the hit keys.
fn run(queries: &[f32], dim: usize, mut search: impl FnMut(&[f32]) -> Vec<i64>) -> (Vec<Duration>, Vec<Vec<i64>>) {
    let mut times = Vec::new();
    let mut answers = Vec::new();
    for query in queries.chunks_exact(dim) {
        let start = Instant::now();
        let keys = search(query);
        times.push(start.elapsed());
        answers.push(keys);
    }
    (times, answers)
}

fn recall(answers: &[Vec<i64>], truth: &[Vec<i64>]) -> f64 {
    let found: usize =
        answers.iter().zip(truth).map(|(got, want)| got.iter().filter(|key| want.contains(key)).count()).sum();
    let wanted: usize = truth.iter().map(Vec::len).sum();
    found as f64 / wanted.max(1) as f64
}

fn main() {
    let options = options();
    let shape = shape(&options.data);
    let dim = options.dim;
    let filters: [(&str, u32); 3] = [("none", 100), ("10%", 10), ("1%", 1)];
    let mut builds = Vec::new();
    let mut rows = Vec::new();
    for &n in &options.sizes {
        eprintln!("n = {n}: generating {} data", options.data);
        let data = points(n, dim, shape, 1, options.threads);
        let queries = queries_near(&data, dim, options.queries, shape, 2);
        let mut rng = Rng::new(3);
        let buckets: Vec<u32> = (0..n).map(|_| rng.below(100) as u32).collect();
        let config = IndexConfig {
            ann_threshold: usize::MAX,
            hnsw: HnswParams { m: options.m, ef_construction: options.ef_construction, ..HnswParams::default() },
            build_threads: options.threads,
            scan_threads: options.threads,
            ..IndexConfig::default()
        };
        let mut index = VectorIndex::new(dim, config);
        let start = Instant::now();
        let loaded =
            index.extend(data.chunks_exact(dim).zip(&buckets).enumerate().map(|(key, (row, &b))| (key as i64, row, b)));
        let load = start.elapsed();
        drop(data);
        if let Err(error) = loaded {
            eprintln!("load failed: {error}");
            return;
        }
        let set_bytes = index.memory_bytes();
        eprintln!("n = {n}: exact scans");
        let mut truths = Vec::new();
        for &(filter, below) in &filters {
            for threads in [1, options.threads.max(2)] {
                let (times, answers) = run(&queries, dim, |query| {
                    let hits = index.vectors().exact_search_threads(query, K, threads, |_, &b| b < below);
                    hits.iter().map(|hit| hit.key).collect()
                });
                let (p50, p95) = percentiles(times);
                rows.push(format!("| {n} | {filter} | exact scan | {threads} thr | {p50:.2} | {p95:.2} | 1.000 |"));
                if threads == 1 {
                    truths.push(answers);
                }
            }
        }
        eprintln!("n = {n}: building the graph");
        let start = Instant::now();
        index.set_ann_threshold(0);
        let build = start.elapsed();
        let graph_bytes = index.memory_bytes() - set_bytes;
        builds.push(format!(
            "| {n} | {} | {:.1} | {:.1} | {:.0} | {:.0} |",
            options.data,
            load.as_secs_f64(),
            build.as_secs_f64(),
            mib(set_bytes),
            mib(graph_bytes)
        ));
        let auto_threshold = index.config().exact_filtered_max_rows;
        for &ef in &options.ef {
            index.set_ef_search(ef);
            eprintln!("n = {n}: graph searches, ef {ef}");
            for (&(filter, below), truth) in filters.iter().zip(&truths) {
                for path in [SearchPath::Approximate, SearchPath::Auto] {
                    if path == SearchPath::Auto && filter == "none" {
                        continue;
                    }
                    let (times, answers) =
                        run(&queries, dim, |query| match index.search_using(path, query, K, |_, &b| b < below) {
                            Ok(hits) => hits.iter().map(|hit| hit.key).collect(),
                            Err(_) => Vec::new(),
                        });
                    let (p50, p95) = percentiles(times);
                    let method = if path == SearchPath::Auto {
                        let exact = n * below as usize / 100 <= auto_threshold;
                        if exact { "auto → exact" } else { "auto → hnsw" }
                    } else {
                        "hnsw"
                    };
                    rows.push(format!(
                        "| {n} | {filter} | {method} | ef {ef} | {p50:.2} | {p95:.2} | {:.3} |",
                        recall(&answers, truth)
                    ));
                }
            }
        }
        if let Some(bytes) = index.graph_to_bytes() {
            let start = Instant::now();
            let restored =
                VectorIndex::restore(dim, index.config().clone(), std::iter::empty::<(i64, Vec<f32>, u32)>(), &bytes);
            eprintln!(
                "n = {n}: graph bytes {:.0} MiB, restore check {:.2} s ({})",
                mib(bytes.len()),
                start.elapsed().as_secs_f64(),
                restored.err().map(|e| e.to_string()).unwrap_or_default()
            );
        }
    }
    println!(
        "\n### Build (k = {K}, dim {dim}, m {}, ef_construction {}, {} threads)\n",
        options.m, options.ef_construction, options.threads
    );
    println!("| n | data | load s | graph build s | vectors MiB | graph MiB |");
    println!("|---|---|---|---|---|---|");
    builds.iter().for_each(|row| println!("{row}"));
    println!(
        "\n### Queries ({} queries near stored points, k = {K}; recall@10 against the exact answer)\n",
        options.queries
    );
    println!("| n | filter | method | setting | p50 ms | p95 ms | recall@10 |");
    println!("|---|---|---|---|---|---|---|");
    rows.iter().for_each(|row| println!("{row}"));
}
