//! Local embedding speed: sentences per second when embedding LoCoMo-like conversation turns in bulk (in calls of
//! several sizes), and the latency of embedding one sentence (as a search query does), p50/p95. Prints a table.
//!
//! Run: `cargo bench -p engram-embed --bench embed` (model from `ENGRAM_EMBEDDING_MODEL_DIR`, else
//! `engram-data/models/all-minilm-l6-v2`; install it with `scripts/fetch-model`). `RAYON_NUM_THREADS` sets how many
//! threads candle's matrix products use (default: the physical cores).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use engram_embed::{Embedder, LocalEmbedder};

const SPEAKERS: [&str; 4] = ["Caroline", "Melanie", "Jon", "Gina"];
const OPENINGS: [&str; 8] = [
    "Hey, guess what happened yesterday:",
    "I've been thinking a lot about",
    "Thanks for asking! Lately I've been into",
    "Remember when we talked about",
    "It was such a great weekend, we spent it on",
    "Honestly I'm a bit nervous about",
    "My kids loved",
    "After the support group I finally decided on",
];
const TOPICS: [&str; 10] = [
    "the pottery class downtown and the bowl I painted for my mom",
    "adopting a dog from the shelter, she is a shy little terrier",
    "my new job at the dance studio and teaching the beginners on Thursdays",
    "the camping trip to the lake where we saw shooting stars",
    "going back to school to study counseling and mental health",
    "the charity run for the children's hospital last Sunday",
    "painting a sunset over the ocean with my watercolours",
    "the book club reading Becoming Nicole, which moved me a lot",
    "moving into the new apartment near the park with my partner",
    "volunteering at the LGBTQ youth center every other weekend",
];
const ENDINGS: [&str; 6] = [
    "",
    " What about you?",
    " It felt really good.",
    " I'll send you pictures later!",
    " Anyway, how's your family doing these days?",
    " I think it changed how I see myself, and I want to keep going with it even when life gets busy again.",
];

/// `count` conversation turns of varied length (8 to 60 words), deterministic.
fn sentences(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            format!(
                "{}: {} {}.{}",
                SPEAKERS[i % SPEAKERS.len()],
                OPENINGS[(i / 3) % OPENINGS.len()],
                TOPICS[(i * 7) % TOPICS.len()],
                ENDINGS[(i / 2) % ENDINGS.len()]
            )
        })
        .collect()
}

fn model_dir() -> PathBuf {
    match std::env::var_os("ENGRAM_EMBEDDING_MODEL_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../engram-data/models/all-minilm-l6-v2"),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

/// CPU time this process has used so far (user + system), from `/proc/self/stat`; `None` where there is none.
/// Wall time on a shared machine depends on the neighbours; CPU time per sentence much less so, and spinning
/// threads show up in it.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces); utime and stime are the 12th
    // and 13th of them, in clock ticks (100 per second on Linux).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn cpu_ms_per_sentence(before: Option<Duration>, sentences: usize) -> String {
    match (before, cpu_time()) {
        (Some(before), Some(after)) => format!("{:.1}", millis(after - before) / sentences as f64),
        _ => "n/a".to_owned(),
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = model_dir();
    let started = Instant::now();
    let embedder = LocalEmbedder::load(&dir).unwrap_or_else(|error| panic!("{error}"));
    let load = started.elapsed();
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into());
    let load_average = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "local embedding bench: all-MiniLM-L6-v2, {} CPUs, RAYON_NUM_THREADS={threads}, model load {:.0} ms, load \
         average {}",
        std::thread::available_parallelism().map(usize::from).unwrap_or(0),
        millis(load),
        load_average.split_whitespace().next().unwrap_or("n/a")
    );

    let corpus = sentences(512);
    let words: usize = corpus.iter().map(|s| s.split_whitespace().count()).sum();
    println!("corpus: {} sentences, {:.1} words on average", corpus.len(), words as f64 / corpus.len() as f64);
    runtime.block_on(async {
        // Warm up: the first call pays for page faults and thread start-up.
        embedder.embed(&corpus[..64]).await.unwrap();

        println!();
        println!("| call size | calls | sentences | seconds | sentences/s | CPU ms/sentence |");
        println!("|----------:|------:|----------:|--------:|------------:|----------------:|");
        for call_size in [512, 64, 8] {
            let cpu_before = cpu_time();
            let started = Instant::now();
            let mut calls = 0;
            for chunk in corpus.chunks(call_size) {
                let vectors = embedder.embed(chunk).await.unwrap();
                assert_eq!(vectors.len(), chunk.len());
                calls += 1;
            }
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "| {call_size:>9} | {calls:>5} | {:>9} | {seconds:>7.2} | {:>11.1} | {:>15} |",
                corpus.len(),
                corpus.len() as f64 / seconds,
                cpu_ms_per_sentence(cpu_before, corpus.len())
            );
        }

        let mut latencies = Vec::new();
        let cpu_before = cpu_time();
        for sentence in corpus.iter().take(200) {
            let one = std::slice::from_ref(sentence);
            let started = Instant::now();
            embedder.embed(one).await.unwrap();
            latencies.push(started.elapsed());
        }
        let cpu = cpu_ms_per_sentence(cpu_before, latencies.len());
        latencies.sort();
        println!();
        println!("| single sentence | p50 ms | p95 ms | max ms | CPU ms/sentence |");
        println!("|-----------------|-------:|-------:|-------:|----------------:|");
        println!(
            "| {:>3} queries     | {:>6.1} | {:>6.1} | {:>6.1} | {cpu:>15} |",
            latencies.len(),
            millis(percentile(&latencies, 0.5)),
            millis(percentile(&latencies, 0.95)),
            millis(*latencies.last().unwrap())
        );
    });
}
