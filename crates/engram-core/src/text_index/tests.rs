//! `TextIndex` against a brute-force BM25 written from the formula, over random corpora with inserts, replacements,
//! removals and rebuilds interleaved; filters; the statistics the index keeps; and inputs that must not panic.

use std::cell::Cell;
use std::collections::BTreeMap;

use hashbrown::HashMap;

use super::bm25::{Norm, saturation};
use super::index::DEAD;
use super::postings::BLOCK_LEN;
use super::{TextHit, TextIndex, document_terms, query_terms};

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

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Skewed towards small numbers: index `i` about `1 / (i + 1)` as likely as 0.
    fn skewed(&mut self, n: usize) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        (((n as f64 + 1.0).powf(u) - 1.0) as usize).min(n - 1)
    }
}

#[rustfmt::skip]
const WORDS: &[&str] = &[
    "the", "cat", "cats", "running", "run", "runs", "Lisbon", "café", "cafe", "dog", "a", "of", "is", "melody",
    "melodies", "piano", "violin", "sunset", "garden", "gardening", "gardens", "paint", "painted", "painting",
    "hike", "hiking", "mountain", "river", "2023", "42", "coffee", "tea", "book", "books", "read", "reading",
    "Caroline", "Melanie", "support", "group", "adoption", "agency", "camping", "beach", "friend", "friends",
    "school", "teacher", "concert", "festival", "zebra", "quantum", "xylophone", "ñandú", "Ωmega", "naïve",
];

fn random_text(rng: &mut Rng) -> String {
    let words = rng.below(25);
    let mut text = String::new();
    for i in 0..words {
        if i > 0 {
            text.push_str([" ", ", ", ". ", " - ", "\n"][rng.below(5)]);
        }
        text.push_str(WORDS[rng.skewed(WORDS.len())]);
    }
    text
}

fn random_query(rng: &mut Rng) -> String {
    let words = 1 + rng.below(5);
    (0..words).map(|_| WORDS[rng.below(WORDS.len())]).collect::<Vec<_>>().join(" ")
}

/// The same rows kept as plain term counts, searched by scoring every row from the formula.
#[derive(Default)]
struct Reference {
    /// Key → (term → count, length, attribute).
    rows: BTreeMap<i64, (HashMap<String, u32>, u64, u32)>,
}

impl Reference {
    fn insert(&mut self, key: i64, text: &str, attr: u32) {
        let terms = document_terms(text);
        let mut counts: HashMap<String, u32> = HashMap::new();
        for term in &terms {
            *counts.entry(term.clone()).or_default() += 1;
        }
        self.rows.insert(key, (counts, terms.len() as u64, attr));
    }

    fn remove(&mut self, key: i64) -> bool {
        self.rows.remove(&key).is_some()
    }

    fn total_tokens(&self) -> u64 {
        self.rows.values().map(|(_, len, _)| len).sum()
    }

    fn search(&self, query: &str, k: usize, accept: impl Fn(i64, &u32) -> bool) -> Vec<TextHit> {
        let (k1, b) = (1.2, 0.75);
        let n = self.rows.len() as f64;
        let avgdl = self.total_tokens() as f64 / n;
        let terms = query_terms(query);
        let idfs: Vec<f64> = terms
            .iter()
            .map(|term| {
                let holding = self.rows.values().filter(|(counts, _, _)| counts.contains_key(term)).count() as f64;
                let idf = ((n - holding + 0.5) / (holding + 0.5)).ln();
                if idf <= 0.0 { 1e-6 } else { idf }
            })
            .collect();
        let mut hits: Vec<TextHit> = Vec::new();
        for (&key, (counts, len, attr)) in &self.rows {
            let dl = *len as f64;
            let mut score = 0.0;
            let mut matched = false;
            for (term, idf) in terms.iter().zip(&idfs) {
                let tf = f64::from(counts.get(term).copied().unwrap_or(0));
                if tf > 0.0 {
                    matched = true;
                    score += idf * (tf * (k1 + 1.0)) / (tf + k1 * (1.0 - b + b * dl / avgdl));
                }
            }
            if matched && accept(key, attr) {
                hits.push(TextHit { key, score });
            }
        }
        hits.sort_by(|x, y| y.score.total_cmp(&x.score).then(x.key.cmp(&y.key)));
        hits.truncate(k);
        hits
    }
}

/// Same hits in the same order with the same scores (to 1e-9 relative); two rows may swap places only where their
/// scores are that close (different sums of different terms can round differently).
fn assert_same_hits(got: &[TextHit], want: &[TextHit], context: &str) {
    assert_eq!(got.len(), want.len(), "{context}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        let close = (g.score - w.score).abs() <= 1e-9 * w.score.abs().max(1e-12);
        assert!(close, "{context}: score {} vs {}\n{got:?}\n{want:?}", g.score, w.score);
        assert!(g.key == w.key || close, "{context}: {got:?} vs {want:?}");
    }
}

/// Checks every statistic the index keeps against its rows, and its postings against its term lists.
fn assert_consistent<A: Copy>(index: &TextIndex<A>) {
    let live = index.lens.iter().filter(|&&len| len != DEAD).count();
    assert_eq!(live, index.len());
    assert_eq!(index.lens.len() - live, index.dead_rows);
    let tokens: u64 = index.lens.iter().filter(|&&len| len != DEAD).map(|&len| u64::from(len)).sum();
    assert_eq!(tokens, index.total_tokens());
    for (ord, &len) in index.lens.iter().enumerate() {
        if len != DEAD {
            let key = index.keys.key(ord as u32).unwrap();
            assert_eq!(index.ordinal(key), Some(ord as u32), "the live row of key {key}");
        }
    }
    assert_eq!(index.keys.rows(), index.lens.len());
    // term → ordinal → count, from the term lists of live rows.
    let mut expected: HashMap<u32, BTreeMap<u32, u32>> = HashMap::new();
    for (ord, &len) in index.lens.iter().enumerate() {
        if len == DEAD {
            continue;
        }
        let mut total = 0;
        for (term, count) in index.forward.row(ord as u32) {
            expected.entry(term).or_default().insert(ord as u32, count);
            total += count;
        }
        assert_eq!(total, len, "row {ord}'s counts add up to its length");
    }
    assert!(index.terms.len() <= index.vocabulary.len());
    for (term, stats) in index.terms.iter().enumerate() {
        let rows = expected.get(&(term as u32)).cloned().unwrap_or_default();
        assert_eq!(stats.rows as usize, rows.len(), "rows holding {:?}", index.vocabulary.stem_of(term as u32));
        let mut listed = BTreeMap::new();
        let mut previous = None;
        for part in index.postings.parts(term as u32) {
            for (&ord, &byte) in part.ords.iter().zip(part.counts) {
                assert!(previous < Some(ord), "postings ascend");
                previous = Some(ord);
                if index.lens[ord as usize] != DEAD {
                    listed.insert(ord, index.postings.count(term as u32, ord, byte));
                }
            }
        }
        assert_eq!(listed, rows, "postings of {:?}", index.vocabulary.stem_of(term as u32));
        let norm = Norm::new(index.reference_len);
        for (&ord, &count) in &rows {
            let saturation = saturation(count, norm.of(index.lens[ord as usize]));
            assert!(f64::from(stats.max_saturation) >= saturation, "term bound");
        }
        let [main, _] = index.postings.parts(term as u32);
        let blocks = index.postings.blocks(term as u32);
        assert_eq!(blocks.len(), if main.ords.len() >= BLOCK_LEN { main.ords.len().div_ceil(BLOCK_LEN) } else { 0 });
        for (pos, (&ord, &byte)) in main.ords.iter().zip(main.counts).enumerate() {
            let Some(block) = blocks.get(pos / BLOCK_LEN) else { continue };
            assert!(block.last >= ord);
            if index.lens[ord as usize] != DEAD {
                let count = index.postings.count(term as u32, ord, byte);
                let saturation = saturation(count, norm.of(index.lens[ord as usize]));
                assert!(f64::from(block.max_saturation) >= saturation, "block bound");
            }
        }
    }
}

#[test]
fn bm25_equals_brute_force_through_inserts_replaces_removes_and_rebuilds() {
    let mut rng = Rng(7);
    let mut index: TextIndex<u32> = TextIndex::new();
    let mut reference = Reference::default();
    let mut next_key = 0i64;
    for step in 0..1_500 {
        match rng.below(10) {
            0..=4 => {
                let text = random_text(&mut rng);
                let attr = rng.below(10) as u32;
                index.insert(next_key, &text, attr);
                reference.insert(next_key, &text, attr);
                next_key += 1;
            }
            5 | 6 if next_key > 0 => {
                let key = rng.below(next_key as usize) as i64;
                let text = random_text(&mut rng);
                index.insert(key, &text, 3);
                reference.insert(key, &text, 3);
            }
            7 | 8 => {
                let key = rng.below(next_key as usize + 5) as i64;
                assert_eq!(index.remove(key), reference.remove(key), "remove {key}");
            }
            _ => {
                if rng.below(4) == 0 {
                    index.rebuild();
                }
                let rows: Vec<(i64, String, u32)> =
                    (0..rng.below(20)).map(|i| (next_key + i as i64 / 2, random_text(&mut rng), 1)).collect();
                next_key += rows.len() as i64;
                for (key, text, attr) in &rows {
                    reference.insert(*key, text, *attr);
                }
                index.extend(rows);
            }
        }
        assert_eq!(index.len(), reference.rows.len());
        assert_eq!(index.total_tokens(), reference.total_tokens());
        if step % 50 == 0 {
            assert_consistent(&index);
        }
        for _ in 0..2 {
            let query = random_query(&mut rng);
            let k = 1 + rng.below(15);
            let got = index.search(&query, k, |_, _| true);
            let want = reference.search(&query, k, |_, _| true);
            assert_same_hits(&got, &want, &format!("step {step}, {query:?}, k {k}"));
        }
    }
    assert_consistent(&index);
}

#[test]
fn loading_in_one_go_in_chunks_or_row_by_row_gives_the_same_index() {
    let mut rng = Rng(23);
    // Keys out of order and repeated (a later row replaces an earlier one).
    let rows: Vec<(i64, String, u32)> =
        (0..6_000).map(|i| ((i * 7_919 % 5_000) as i64, random_text(&mut rng), (i % 5) as u32)).collect();
    let mut reference = Reference::default();
    for (key, text, attr) in &rows {
        reference.insert(*key, text, *attr);
    }
    let mut whole = TextIndex::new();
    whole.extend(rows.iter().map(|(key, text, attr)| (*key, text.as_str(), *attr)));
    let mut chunked = TextIndex::new();
    for chunk in rows.chunks(700) {
        chunked.extend(chunk.iter().map(|(key, text, attr)| (*key, text.as_str(), *attr)));
    }
    let mut by_row = TextIndex::new();
    for (key, text, attr) in &rows {
        by_row.insert(*key, text, *attr);
    }
    for index in [&whole, &chunked, &by_row] {
        assert_eq!((index.len(), index.total_tokens()), (reference.rows.len(), reference.total_tokens()));
        assert_consistent(index);
    }
    for _ in 0..50 {
        let query = random_query(&mut rng);
        let want = reference.search(&query, 20, |_, &attr| attr != 2);
        for index in [&whole, &chunked, &by_row] {
            assert_same_hits(&index.search(&query, 20, |_, &attr| attr != 2), &want, &query);
        }
    }
}

#[test]
fn filters_keep_only_accepted_rows_and_still_the_best_k() {
    let mut rng = Rng(11);
    let mut index = TextIndex::new();
    let mut reference = Reference::default();
    let rows: Vec<(i64, String, u32)> = (0..3_000).map(|key| (key, random_text(&mut rng), (key % 10) as u32)).collect();
    for (key, text, attr) in &rows {
        reference.insert(*key, text, *attr);
    }
    index.extend(rows);
    for round in 0..120 {
        let query = random_query(&mut rng);
        let k = 1 + rng.below(20);
        let bucket = rng.below(10) as u32;
        let calls = Cell::new(0);
        let got = index.search(&query, k, |key, &attr| {
            calls.set(calls.get() + 1);
            attr == bucket && key % 3 != 0
        });
        let want = reference.search(&query, k, |key, &attr| attr == bucket && key % 3 != 0);
        assert_same_hits(&got, &want, &format!("round {round}, {query:?}, k {k}"));
        let matches = reference.search(&query, usize::MAX, |_, _| true).len();
        assert!(calls.get() <= matches, "accept called {} times for {matches} matching rows", calls.get());
    }
}

#[test]
fn a_larger_corpus_with_very_common_words_matches_brute_force() {
    let mut rng = Rng(17);
    let mut index = TextIndex::new();
    let mut reference = Reference::default();
    let rows: Vec<(i64, String, u32)> = (0..20_000).map(|key| (key, random_text(&mut rng), (key % 7) as u32)).collect();
    for (key, text, attr) in &rows {
        reference.insert(*key, text, *attr);
    }
    index.extend(rows);
    for round in 0..40 {
        // Now and then insert a few rows (into the delta part) and remove a few (tombstones in the postings).
        if round % 10 == 0 {
            for key in 20_000 + round..20_010 + round {
                let text = random_text(&mut rng);
                index.insert(key as i64, &text, 0);
                reference.insert(key as i64, &text, 0);
            }
            for _ in 0..200 {
                let key = rng.below(20_000) as i64;
                assert_eq!(index.remove(key), reference.remove(key));
            }
            assert!(index.dead_rows > 0);
        }
        let query = random_query(&mut rng);
        let k = [1, 10, 50, 200][round % 4];
        let got = index.search(&query, k, |_, _| true);
        assert_same_hits(&got, &reference.search(&query, k, |_, _| true), &format!("{query:?}, k {k}"));
        let got = index.search(&query, k, |_, &attr| attr == 3);
        assert_same_hits(&got, &reference.search(&query, k, |_, &attr| attr == 3), &format!("{query:?}, k {k}, 3"));
    }
}

#[test]
fn the_filter_is_asked_about_few_rows() {
    let mut index = TextIndex::new();
    let mut rng = Rng(5);
    index.extend((0..20_000).map(|key| (key, random_text(&mut rng), ())));
    let calls = Cell::new(0);
    let hits = index.search("garden piano", 10, |_, _| {
        calls.set(calls.get() + 1);
        true
    });
    let matches = index.search("garden piano", usize::MAX, |_, _| true).len();
    assert_eq!(hits.len(), 10);
    assert!(calls.get() * 20 < matches, "accept called {} times for {matches} matching rows", calls.get());
}

#[test]
fn ties_go_to_the_smaller_key() {
    let mut index = TextIndex::new();
    for key in [9, 3, 7, 1] {
        index.insert(key, "quiet lake", ());
    }
    index.insert(5, "noise", ());
    let keys: Vec<i64> = index.search("lake", 3, |_, _| true).iter().map(|hit| hit.key).collect();
    assert_eq!(keys, vec![1, 3, 7]);
}

#[test]
fn removals_replacements_and_compaction_keep_statistics_exact() {
    let mut rng = Rng(3);
    let mut index = TextIndex::new();
    let mut reference = Reference::default();
    for key in 0..12_000 {
        let text = random_text(&mut rng);
        index.insert(key, &text, 0u32);
        reference.insert(key, &text, 0);
    }
    assert!(index.postings.main_len() > 0, "inserts past the delta limit rebuild");
    assert_consistent(&index);
    for key in (0..12_000).step_by(3) {
        assert!(index.remove(key));
        reference.remove(key);
    }
    assert!(!index.remove(0), "already removed");
    assert!(!index.remove(-1), "never present");
    assert!(index.keys.rows() < 12_000, "a fifth of the rows dead compacts");
    assert!(index.dead_rows < 4_000);
    assert_consistent(&index);
    let dead = index.dead_rows;
    for key in (1..12_000).step_by(3).take(100) {
        let text = random_text(&mut rng);
        index.insert(key, &text, 1);
        reference.insert(key, &text, 1);
    }
    assert_eq!(index.dead_rows, dead + 100, "replaced rows are tombstones");
    assert_consistent(&index);
    for query in ["cat running", "Lisbon café", "melody piano sunset", "the", "zebra naïve ñandú"] {
        assert_same_hits(&index.search(query, 10, |_, _| true), &reference.search(query, 10, |_, _| true), query);
    }
    index.rebuild();
    assert_eq!((index.dead_rows, index.keys.rows()), (0, index.len()));
    assert_consistent(&index);
    for query in ["cat running", "Lisbon café", "melody piano sunset", "the", "zebra naïve ñandú"] {
        assert_same_hits(&index.search(query, 10, |_, _| true), &reference.search(query, 10, |_, _| true), query);
    }
    for key in 0..12_000 {
        index.remove(key);
    }
    assert!(index.is_empty());
    assert_eq!((index.total_tokens(), index.keys.rows()), (0, 0), "removing every row compacts");
    assert!(index.search("cat", 10, |_, _| true).is_empty());
    assert_consistent(&index);
}

#[test]
fn idf_is_floored_for_terms_in_most_rows() {
    let mut index = TextIndex::new();
    index.insert(1, "sun sun rain", ());
    index.insert(2, "sun", ());
    index.insert(3, "rain", ());
    // "sun" is in 2 of 3 rows: ln((3 - 2 + 0.5) / 2.5) < 0, so FTS5 uses 1e-6.
    let hits = index.search("sun", 5, |_, _| true);
    let avgdl = 5.0 / 3.0;
    let expected = |tf: f64, dl: f64| 1e-6 * (tf * 2.2) / (tf + 1.2 * (0.25 + 0.75 * dl / avgdl));
    assert_eq!(hits.iter().map(|hit| hit.key).collect::<Vec<_>>(), vec![2, 1], "the shorter row wins");
    assert!((hits[0].score - expected(1.0, 1.0)).abs() < 1e-18);
    assert!((hits[1].score - expected(2.0, 3.0)).abs() < 1e-18);
}

#[test]
fn odd_inputs_do_not_panic() {
    let mut index: TextIndex<()> = TextIndex::new();
    assert!(index.search("anything", 10, |_, _| true).is_empty());
    index.insert(1, "", ());
    assert_eq!((index.len(), index.total_tokens()), (1, 0));
    assert!(index.search("anything", 10, |_, _| true).is_empty());
    index.insert(2, "plain words here", ());
    assert!(index.search("plain", 0, |_, _| true).is_empty());
    assert!(index.search("", 10, |_, _| true).is_empty());
    assert!(index.search("?!", 10, |_, _| true).is_empty());
    assert!(index.search("unknown", 10, |_, _| true).is_empty());
    assert_eq!(index.search("here", 10, |_, _| true).len(), 1, "a query of stop words only keeps them");
    let huge = "alpha beta gamma ".repeat(100_000) + &"x".repeat(100_000);
    index.insert(3, &huge, ());
    assert_eq!(index.total_tokens(), 3 + 300_001);
    let hits = index.search("gamma", 10, |_, _| true);
    assert_eq!(hits.len(), 1);
    assert!(hits[0].score.is_finite() && hits[0].score > 0.0);
    assert_eq!(index.search(&"x".repeat(100_000), 10, |_, _| true)[0].key, 3);
    let long_query: String = (0..3_000).map(|i| format!("w{i} ")).collect::<String>() + "alpha";
    assert_eq!(index.search(&long_query, usize::MAX, |_, _| true).len(), 1);
    index.insert(3, "", ());
    assert!(index.search("gamma", 10, |_, _| true).is_empty());
    assert_consistent(&index);
}

#[test]
fn counts_past_a_byte_stay_exact() {
    let mut index = TextIndex::new();
    let mut reference = Reference::default();
    let rows =
        [(1, "echo ".repeat(300)), (2, "echo ".repeat(254) + "delta"), (3, "echo ".repeat(255)), (4, "delta".into())];
    for (key, text) in &rows {
        index.insert(*key, text, ());
        reference.insert(*key, text, 0);
    }
    assert_consistent(&index);
    assert_same_hits(&index.search("echo", 4, |_, _| true), &reference.search("echo", 4, |_, _| true), "echo");
    index.rebuild();
    assert_consistent(&index);
    assert_same_hits(&index.search("echo", 4, |_, _| true), &reference.search("echo", 4, |_, _| true), "rebuilt");
}

#[test]
fn memory_is_reported() {
    let mut index = TextIndex::new();
    let empty = index.memory_bytes();
    let mut rng = Rng(1);
    index.extend((0..1_000).map(|key| (key, random_text(&mut rng), 0u64)));
    assert!(index.memory_bytes() > empty + 1_000 * (8 + 8 + 4));
}
