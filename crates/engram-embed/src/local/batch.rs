//! The work of one local embedding call: tokenise every text, order the texts by token count so each batch pads
//! little, run BERT over a padded batch, and pool each text's token vectors (mean over real tokens, as
//! sentence-transformers does for all-MiniLM-L6-v2) into one L2-normalised vector. Everything here is CPU-bound and
//! runs on a blocking thread.

use candle_core::{D, DType, Device, Tensor};
use tokenizers::Tokenizer;

use super::bert::Bert;
use crate::embedder::normalize;
use crate::error::EmbedError;

/// Texts per forward pass. Larger batches waste more on padding and memory; smaller ones pay more per-call
/// overhead. Sorting by length keeps the padding of a batch small.
pub(crate) const BATCH_SIZE: usize = 32;

/// Texts are cut to this many bytes (on a character boundary) before tokenising: 256 tokens never need more than
/// a few kilobytes of ordinary text, and tokenising megabytes only to truncate them would waste time.
const MAX_TEXT_BYTES: usize = 64 * 1024;

/// The weights and tokenizer, shared by every call.
pub(crate) struct LoadedModel {
    pub(crate) bert: Bert,
    pub(crate) tokenizer: Tokenizer,
    pub(crate) device: Device,
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

    /// The texts in batches of at most [`BATCH_SIZE`], each of similar lengths.
    pub(crate) fn batches(&self) -> std::slice::Chunks<'_, Tokens> {
        self.items.chunks(BATCH_SIZE)
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

    /// One forward pass over `batch`, padded to its longest text: a pooled, normalised vector per text, in the
    /// batch's order.
    pub(crate) fn run(&self, batch: &[Tokens]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.forward(batch).map_err(|error| EmbedError::Model(format!("inference failed: {error}")))
    }

    fn forward(&self, batch: &[Tokens]) -> candle_core::Result<Vec<Vec<f32>>> {
        let rows = batch.len();
        let width = batch.iter().map(|item| item.ids.len()).max().unwrap_or(0).max(1);
        // Padding uses id 0 (`[PAD]`) with mask 0, so padded positions neither attend nor get averaged.
        let mut ids = vec![0u32; rows * width];
        let mut mask = vec![0u32; rows * width];
        for (row, item) in batch.iter().enumerate() {
            let start = row * width;
            ids[start..start + item.ids.len()].copy_from_slice(&item.ids);
            mask[start..start + item.ids.len()].fill(1);
        }
        let padded = batch.iter().any(|item| item.ids.len() < width);
        let ids = Tensor::from_vec(ids, (rows, width), &self.device)?;
        let mask = Tensor::from_vec(mask, (rows, width), &self.device)?;
        let hidden = self.bert.forward(&ids, padded.then_some(&mask))?;

        // Masked mean pooling: sum the real tokens' vectors, divide by how many there are.
        let pooled = if padded {
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
            let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
            summed.broadcast_div(&counts)?
        } else {
            hidden.mean(1)?
        };
        let mut vectors = pooled.to_vec2::<f32>()?;
        for vector in &mut vectors {
            normalize(vector);
        }
        Ok(vectors)
    }
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
}
