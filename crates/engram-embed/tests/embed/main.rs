//! Tests of engram-embed: the local model against the Python reference, the OpenAI-compatible client against a
//! scripted server, and how the registry resolves models or explains why it cannot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local;
mod model_dir;
mod openai;
mod registry;

/// The cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "vectors of different lengths");
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

/// The Euclidean length of a vector.
pub fn length(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}
