//! The work of one local embedding call: tokenise every text, order the texts by token count, split them into
//! batches of similar length, run BERT over each batch packed (every text's tokens stacked, no padding), and pool
//! each text's token vectors (mean over its tokens, as sentence-transformers does for all-MiniLM-L6-v2) into one
//! L2-normalised vector. Everything here is CPU-bound and runs on a blocking thread; the batches of a round run in
//! parallel on rayon's threads (see [`super`]).

use rayon::prelude::*;
use tokenizers::Tokenizer;

use super::bert::Bert;
use super::kernels::Span;
use crate::embedder::normalize;
use crate::error::EmbedError;

/// Tokens per forward pass, about. Each matrix product then has a few hundred rows, enough for candle's matrix
/// product to run at full speed, while the activations (the widest is `tokens × 1536` floats) stay a few
/// megabytes. A text longer than this gets a batch to itself.
pub(crate) const BATCH_TOKENS: usize = 1024;

/// Texts are cut to this many bytes (on a character boundary) before tokenising: 256 tokens never need more than
/// a few kilobytes of ordinary text, and tokenising megabytes only to truncate them would waste time.
const MAX_TEXT_BYTES: usize = 64 * 1024;

/// The weights and tokenizer, shared by every call.
pub(crate) struct LoadedModel {
    pub(crate) bert: Bert,
    pub(crate) tokenizer: Tokenizer,
}

/// One text, tokenised: its position in the caller's list and its token ids (special tokens included, truncated).
#[derive(Clone)]
pub(crate) struct Tokens {
    pub(crate) index: usize,
    ids: Vec<u32>,
}

/// The tokenised texts of one call, sorted by length.
pub(crate) struct Plan {
    items: Vec<Tokens>,
}

impl Plan {
    /// How many texts.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// The texts in batches of about [`BATCH_TOKENS`] tokens, each of similar lengths. Batches are smaller when
    /// that is what it takes to give each of `parallel` threads a batch of its own: separate batches on separate
    /// threads need no synchronisation, where one batch over two threads waits at every step.
    pub(crate) fn batches(&self, parallel: usize) -> Vec<&[Tokens]> {
        let total: usize = self.items.iter().map(|item| item.ids.len()).sum();
        let target = BATCH_TOKENS.min(total.div_ceil(parallel.max(1))).max(1);
        let mut batches = Vec::new();
        let (mut start, mut tokens) = (0, 0);
        for (end, item) in self.items.iter().enumerate() {
            tokens += item.ids.len();
            if tokens >= target {
                batches.push(&self.items[start..=end]);
                (start, tokens) = (end + 1, 0);
            }
        }
        if start < self.items.len() {
            batches.push(&self.items[start..]);
        }
        batches
    }
}

impl LoadedModel {
    /// Tokenises `texts` (truncating each at the model's sequence length) and sorts them by token count.
    pub(crate) fn tokenize(&self, texts: &[String]) -> Result<Plan, EmbedError> {
        let inputs: Vec<&str> = texts.iter().map(|text| cut(text, MAX_TEXT_BYTES)).collect();
        let encodings = self
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|error| EmbedError::Model(format!("tokenising failed: {error}")))?;
        let mut items: Vec<Tokens> = encodings
            .into_iter()
            .enumerate()
            .map(|(index, encoding)| Tokens { index, ids: encoding.get_ids().to_vec() })
            .collect();
        items.sort_by_key(|item| item.ids.len());
        Ok(Plan { items })
    }

    /// Runs `batches` at the same time, one per rayon thread while there are threads to spare: a pooled,
    /// normalised vector per text, batch by batch, in each batch's order.
    pub(crate) fn run(&self, batches: &[Vec<Tokens>]) -> Result<Vec<Vec<Vec<f32>>>, EmbedError> {
        batches
            .par_iter()
            .map(|batch| self.forward(batch))
            .collect::<candle_core::Result<_>>()
            .map_err(|error| EmbedError::Model(format!("inference failed: {error}")))
    }

    /// One forward pass over `batch`, packed.
    fn forward(&self, batch: &[Tokens]) -> candle_core::Result<Vec<Vec<f32>>> {
        let mut ids = Vec::with_capacity(batch.iter().map(|item| item.ids.len()).sum());
        let mut spans = Vec::with_capacity(batch.len());
        for item in batch {
            spans.push(Span { start: ids.len(), len: item.ids.len() });
            ids.extend_from_slice(&item.ids);
        }
        let hidden = self.bert.forward(&ids, &spans)?.flatten_all()?.to_vec1::<f32>()?;
        Ok(spans.iter().map(|span| pool(&hidden, *span, hidden.len() / ids.len().max(1))).collect())
    }
}

/// The mean of a text's token vectors (rows `span` of `hidden`, each `width` wide), L2-normalised.
fn pool(hidden: &[f32], span: Span, width: usize) -> Vec<f32> {
    let mut vector = vec![0.0f32; width];
    for row in hidden[span.start * width..(span.start + span.len) * width].chunks_exact(width) {
        for (sum, x) in vector.iter_mut().zip(row) {
            *sum += x;
        }
    }
    // Dividing by the token count is part of the mean; normalising after makes it moot, but a text with no tokens
    // (impossible with the special tokens, but cheap to guard) keeps a zero vector instead of NaN.
    let count = span.len.max(1) as f32;
    for sum in &mut vector {
        *sum /= count;
    }
    normalize(&mut vector);
    vector
}

/// `text` cut to at most `max_bytes`, on a character boundary.
fn cut(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("hello", 10), "hello");
    }

    fn plan(lengths: &[usize]) -> Plan {
        Plan { items: lengths.iter().enumerate().map(|(index, &len)| Tokens { index, ids: vec![1; len] }).collect() }
    }

    fn sizes(batches: &[&[Tokens]]) -> Vec<usize> {
        batches.iter().map(|batch| batch.len()).collect()
    }

    #[test]
    fn batches_hold_about_the_token_budget_and_cover_every_text() {
        let lengths = vec![30; 100];
        let plan = plan(&lengths);
        let batches = plan.batches(2);
        // 1024 tokens are 35 texts of 30 (the batch closes on the text that reaches the budget).
        assert_eq!(sizes(&batches), vec![35, 35, 30]);
        let indexes: Vec<usize> = batches.iter().flat_map(|batch| batch.iter().map(|item| item.index)).collect();
        assert_eq!(indexes, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn a_small_call_is_split_so_every_thread_has_a_batch() {
        assert_eq!(sizes(&plan(&[10, 12, 15, 20, 30, 40, 50, 60]).batches(2)), vec![6, 2]);
        assert_eq!(sizes(&plan(&[20; 8]).batches(4)), vec![2, 2, 2, 2]);
        assert_eq!(sizes(&plan(&[9]).batches(2)), vec![1]);
        assert_eq!(sizes(&plan(&[300, 300]).batches(1)), vec![2]);
        assert!(plan(&[]).batches(2).is_empty());
    }
}
