//! Vector search benchmark: exact scan (1 and 2 threads) against our HNSW on synthetic embeddings, with build
//! time, memory, latency percentiles and recall@10 against the exact answer, printed as markdown tables.
//!
//! `cargo bench -p engram-core --bench vectors -- [--sizes 10000,100000,1000000] [--queries 200] [--dim 384]
//! [--data clustered|isotropic|uniform] [--ef auto,64,128] [--m 16] [--ef-construction 100] [--threads 2] [--quick]`

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
    /// Skip the f32 reference scans and the two-thread scans (graph tuning runs).
    quick: bool,
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
        ef: vec![0],
        m: HnswParams::default().m,
        ef_construction: HnswParams::default().ef_construction,
        threads: 2,
        quick: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    options.quick = args.iter().any(|arg| arg == "--quick");
    for pair in args.windows(2) {
        let value = pair[1].as_str();
        match pair[0].as_str() {
            "--sizes" => options.sizes = list(value),
            "--queries" => options.queries = list(value).first().copied().unwrap_or(200),
            "--dim" => options.dim = list(value).first().copied().unwrap_or(384),
            "--data" => options.data = value.to_owned(),
            "--ef" => {
                options.ef = value
                    .split(',')
                    .filter_map(|part| if part == "auto" { Some(0) } else { part.parse().ok() })
                    .collect()
            }
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
    // Attribute buckets 0..100; a filter `bucket < below` accepts `below`% of rows.
    let filters: [(&str, u32); 3] = [("none", 100), ("10%", 10), ("1%", 1)];
    let mut builds = Vec::new();
    let mut rows = Vec::new();
    for &n in &options.sizes {
        eprintln!("n = {n}: generating {} data", options.data);
        let data = points(n, dim, shape, 1, options.threads);
        let queries = queries_near(&data, dim, options.queries, shape, 2);
        let reference_queries = &queries[..queries.len().min(50 * dim)];
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
        let rows_in = data.chunks_exact(dim).zip(&buckets).enumerate().map(|(key, (row, &b))| (key as i64, row, b));
        let loaded = index.extend(rows_in);
        let load = start.elapsed();
        if let Err(error) = loaded {
            eprintln!("load failed: {error}");
            return;
        }
        drop(data);
        let set_bytes = index.memory_bytes();
        eprintln!("n = {n}: exact scans");
        let mut truths = Vec::new();
        for &(filter, below) in &filters {
            let thread_counts: &[usize] = if options.quick { &[1] } else { &[1, options.threads.max(2)] };
            for &threads in thread_counts {
                let (times, _) = run(if options.quick { &[] } else { reference_queries }, dim, |query| {
                    let hits = index.vectors().full_scan_threads(query, K, threads, |_, &b| b < below);
                    hits.iter().map(|hit| hit.key).collect()
                });
                if !times.is_empty() {
                    let (p50, p95) = percentiles(times);
                    rows.push(format!(
                        "| {n} | {filter} | exact, f32 scan | {threads} thr | {p50:.2} | {p95:.2} | 1.000 |"
                    ));
                }
                let (times, answers) = run(&queries, dim, |query| {
                    let hits = index.vectors().exact_search_threads(query, K, threads, |_, &b| b < below);
                    hits.iter().map(|hit| hit.key).collect()
                });
                let (p50, p95) = percentiles(times);
                rows.push(format!(
                    "| {n} | {filter} | exact, code-pruned | {threads} thr | {p50:.2} | {p95:.2} | 1.000 |"
                ));
                if threads == 1 {
                    truths.push(answers);
                }
            }
        }
        if options.ef.is_empty() {
            // `--ef ''`: exact scans only.
            continue;
        }
        eprintln!("n = {n}: building the graph");
        let start = Instant::now();
        index.set_ann_threshold(0);
        let build = start.elapsed();
        let graph_bytes = index.memory_bytes() - set_bytes;
        let auto_threshold = index.config().exact_filtered_max_rows;
        for &ef in &options.ef {
            index.set_ef_search(ef);
            let setting = if ef == 0 { format!("ef auto = {}", index.ef_search()) } else { format!("ef {ef}") };
            eprintln!("n = {n}: graph searches, {setting}");
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
                    let method = match path {
                        SearchPath::Auto if n * below as usize / 100 <= auto_threshold => "auto → exact",
                        SearchPath::Auto => "auto → hnsw",
                        _ => "hnsw",
                    };
                    let recall = recall(&answers, truth);
                    rows.push(format!("| {n} | {filter} | {method} | {setting} | {p50:.2} | {p95:.2} | {recall:.3} |"));
                }
            }
        }
        let (persist, restore) = match index.graph_to_bytes() {
            Some(bytes) => {
                let start = Instant::now();
                let restored = VectorIndex::restore(dim, index.config().clone(), index.vectors().iter(), &bytes);
                let took = start.elapsed().as_secs_f64();
                let outcome = if restored.is_ok() { format!("{took:.1}") } else { "failed".to_owned() };
                (format!("{:.0}", mib(bytes.len())), outcome)
            }
            None => ("-".to_owned(), "-".to_owned()),
        };
        builds.push(format!(
            "| {n} | {} | {:.1} | {:.1} | {:.0} | {:.0} | {persist} | {restore} |",
            options.data,
            load.as_secs_f64(),
            build.as_secs_f64(),
            mib(set_bytes),
            mib(graph_bytes),
        ));
    }
    println!(
        "\n### Build (dim {dim}, m {}, ef_construction {}, {} threads)\n",
        options.m, options.ef_construction, options.threads
    );
    println!("| n | data | load s | graph build s | rows + codes MiB | graph MiB | graph bytes MiB | restore s |");
    println!("|---|---|---|---|---|---|---|---|");
    builds.iter().for_each(|row| println!("{row}"));
    println!(
        "\n### Queries ({} queries near stored points, k = {K}; f32-scan rows on the first 50; recall@10 against the exact answer)\n",
        options.queries
    );
    println!("| n | filter | method | setting | p50 ms | p95 ms | recall@10 |");
    println!("|---|---|---|---|---|---|---|");
    rows.iter().for_each(|row| println!("{row}"));
}
