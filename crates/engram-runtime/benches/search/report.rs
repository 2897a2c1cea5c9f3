//! What one archive size measured, and the markdown tables printed at the end (with a summary of each size on
//! stderr as soon as it is done, so a long run shows its figures early).

use engram_core::search::SearchMode;
use engram_core::vector::IndexConfig;

use crate::embedding::EmbedFigures;
use crate::measure::{Latencies, thousands, verdict};
use crate::recall::IndexFigures;

/// One timed series of searches.
pub struct Series {
    pub label: String,
    pub mode: SearchMode,
    pub filtered: bool,
    pub latencies: Latencies,
}

impl Series {
    /// The hybrid p95 target for an archive of `rows` passages, when this series is a hybrid k=10 search.
    fn target(&self, rows: usize) -> Option<f64> {
        if self.mode != SearchMode::Hybrid || self.label != "hybrid" {
            return None;
        }
        Some(if rows <= IndexConfig::default().ann_threshold { 10.0 } else { 30.0 })
    }
}

pub struct SizeReport {
    pub rows: usize,
    /// Seconds inside `Store::insert_passages` for all rows.
    pub insert_seconds: f64,
    pub db_mib: f64,
    /// The first vector search, which loads the index.
    pub load_seconds: f64,
    /// MiB before the store was opened, after the inserts, after the index load.
    pub rss: [Option<f64>; 3],
    pub series: Vec<Series>,
    /// Recall@10 of the store's vector search against the exact answer: no filter, tag filter (when vector
    /// search was measured).
    pub recall: Option<(f64, f64)>,
    pub index: IndexFigures,
    /// Per measured query (in order), the passages containing one of its words.
    pub matching: Vec<usize>,
}

fn mib(value: Option<f64>) -> String {
    value.map_or_else(|| "?".to_owned(), |v| format!("{v:.0}"))
}

/// The store's recall, no filter / tag filter.
fn recall(size: &SizeReport) -> String {
    size.recall.map_or_else(|| "–".to_owned(), |(plain, filtered)| format!("{plain:.3} / {filtered:.3}"))
}

fn filter_name(filtered: bool) -> &'static str {
    if filtered { "tag (10%)" } else { "none" }
}

fn ms(latencies: &Latencies) -> String {
    format!("{:.2} / {:.2}", latencies.ms(0.5), latencies.ms(0.95))
}

/// One size's headline figures on stderr.
pub fn log_size(size: &SizeReport) {
    eprintln!(
        "{}: insert {:.0}/s, index load {:.2} s, RSS {} MiB, recall@10 {}",
        size.rows,
        size.rows as f64 / size.insert_seconds,
        size.load_seconds,
        mib(size.rss[2]),
        recall(size)
    );
    for series in &size.series {
        eprintln!(
            "{}: {:<32} {:<9} p50 {:8.2} ms  p95 {:8.2} ms  p99 {:8.2} ms",
            size.rows,
            series.label,
            filter_name(series.filtered),
            series.latencies.ms(0.5),
            series.latencies.ms(0.95),
            series.latencies.ms(0.99)
        );
    }
}

/// Shares of the archive a query's words match, as bucket bounds.
const MATCH_BUCKETS: [(f64, f64); 4] = [(0.0, 0.01), (0.01, 0.1), (0.1, 0.5), (0.5, 1.01)];

/// Text and hybrid latency (no filter, k = 10) by how many passages contain one of the query's words.
fn print_by_matches(sizes: &[SizeReport]) {
    println!();
    println!("| passages | passages containing a query word | queries | text p50 / p95 | hybrid p50 / p95 |");
    println!("|---:|---|---:|---:|---:|");
    for size in sizes {
        let series = |label: &str| size.series.iter().find(|s| s.label == label && !s.filtered);
        let (Some(text), Some(hybrid)) = (series("text"), series("hybrid")) else { continue };
        for (low, high) in MATCH_BUCKETS {
            let share = |i: usize| size.matching.get(i).map_or(0.0, |&m| m as f64 / size.rows as f64);
            let inside = |i: usize| (low..high).contains(&share(i));
            let (text, hybrid) = (text.latencies.select(inside), hybrid.latencies.select(inside));
            if text.len() == 0 {
                continue;
            }
            println!(
                "| {} | {:.0}–{:.0}% | {} | {} ms | {} ms |",
                thousands(size.rows),
                low * 100.0,
                high.min(1.0) * 100.0,
                text.len(),
                ms(&text),
                ms(&hybrid)
            );
        }
    }
}

pub fn print(sizes: &[SizeReport], embed: Option<&EmbedFigures>) {
    println!();
    println!(
        "| passages | insert (Store::insert_passages, vectors given) | database on disk | index load (first vector \
         search) | RSS before / after insert / after index load |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for size in sizes {
        println!(
            "| {} | {:.0} passages/s ({:.0} s) | {:.0} MiB | {:.2} s | {} / {} / {} MiB |",
            thousands(size.rows),
            size.rows as f64 / size.insert_seconds,
            size.insert_seconds,
            size.db_mib,
            size.load_seconds,
            mib(size.rss[0]),
            mib(size.rss[1]),
            mib(size.rss[2])
        );
    }

    println!();
    println!("| passages | mode | filter | n | p50 | p95 | p99 | target (p95) |");
    println!("|---:|---|---|---:|---:|---:|---:|---|");
    for size in sizes {
        for series in &size.series {
            let l = &series.latencies;
            let target = series
                .target(size.rows)
                .map_or(String::new(), |target| format!("≤ {target:.0} ms {}", verdict(l.ms(0.95) <= target)));
            println!(
                "| {} | {} | {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {target} |",
                thousands(size.rows),
                series.label,
                filter_name(series.filtered),
                l.len(),
                l.ms(0.5),
                l.ms(0.95),
                l.ms(0.99)
            );
        }
    }

    print_by_matches(sizes);

    println!();
    println!(
        "| passages | store's vector path | recall@10 of vector search, no filter / tag | exact scan alone, p50 / p95 \
         ms (no filter; tag) | HNSW build | graph search alone, p50 / p95 ms (no filter; tag) | graph alone recall@10 |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for size in sizes {
        let index = &size.index;
        let graph = index.graph.as_ref();
        let path = if graph.is_some() { "HNSW (auto)" } else { "exact scan" };
        let recall_target = match (graph, size.recall) {
            (Some(_), Some((recall, _))) => format!(" (≥ 0.95 {})", verdict(recall >= 0.95)),
            _ => String::new(),
        };
        println!(
            "| {} | {path} | {}{recall_target} | {}; {} | {} | {} | {} |",
            thousands(size.rows),
            recall(size),
            ms(&index.exact.0),
            ms(&index.exact.1),
            graph.map_or("–".to_owned(), |g| format!("{:.1} s", g.build_seconds)),
            graph.map_or("–".to_owned(), |g| format!("{}; {}", ms(&g.search), ms(&g.search_filtered))),
            graph.map_or("–".to_owned(), |g| format!("{:.3}", g.recall)),
        );
    }

    let Some(embed) = embed else {
        println!();
        println!("(real-model measurements skipped)");
        return;
    };
    println!();
    println!("Real model: all-MiniLM-L6-v2 from {} (loaded in {:.2} s)", embed.dir.display(), embed.load_seconds);
    println!();
    println!("| measurement | value |");
    println!("|---|---:|");
    println!(
        "| archival insert with embedding (`Retrieval::insert_passages`, {} passages in batches of {}) | {:.0} \
         passages/s |",
        thousands(embed.passages),
        embed.batch,
        embed.insert_per_second
    );
    println!("| the model alone on the same batches | {:.0} passages/s |", embed.embed_per_second);
    println!(
        "| embedding one query, p50 / p95 (n = {}) | {:.2} / {:.2} ms |",
        embed.query.len(),
        embed.query.ms(0.5),
        embed.query.ms(0.95)
    );
    println!(
        "| hybrid search through `Retrieval::search_passages`, query embedding included ({} passages), p50 / p95 | \
         {:.2} / {:.2} ms |",
        thousands(embed.passages),
        embed.hybrid.ms(0.5),
        embed.hybrid.ms(0.95)
    );
    println!(
        "| the bench's hybrid path gave `Retrieval`'s exact answer | {} of {} queries |",
        embed.identical,
        embed.hybrid.len()
    );
}
