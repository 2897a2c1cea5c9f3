//! The benchmark's synthetic archive: passage texts with a Zipf-like word distribution, one of ten tags per
//! passage, 384-d clustered embeddings, and queries made from stored passages. Everything is a pure function of
//! the row number and a seed, so a row can be regenerated later (for the exact ground truth) instead of kept.
//!
//! Vectors follow `engram_core::vector::synthetic`'s model (`Shape::CLUSTERED`: topic centres plus noise whose
//! per-axis scale decays, like real sentence embeddings); that module makes whole arrays at once, so the rows are
//! generated here one at a time from its `Rng` and `Shape`.

use std::collections::HashMap;

use engram_core::search::is_stop_word;

use crate::synthetic::{Rng, Shape};

/// Words in the vocabulary: a common-English head followed by generated words for the long tail.
pub const VOCABULARY: usize = 4_000;
/// Zipf exponent of word frequencies (1.0: the classic law of natural text).
const ZIPF_EXPONENT: f64 = 1.0;
/// Words per passage, inclusive.
const WORDS: (usize, usize) = (8, 25);
/// Words per query, inclusive.
const QUERY_WORDS: (usize, usize) = (2, 4);
/// Tags `t0`..`t9`, one per passage, uniformly: a one-tag filter accepts about 10% of rows.
pub const TAGS: usize = 10;

/// The most frequent ranks, in rough order of English frequency, so real text sits at the head of the
/// distribution (and the real embedding model sees some real words).
const HEAD: &[&str] = &[
    "the", "of", "and", "to", "a", "in", "is", "it", "you", "that", "he", "was", "for", "on", "are", "with", "as", "i",
    "his", "they", "be", "at", "one", "have", "this", "from", "or", "had", "by", "not", "word", "but", "what", "some",
    "we", "can", "out", "other", "were", "all", "there", "when", "up", "use", "your", "how", "said", "an", "each",
    "she", "which", "do", "their", "time", "if", "will", "way", "about", "many", "then", "them", "write", "would",
    "like", "so", "these", "her", "long", "make", "thing", "see", "him", "two", "has", "look", "more", "day", "could",
    "go", "come", "did", "number", "sound", "no", "most", "people", "my", "over", "know", "water", "than", "call",
    "first", "who", "may", "down", "side", "been", "now", "find", "any", "new", "work", "part", "take", "get", "place",
    "made", "live", "where", "after", "back", "little", "only", "round", "man", "year", "came", "show", "every",
    "good",
];
const ONSETS: [&str; 16] = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st"];
const VOWELS: [&str; 5] = ["a", "e", "i", "o", "u"];

/// The word of frequency rank `rank` (0 is the most frequent).
fn word(rank: usize) -> String {
    if let Some(head) = HEAD.get(rank) {
        return (*head).to_owned();
    }
    // Tail words: three consonant-vowel syllables from the digits of the rank, distinct by construction.
    let syllables = ONSETS.len() * VOWELS.len();
    let mut n = rank - HEAD.len();
    let mut out = String::new();
    for _ in 0..3 {
        let syllable = n % syllables;
        n /= syllables;
        out.push_str(ONSETS[syllable % ONSETS.len()]);
        out.push_str(VOWELS[(syllable / ONSETS.len()) % VOWELS.len()]);
    }
    out.push('n');
    out
}

/// Per-axis noise scales of total length `spread` (as in `synthetic`).
fn scales(dim: usize, shape: Shape) -> Vec<f32> {
    let raw: Vec<f64> = (0..dim).map(|axis| ((axis + 1) as f64).powf(-f64::from(shape.decay))).collect();
    let total = raw.iter().map(|s| s * s).sum::<f64>().sqrt();
    raw.iter().map(|s| (s / total * f64::from(shape.spread)) as f32).collect()
}

fn unit(v: &mut [f32]) {
    let length = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if length > 0.0 {
        v.iter_mut().for_each(|x| *x = (f64::from(*x) / length) as f32);
    }
}

/// A query: words from a stored passage, and a vector near that passage's.
pub struct Query {
    pub text: String,
    pub vector: Vec<f32>,
}

/// The generator of one archive.
pub struct Corpus {
    seed: u64,
    dim: usize,
    words: Vec<String>,
    /// Cumulative word probabilities by rank.
    cdf: Vec<f64>,
    centres: Vec<Vec<f32>>,
    scales: Vec<f32>,
    query_scales: Vec<f32>,
}

impl Corpus {
    pub fn new(dim: usize, seed: u64) -> Self {
        let shape = Shape::CLUSTERED;
        let weights: Vec<f64> = (0..VOCABULARY).map(|r| ((r + 1) as f64).powf(-ZIPF_EXPONENT)).collect();
        let total: f64 = weights.iter().sum();
        let mut running = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                running += w / total;
                running
            })
            .collect();
        let mut rng = Rng::new(seed);
        let centres = (0..shape.clusters)
            .map(|_| {
                let mut centre: Vec<f32> = (0..dim).map(|_| rng.gaussian()).collect();
                unit(&mut centre);
                centre
            })
            .collect();
        Self {
            seed,
            dim,
            words: (0..VOCABULARY).map(word).collect(),
            cdf,
            centres,
            scales: scales(dim, shape),
            query_scales: scales(dim, Shape { spread: shape.spread / 2.0, ..shape }),
        }
    }

    fn rng(&self, stream: u64, n: usize) -> Rng {
        Rng::new(
            self.seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (n as u64).wrapping_mul(0x2545_f491_4f6c_dd1d),
        )
    }

    fn zipf_word(&self, rng: &mut Rng) -> &str {
        let u = rng.uniform();
        let rank = self.cdf.partition_point(|&c| c < u).min(VOCABULARY - 1);
        &self.words[rank]
    }

    /// Passage text of `row`.
    pub fn text(&self, row: usize) -> String {
        let mut rng = self.rng(1, row);
        let count = WORDS.0 + rng.below(WORDS.1 - WORDS.0 + 1);
        let words: Vec<&str> = (0..count).map(|_| self.zipf_word(&mut rng)).collect();
        words.join(" ")
    }

    /// Tag index of `row`, independent of its text and vector.
    pub fn tag(&self, row: usize) -> usize {
        self.rng(2, row).below(TAGS)
    }

    /// Normalised embedding of `row`: its topic centre plus decaying noise.
    pub fn vector(&self, row: usize) -> Vec<f32> {
        let mut rng = self.rng(3, row);
        let centre = &self.centres[rng.below(self.centres.len())];
        let mut v: Vec<f32> = centre.iter().zip(&self.scales).map(|(c, s)| c + s * rng.gaussian()).collect();
        unit(&mut v);
        v
    }

    /// `count` queries about rows drawn from `0..rows`: 2–4 distinct words of the row's text, at least one of them
    /// not a function word (`engram_core::search::is_stop_word`), and its vector moved by half the data's noise.
    pub fn queries(&self, rows: usize, count: usize) -> Vec<Query> {
        let mut rng = self.rng(4, rows);
        (0..count)
            .map(|_| {
                let source = rng.below(rows);
                let text = self.text(source);
                let mut words: Vec<&str> = text.split(' ').collect();
                words.sort_unstable();
                words.dedup();
                let wanted = (QUERY_WORDS.0 + rng.below(QUERY_WORDS.1 - QUERY_WORDS.0 + 1)).min(words.len());
                let mut picked = Vec::with_capacity(wanted);
                while picked.len() < wanted {
                    picked.push(words.swap_remove(rng.below(words.len())));
                }
                // A question carries at least one content word ("the of" is nobody's query): when every word
                // drawn is a function word, the last one is swapped for one of the row's other words.
                let content: Vec<&str> = words.iter().copied().filter(|w| !is_stop_word(w)).collect();
                if picked.iter().all(|w| is_stop_word(w))
                    && let (Some(last), false) = (picked.last_mut(), content.is_empty())
                {
                    *last = content[rng.below(content.len())];
                }
                let mut vector: Vec<f32> =
                    self.vector(source).iter().zip(&self.query_scales).map(|(x, s)| x + s * rng.gaussian()).collect();
                unit(&mut vector);
                Query { text: picked.join(" "), vector }
            })
            .collect()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }
}

/// Counts, for each query, the passages containing at least one of its words: what the full-text search has to
/// score (its query is the words joined by OR).
pub struct MatchCounter {
    /// Word → the queries that contain it.
    by_word: HashMap<String, Vec<usize>>,
    /// Per query, the last row counted plus one (so a row with two of its words counts once).
    last: Vec<usize>,
    counts: Vec<usize>,
}

impl MatchCounter {
    pub fn new(queries: &[Query]) -> Self {
        let mut by_word: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, query) in queries.iter().enumerate() {
            for word in query.text.split(' ') {
                by_word.entry(word.to_owned()).or_default().push(i);
            }
        }
        Self { by_word, last: vec![0; queries.len()], counts: vec![0; queries.len()] }
    }

    /// Counts row `row`, whose text is `text`.
    pub fn add(&mut self, row: usize, text: &str) {
        for word in text.split(' ') {
            for &query in self.by_word.get(word).map_or(&[][..], Vec::as_slice) {
                if self.last[query] != row + 1 {
                    self.last[query] = row + 1;
                    self.counts[query] += 1;
                }
            }
        }
    }

    pub fn into_counts(self) -> Vec<usize> {
        self.counts
    }
}
