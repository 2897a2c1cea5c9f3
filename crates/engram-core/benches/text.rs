//! Full-text search benchmark: `TextIndex` build time, memory and search latency on a synthetic English-like corpus,
//! printed as a markdown table.
//!
//! The corpus is deterministic: passages of 8–60 words drawn from a vocabulary of 50,000 made-up words with Zipf
//! frequencies (some inflected with -s, -ing, -ed), with English function words mixed in as real text has them
//! (about two words in five). Queries are 2–6 words mixing function words, words drawn with corpus frequencies
//! (often common) and rarer words, as questions are. Each query runs unfiltered and with a filter accepting about
//! 10% of rows (an attribute bucket test, as a time-range filter would be).
//!
//! `cargo bench -p engram-core --bench text -- [--sizes 10000,100000,1000000] [--queries 300] [--k 10,50]
//! [--passes 3] [--slowest 10] [--load-only]`
//!
//! Search latencies are single-threaded: each query's median over `--passes` passes, after one warm-up pass. `k`
//! 50 is what a hybrid search asks the text side for by default (its candidate pool for a top 10). Load CPU time is
//! the loading thread's own, which other work on the machine inflates less than wall time.

use std::time::{Duration, Instant};

use engram_core::search::STOP_WORDS;
use engram_core::text_index::{TextIndex, query_terms};

const VOCABULARY: usize = 50_000;
/// Zipf exponent of content words.
const ZIPF: f64 = 1.0;
/// Share of a passage's words that are function words.
const STOP_SHARE: f64 = 0.4;

struct Options {
    sizes: Vec<usize>,
    queries: usize,
    /// Result counts asked for (`--k 10,50`).
    k: Vec<usize>,
    /// Print this many slowest queries with their terms' row counts.
    slowest: usize,
    /// Measured passes over the queries (after one warm-up pass); each query's median is reported.
    passes: usize,
    /// Only load (for profiling the load).
    load_only: bool,
}

fn list(value: &str) -> Vec<usize> {
    value.split(',').filter_map(|part| part.trim().replace('_', "").parse().ok()).collect()
}

fn options() -> Options {
    let mut options = Options {
        sizes: vec![10_000, 100_000, 1_000_000],
        queries: 300,
        k: vec![10, 50],
        slowest: 0,
        passes: 3,
        load_only: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    options.load_only = args.iter().any(|arg| arg == "--load-only");
    for pair in args.windows(2) {
        let value = pair[1].as_str();
        match pair[0].as_str() {
            "--sizes" => options.sizes = list(value),
            "--queries" => options.queries = list(value).first().copied().unwrap_or(300),
            "--k" => options.k = list(value),
            "--passes" => options.passes = list(value).first().copied().unwrap_or(3).max(1),
            "--slowest" => options.slowest = list(value).first().copied().unwrap_or(0),
            _ => {}
        }
    }
    options
}

/// Deterministic pseudo-random numbers (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Made-up words, distinct, built from syllables; index = frequency rank.
fn vocabulary() -> Vec<String> {
    const ONSETS: &[&str] = &[
        "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "br", "ch", "cl", "dr", "fl",
        "gr", "pl", "pr", "sh", "st", "th", "tr",
    ];
    const NUCLEI: &[&str] = &["a", "e", "i", "o", "u", "ai", "ea", "ee", "oo", "ou"];
    const CODAS: &[&str] = &["", "", "n", "r", "l", "s", "t", "m", "nd", "st", "ck", "ng"];
    let mut rng = Rng(42);
    let mut seen = std::collections::HashSet::new();
    let mut words = Vec::with_capacity(VOCABULARY);
    while words.len() < VOCABULARY {
        // Common words are short, rare words long, as in English.
        let syllables = 1 + (words.len() > 300) as usize + (words.len() > 5_000) as usize + rng.below(2);
        let mut word = String::new();
        for _ in 0..syllables {
            word.push_str(ONSETS[rng.below(ONSETS.len())]);
            word.push_str(NUCLEI[rng.below(NUCLEI.len())]);
            word.push_str(CODAS[rng.below(CODAS.len())]);
        }
        if STOP_WORDS.contains(&word.as_str()) || !seen.insert(word.clone()) {
            continue;
        }
        words.push(word);
    }
    words
}

/// Samples ranks `0..n` with probability proportional to `1 / (rank + 1)^s`.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|rank| {
                total += 1.0 / ((rank + 1) as f64).powf(s);
                total
            })
            .collect::<Vec<_>>();
        Self { cumulative: cumulative.iter().map(|c| c / total).collect() }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cumulative.partition_point(|&c| c < u).min(self.cumulative.len() - 1)
    }
}

struct Corpus {
    words: Vec<String>,
    content: Zipf,
    stop: Zipf,
}

impl Corpus {
    fn new() -> Self {
        Self { words: vocabulary(), content: Zipf::new(VOCABULARY, ZIPF), stop: Zipf::new(STOP_WORDS.len(), 1.0) }
    }

    fn stop_word(&self, rng: &mut Rng) -> &'static str {
        STOP_WORDS[self.stop.sample(rng)]
    }

    fn push_content_word(&self, rank: usize, rng: &mut Rng, out: &mut String) {
        out.push_str(&self.words[rank]);
        let inflection = rng.below(10);
        if inflection < 2 {
            out.push_str(["s", "ing", "ed", "s"][rng.below(4)]);
        }
    }

    /// Passages end to end in one string, with where each ends.
    fn passages(&self, n: usize, seed: u64) -> (String, Vec<usize>) {
        let mut rng = Rng(seed);
        let mut text = String::with_capacity(n * 260);
        let mut ends = Vec::with_capacity(n);
        for _ in 0..n {
            let words = 8 + rng.below(53);
            for i in 0..words {
                if i > 0 {
                    text.push_str(if rng.below(12) == 0 { ". " } else { " " });
                }
                if rng.unit() < STOP_SHARE {
                    text.push_str(self.stop_word(&mut rng));
                } else {
                    let rank = self.content.sample(&mut rng);
                    self.push_content_word(rank, &mut rng, &mut text);
                }
            }
            text.push('.');
            ends.push(text.len());
        }
        (text, ends)
    }

    fn query(&self, rng: &mut Rng) -> String {
        let words = 2 + rng.below(5);
        let mut query = String::new();
        for i in 0..words {
            if i > 0 {
                query.push(' ');
            }
            let kind = rng.unit();
            if kind < 0.25 {
                query.push_str(self.stop_word(rng));
            } else if kind < 0.6 {
                let rank = self.content.sample(rng);
                self.push_content_word(rank, rng, &mut query);
            } else {
                let rank = 100 + rng.below(VOCABULARY - 100);
                self.push_content_word(rank, rng, &mut query);
            }
        }
        query.push('?');
        query
    }
}

/// CPU time this thread has run, where the system reports it (Linux): with other work on the machine, wall time
/// alone overstates the load.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

/// p50, p95 and max, in milliseconds.
fn percentiles(mut times: Vec<Duration>) -> (f64, f64, f64) {
    times.sort();
    let at = |q: f64| ms(times[((times.len() - 1) as f64 * q).round() as usize]);
    (at(0.50), at(0.95), at(1.0))
}

fn main() {
    let options = options();
    let corpus = Corpus::new();
    let mut rng = Rng(7);
    let queries: Vec<String> = (0..options.queries.max(1)).map(|_| corpus.query(&mut rng)).collect();
    let mut builds = Vec::new();
    let mut searches = Vec::new();
    for &n in &options.sizes {
        eprintln!("n = {n}: generating passages");
        let (text, ends) = corpus.passages(n, 1);
        let passage = |i: usize| &text[if i == 0 { 0 } else { ends[i - 1] }..ends[i]];
        // An attribute bucket 0..128 per row; `bucket < 13` accepts about 10% of rows.
        let bucket = |key: i64| ((key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 57) as u8;
        eprintln!("n = {n}: loading");
        let mut index: TextIndex<u8> = TextIndex::new();
        let (start, cpu_start) = (Instant::now(), cpu_time());
        index.extend((0..n).map(|i| (i as i64, passage(i), bucket(i as i64))));
        let load = start.elapsed();
        let load_cpu = cpu_time().zip(cpu_start).map(|(end, start)| end.saturating_sub(start)).unwrap_or_default();
        let memory = index.memory_bytes();
        eprintln!(
            "n = {n}: loaded in {:.2} s ({:.2} s on the CPU), {memory} bytes",
            load.as_secs_f64(),
            load_cpu.as_secs_f64()
        );
        if options.load_only {
            continue;
        }
        // Inserting row by row (as writes do), timed over at most 100k rows.
        let inserted = n.min(100_000);
        let mut by_one: TextIndex<u8> = TextIndex::new();
        let start = Instant::now();
        for i in 0..inserted {
            by_one.insert(i as i64, passage(i), 0);
        }
        let insert = start.elapsed();
        drop(by_one);
        builds.push(format!(
            "| {n} | {:.2} s ({:.0}k rows/s) | {:.2} s | {:.0}k rows/s | {:.0} B | {:.0} MiB | {} | {:.1} |",
            load.as_secs_f64(),
            n as f64 / load.as_secs_f64() / 1_000.0,
            load_cpu.as_secs_f64(),
            inserted as f64 / insert.as_secs_f64() / 1_000.0,
            memory as f64 / n as f64,
            memory as f64 / (1024.0 * 1024.0),
            index.term_count(),
            index.total_tokens() as f64 / n as f64,
        ));
        eprintln!(
            "n = {n}: {} of the {} query terms are in at least 10% of rows",
            common_terms(&index, &queries, n),
            queries.iter().map(|q| query_terms(q).len()).sum::<usize>()
        );
        for &k in &options.k {
            for (filter, below) in [("none", 128u8), ("~10%", 13)] {
                // One warm-up pass, then the measured ones; each query's time is its median over those (other
                // work on the machine preempts a pass now and then).
                let mut passes: Vec<Vec<Duration>> = Vec::new();
                let mut hits = 0;
                for pass in 0..=options.passes {
                    let mut times = Vec::with_capacity(queries.len());
                    hits = 0;
                    for query in &queries {
                        let start = Instant::now();
                        let found = index.search(query, k, |_, &b| b < below);
                        times.push(start.elapsed());
                        hits += found.len();
                        std::hint::black_box(found);
                    }
                    if pass > 0 {
                        passes.push(times);
                    }
                }
                let times: Vec<Duration> = (0..queries.len())
                    .map(|i| {
                        let mut runs: Vec<Duration> = passes.iter().map(|times| times[i]).collect();
                        runs.sort();
                        runs[runs.len() / 2]
                    })
                    .collect();
                if options.slowest > 0 {
                    let mut order: Vec<usize> = (0..queries.len()).collect();
                    order.sort_by_key(|&i| std::cmp::Reverse(times[i]));
                    for &i in order.iter().take(options.slowest) {
                        let terms: Vec<String> = query_terms(&queries[i])
                            .iter()
                            .map(|term| format!("{term}:{}", rows_holding(&index, term)))
                            .collect();
                        eprintln!("  k {k} {filter} {:.3} ms {:?} -> {}", ms(times[i]), queries[i], terms.join(" "));
                    }
                }
                let (p50, p95, max) = percentiles(times);
                let row = format!(
                    "| {n} | {k} | {filter} | {p50:.3} ms | {p95:.3} ms | {max:.3} ms | {:.1} |",
                    hits as f64 / queries.len() as f64
                );
                eprintln!("{row}");
                searches.push(row);
            }
        }
    }
    println!(
        "| rows | load (`extend`) | load CPU | `insert` one by one | memory / row | memory | terms | tokens / row |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in &builds {
        println!("{row}");
    }
    println!();
    println!("| rows | k | filter | search p50 | p95 | max | hits / query |");
    println!("|---:|---:|---|---:|---:|---:|---:|");
    for row in &searches {
        println!("{row}");
    }
}

/// Query terms found in at least 10% of rows (how many common words the queries carry), counted by searching each
/// term alone with a filter that counts matches.
fn common_terms(index: &TextIndex<u8>, queries: &[String], n: usize) -> usize {
    let mut common = 0;
    for query in queries {
        for term in query_terms(query) {
            common += usize::from(rows_holding(index, &term) * 10 >= n);
        }
    }
    common
}

/// Rows holding `term`, counted by searching it alone with a filter that counts and refuses every row.
fn rows_holding(index: &TextIndex<u8>, term: &str) -> usize {
    let mut matches = 0usize;
    index.search(term, 1, |_, _| {
        matches += 1;
        false
    });
    matches
}
