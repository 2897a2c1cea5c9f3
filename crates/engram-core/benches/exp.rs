#[path = "../src/vector/synthetic.rs"]
mod synthetic;
use engram_core::vector::*;
use std::time::Instant;
fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20000);
    let threads: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    let dim = 384;
    let data = synthetic::points(n, dim, synthetic::Shape::CLUSTERED, 1, 2);
    let mut index = VectorIndex::new(
        dim,
        IndexConfig { ann_threshold: usize::MAX, build_threads: threads, ..IndexConfig::default() },
    );
    index.extend(data.chunks_exact(dim).enumerate().map(|(k, r)| (k as i64, r, ()))).unwrap();
    let q = synthetic::queries_near(&data, dim, 50, synthetic::Shape::CLUSTERED, 2);
    for t in [1, 2] {
        let s = Instant::now();
        for qq in q.chunks_exact(dim) {
            let _ = index.vectors().full_scan_threads(qq, 10, t, |_, _| true);
        }
        let full = s.elapsed().as_secs_f64() * 20.0;
        let s = Instant::now();
        for qq in q.chunks_exact(dim) {
            let _ = index.vectors().exact_search_threads(qq, 10, t, |_, _| true);
        }
        println!("{t} thr: full scan {full:.2} ms, pruned {:.2} ms", s.elapsed().as_secs_f64() * 20.0);
    }
    let t = Instant::now();
    index.set_ann_threshold(0);
    println!("build {threads} thread(s) {:.2} s", t.elapsed().as_secs_f64());
}
