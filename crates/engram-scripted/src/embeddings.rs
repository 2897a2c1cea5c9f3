//! `POST /v1/embeddings` on the scripted OpenAI-compatible server, for testing embedding clients: by default it
//! answers every request with deterministic fake vectors ([`fake_embedding`], derived from a hash of each input's
//! words, so equal texts get equal vectors and texts sharing words point the same way), of a configurable dimension.
//! Queued [`EmbeddingReply`]s script the next answers instead: errors with OpenAI's body shape, a vector of the wrong
//! dimension, or the vectors listed out of order. Embedding requests are recorded apart from chat requests.
//! These vectors mean nothing; they are test support only.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::openai;
use crate::script::{RecordedRequest, Wire};
use crate::server::{ScriptState, ScriptedModel, lock};

/// The dimension of fake vectors unless [`ScriptedModel::set_embedding_dimensions`] says otherwise.
pub const DEFAULT_EMBEDDING_DIMENSIONS: usize = 32;

/// A scripted answer to one embeddings request.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbeddingReply {
    /// Fake vectors, in input order (what the server sends when nothing is queued).
    Vectors,
    /// Fake vectors listed in reverse order, each with its true `index` (clients must order by `index`).
    Reversed,
    /// Fake vectors, except that the last has `dimensions` components.
    WrongDimension { dimensions: usize },
    /// An HTTP error with OpenAI's error body; `retry_after` becomes a `Retry-After` header.
    Error { status: u16, message: String, retry_after: Option<String> },
}

impl EmbeddingReply {
    /// An HTTP error without `Retry-After`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self::Error { status, message: message.into(), retry_after: None }
    }
}

/// The embeddings part of a scripted server's state.
pub(crate) struct EmbeddingScript {
    dimensions: Mutex<usize>,
    replies: Mutex<VecDeque<EmbeddingReply>>,
    requests: Mutex<Vec<RecordedRequest>>,
}

impl Default for EmbeddingScript {
    fn default() -> Self {
        Self {
            dimensions: Mutex::new(DEFAULT_EMBEDDING_DIMENSIONS),
            replies: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
        }
    }
}

impl ScriptedModel {
    /// Fake vectors have `dimensions` components from now on.
    pub fn set_embedding_dimensions(&self, dimensions: usize) {
        *lock(&self.state.embeddings.dimensions) = dimensions;
    }

    /// Queues the answer to a coming embeddings request (once the queue is empty: [`EmbeddingReply::Vectors`]).
    pub fn push_embedding(&self, reply: EmbeddingReply) {
        lock(&self.state.embeddings.replies).push_back(reply);
    }

    /// Every embeddings request received so far, in order (chat requests are in [`ScriptedModel::requests`]).
    pub fn embedding_requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.embeddings.requests).clone()
    }
}

/// The fake vector of `text`: each lower-cased word adds ±1 to a component chosen by its hash (FNV-1a), so it is
/// deterministic, and texts sharing words have a higher cosine similarity. Not normalised (clients normalise); a
/// text without words gets a vector pointing along the first axis, never a zero vector.
pub fn fake_embedding(text: &str, dimensions: usize) -> Vec<f32> {
    let mut vector = vec![0.0f32; dimensions];
    if dimensions == 0 {
        return vector;
    }
    let mut words = 0;
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()) {
        let hash = fnv1a(word.to_lowercase().as_bytes());
        let slot = (hash % dimensions as u64) as usize;
        vector[slot] += if hash >> 63 == 0 { 1.0 } else { -1.0 };
        words += 1;
    }
    if words == 0 || vector.iter().all(|x| *x == 0.0) {
        vector[0] = 1.0;
    }
    vector
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

/// Answers `POST /v1/embeddings`.
pub(crate) async fn handle(
    State(state): State<Arc<ScriptState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let request = RecordedRequest {
        wire: Wire::OpenAi,
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or("").to_owned()))
            .collect(),
        body,
    };
    lock(&state.embeddings.requests).push(request.clone());
    let reply = lock(&state.embeddings.replies).pop_front().unwrap_or(EmbeddingReply::Vectors);
    let dimensions = *lock(&state.embeddings.dimensions);
    respond(&reply, &request.body, dimensions)
}

fn respond(reply: &EmbeddingReply, body: &Value, dimensions: usize) -> Response {
    if let EmbeddingReply::Error { status, message, retry_after } = reply {
        return openai::error(*status, message, retry_after.as_deref());
    }
    let inputs: Vec<&str> = match &body["input"] {
        Value::String(text) => vec![text.as_str()],
        Value::Array(items) if items.iter().all(Value::is_string) => items.iter().filter_map(Value::as_str).collect(),
        _ => return openai::error(400, "'input' must be a string or an array of strings", None),
    };
    if !body["model"].is_string() {
        return openai::error(400, "you must provide a model parameter", None);
    }
    let mut data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let size = match reply {
                EmbeddingReply::WrongDimension { dimensions: wrong } if index + 1 == inputs.len() => *wrong,
                _ => dimensions,
            };
            json!({ "object": "embedding", "index": index, "embedding": fake_embedding(text, size) })
        })
        .collect();
    if *reply == EmbeddingReply::Reversed {
        data.reverse();
    }
    let tokens: usize = inputs.iter().map(|text| text.split_whitespace().count().max(1)).sum();
    let answer = json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    });
    (StatusCode::OK, axum::Json(answer)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_embeddings_are_deterministic_and_never_zero() {
        assert_eq!(fake_embedding("The cat sat", 16), fake_embedding("the CAT sat!", 16));
        assert_ne!(fake_embedding("the cat sat", 16), fake_embedding("a dog ran", 16));
        assert_eq!(fake_embedding("", 4), vec![1.0, 0.0, 0.0, 0.0]);
        assert_eq!(fake_embedding("anything", 7).len(), 7);
    }
}
