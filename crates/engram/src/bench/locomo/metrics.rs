//! Retrieval quality per question and per category: recall@5/10/20 of the evidence turns, the share of questions
//! whose evidence is all in the top 10, and the tokens of the top-10 context.
//!
//! A question's recall@k is the fraction of its (resolvable, distinct) evidence turns found among the first k
//! results; a category's recall@k is the mean over its questions that have evidence. Questions without evidence
//! count only towards the context size.

use super::dataset::DiaId;

/// The cutoffs reported, ascending; the last is how many results each question asks for.
pub const CUTOFFS: [usize; 3] = [5, 10, 20];
/// The cutoff of `all@10` and of the context size.
pub const CONTEXT_K: usize = 10;

/// The category ids, with LoCoMo's own names for them.
pub const CATEGORIES: [(u8, &str); 5] =
    [(1, "multi-hop"), (2, "temporal"), (3, "open-domain"), (4, "single-hop"), (5, "adversarial")];

/// How one question fared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judged {
    pub category: u8,
    /// Distinct evidence turns.
    pub evidence: usize,
    /// Evidence turns found within each of [`CUTOFFS`].
    pub hits: [usize; CUTOFFS.len()],
    /// Tokens of the first [`CONTEXT_K`] results' texts.
    pub context_tokens: u64,
}

impl Judged {
    /// Judges a ranked result list (best first) against the evidence.
    pub fn new(category: u8, evidence: &[DiaId], ranked: &[DiaId], context_tokens: u64) -> Self {
        let hits = CUTOFFS.map(|k| evidence.iter().filter(|id| ranked.iter().take(k).any(|r| r == *id)).count());
        Self { category, evidence: evidence.len(), hits, context_tokens }
    }

    fn index_of(k: usize) -> usize {
        CUTOFFS.iter().position(|&c| c == k).unwrap_or(0)
    }
}

/// Aggregates over a group of questions. Means are `None` when the group has no question they apply to.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// `"1"`…`"5"`, or `"1–4"` for the four answerable categories.
    pub name: String,
    pub questions: usize,
    pub with_evidence: usize,
    /// Mean recall at each of [`CUTOFFS`], 0–1.
    pub recall: [Option<f64>; CUTOFFS.len()],
    /// Share of questions with evidence that have all of it in the top [`CONTEXT_K`], 0–1.
    pub all_at_10: Option<f64>,
    pub mean_context_tokens: Option<f64>,
}

impl Bucket {
    pub fn of(name: &str, judged: &[&Judged]) -> Self {
        let with: Vec<&&Judged> = judged.iter().filter(|j| j.evidence > 0).collect();
        let recall = std::array::from_fn(|i| mean(with.iter().map(|j| j.hits[i] as f64 / j.evidence as f64)));
        let ten = Judged::index_of(CONTEXT_K);
        Self {
            name: name.to_owned(),
            questions: judged.len(),
            with_evidence: with.len(),
            recall,
            all_at_10: mean(with.iter().map(|j| if j.hits[ten] == j.evidence { 1.0 } else { 0.0 })),
            mean_context_tokens: mean(judged.iter().map(|j| j.context_tokens as f64)),
        }
    }

    /// Mean recall at `k` (one of [`CUTOFFS`]).
    pub fn recall_at(&self, k: usize) -> Option<f64> {
        CUTOFFS.iter().position(|&c| c == k).and_then(|i| self.recall[i])
    }
}

/// One bucket per category id, then `1–4`.
pub fn buckets(judged: &[Judged]) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = CATEGORIES
        .iter()
        .map(|&(id, _)| {
            let group: Vec<&Judged> = judged.iter().filter(|j| j.category == id).collect();
            Bucket::of(&id.to_string(), &group)
        })
        .collect();
    let answerable: Vec<&Judged> = judged.iter().filter(|j| (1..=4).contains(&j.category)).collect();
    out.push(Bucket::of(ANSWERABLE, &answerable));
    out
}

/// The name of the bucket of categories 1–4.
pub const ANSWERABLE: &str = "1–4";

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(sum, n), v| (sum + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ids(turns: &[u32]) -> Vec<DiaId> {
        turns.iter().map(|&turn| DiaId { session: 1, turn }).collect()
    }

    #[test]
    fn recall_counts_evidence_within_each_cutoff() {
        // Evidence turns 3 and 50: turn 3 is ranked 2nd, turn 50 is ranked 12th.
        let mut ranked = ids(&[9, 3]);
        ranked.extend(ids(&(100..109).collect::<Vec<_>>()));
        ranked.extend(ids(&[50]));
        assert_eq!(ranked.len(), 12);
        let judged = Judged::new(1, &ids(&[3, 50]), &ranked, 40);
        assert_eq!(judged.hits, [1, 1, 2]);
        let bucket = Bucket::of("1", &[&judged]);
        assert_eq!(bucket.recall, [Some(0.5), Some(0.5), Some(1.0)]);
        assert_eq!(bucket.all_at_10, Some(0.0));
    }

    #[test]
    fn categories_average_over_questions_with_evidence() {
        let judged = [
            Judged::new(1, &ids(&[1]), &ids(&[1, 2]), 10),
            Judged::new(1, &ids(&[5, 6]), &ids(&[5, 7]), 30),
            Judged::new(1, &[], &ids(&[1]), 20),
            Judged::new(2, &ids(&[4]), &ids(&[8]), 0),
            Judged::new(5, &ids(&[4]), &ids(&[4]), 0),
        ];
        let buckets = buckets(&judged);
        let names: Vec<&str> = buckets.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["1", "2", "3", "4", "5", "1–4"]);
        let one = &buckets[0];
        assert_eq!((one.questions, one.with_evidence), (3, 2));
        assert_eq!(one.recall_at(10), Some(0.75));
        assert_eq!(one.all_at_10, Some(0.5));
        assert_eq!(one.mean_context_tokens, Some(20.0));
        assert_eq!(buckets[2].recall_at(10), None);
        // 1–4: the three category-1 questions with evidence count, the category-5 one does not.
        let answerable = &buckets[5];
        assert_eq!((answerable.questions, answerable.with_evidence), (4, 3));
        assert_eq!(answerable.recall_at(5), Some(0.5));
        assert_eq!(buckets[4].recall_at(20), Some(1.0));
    }
}
