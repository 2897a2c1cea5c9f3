//! A vector search's hits, and its best-`k` heap (`crate::topk` over f32 cosines).

pub(crate) type TopK = crate::topk::TopK<f32>;

/// One search result: the row's key and its cosine similarity to the query, in `[-1, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub key: i64,
    pub score: f32,
}

/// The kept hits, best first, with scores clamped to the cosine range.
pub(crate) fn into_hits(top: TopK) -> Vec<Hit> {
    top.into_sorted().map(|(key, score)| Hit { key, score: score.clamp(-1.0, 1.0) }).collect()
}
