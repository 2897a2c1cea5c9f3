//! The [`Embedder`] trait every embedding provider implements, and the L2 normalisation they all apply so that a
//! dot product of two vectors is their cosine similarity.

use async_trait::async_trait;

use crate::error::EmbedError;

/// Turns texts into vectors with one model.
#[async_trait]
pub trait Embedder: Send + Sync + std::fmt::Debug {
    /// The model as `provider/model`, e.g. `local/all-minilm-l6-v2` or `openai/text-embedding-3-small`.
    fn model(&self) -> &str;

    /// The length of every vector this model returns. For a remote model whose dimension is not known in advance
    /// this is 0 until its first answer, and the learned dimension after.
    fn dimensions(&self) -> usize;

    /// One L2-normalised vector per text, in the order of `texts`. No texts: no vectors (and no work).
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Scales `vector` to unit length. A zero vector (or one that is not finite) stays as it is: there is no direction
/// to keep, and dividing would fill it with NaN.
pub(crate) fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        for x in vector.iter_mut() {
            *x /= norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_gives_unit_length_and_leaves_zero_alone() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
        let mut zero = vec![0.0; 3];
        normalize(&mut zero);
        assert_eq!(zero, vec![0.0; 3]);
    }
}
