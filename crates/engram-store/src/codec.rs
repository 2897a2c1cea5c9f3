//! The stored forms both backends share, and the checks that need no database: salts and content commitments,
//! tool calls as JSON, vectors as little-endian `f32` bytes, an audit event's (version, hash) pairs, and the rule
//! that one batch of passages carries vectors of one model. Each backend's `rows` module reads its columns and hands
//! the values here, so SQLite and PostgreSQL cannot drift apart on what a stored value means.

use serde_json::Value;

use engram_core::audit::VersionHash;
use engram_core::commitment::{Salt, commit};
use engram_core::message::ToolCall;
use engram_core::passage::{Embedding, NewPassage};

use crate::error::StoreError;

/// Stored data that does not parse back: `what` names the column or value.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

/// A fresh random salt for a new object's content commitments.
pub(crate) fn new_salt() -> Salt {
    Salt(rand::random())
}

/// The version of an object and the commitment to its content under its salt.
pub(crate) fn version_hash(version: i64, salt: &Salt, content: &[u8]) -> VersionHash {
    VersionHash { version, content_hash: commit(salt, content) }
}

/// An audit event's stored (version, hash) pair: both or neither. `what` names the version column.
pub(crate) fn stored_version_hash(
    what: &str,
    version: Option<i64>,
    hash: Option<String>,
) -> Result<Option<VersionHash>, StoreError> {
    match (version, hash) {
        (Some(version), Some(content_hash)) => Ok(Some(VersionHash { version, content_hash })),
        (None, None) => Ok(None),
        _ => Err(corrupt(what, "version and hash must be stored together")),
    }
}

/// The JSON stored for a message's tool calls.
pub(crate) fn tool_calls_json(calls: &[ToolCall]) -> String {
    let calls: Vec<Value> =
        calls.iter().map(|c| serde_json::json!({"id": c.id, "name": c.name, "arguments": c.arguments})).collect();
    Value::from(calls).to_string()
}

/// A message's tool calls from their stored JSON.
pub(crate) fn tool_calls_from_json(stored: Value) -> Result<Vec<ToolCall>, StoreError> {
    let calls: Vec<Value> = serde_json::from_value(stored).map_err(|e| corrupt("tool_calls", e))?;
    calls.into_iter().map(tool_call).collect()
}

fn tool_call(value: Value) -> Result<ToolCall, StoreError> {
    let field = |name: &str| -> Result<String, StoreError> {
        value
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| corrupt("tool_calls", format!("a call without `{name}`")))
    };
    Ok(ToolCall {
        id: field("id")?,
        name: field("name")?,
        arguments: value.get("arguments").cloned().unwrap_or(Value::Null),
    })
}

/// Little-endian `f32`s, the stored byte form of a vector.
pub(crate) fn encode_vector(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn decode_vector(bytes: &[u8]) -> Result<Vec<f32>, StoreError> {
    let chunks = bytes.chunks_exact(4);
    if !chunks.remainder().is_empty() {
        return Err(corrupt("embedding", format!("{} bytes is not a whole number of f32s", bytes.len())));
    }
    Ok(chunks.map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// A fresh instance key for `runs.owner`: random and positive (so it casts to PostgreSQL's `oid` as it is).
pub(crate) fn random_instance_key() -> i32 {
    let bits = ulid::Ulid::new().random() as u32 & 0x7fff_ffff;
    i32::try_from(bits.max(1)).unwrap_or(1)
}

/// pgvector's text form, `[x,y,…]`. Rust prints the shortest decimal that reads back as the same `f32`, so a
/// stored vector is bit for bit the one given.
pub(crate) fn vector_text(vector: &[f32]) -> String {
    let parts: Vec<String> = vector.iter().map(f32::to_string).collect();
    format!("[{}]", parts.join(","))
}

/// Reads pgvector's text form back.
pub(crate) fn parse_vector_text(text: &str) -> Result<Vec<f32>, StoreError> {
    let inner = text.trim().strip_prefix('[').and_then(|t| t.strip_suffix(']'));
    let inner = inner.ok_or_else(|| corrupt("embedding", "not a vector"))?;
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    inner.split(',').map(|x| x.trim().parse::<f32>().map_err(|e| corrupt("embedding", e))).collect()
}

/// The first embedding of a batch of passages, after checking that every embedding in the batch has its model and
/// dimension (vectors of different models are never stored side by side). `None` when no passage has one.
pub(crate) fn batch_embedding(passages: &[NewPassage]) -> Result<Option<&Embedding>, StoreError> {
    let mut embeddings = passages.iter().filter_map(|p| p.embedding.as_ref());
    let Some(first) = embeddings.next() else { return Ok(None) };
    let dim = first.vector.len();
    if let Some(other) = embeddings.find(|e| e.model != first.model || e.vector.len() != dim) {
        return Err(StoreError::EmbeddingMismatch {
            kind: "passages",
            what: "batch",
            stored_model: first.model.clone(),
            stored_dim: dim,
            model: other.model.clone(),
            dim: other.vector.len(),
        });
    }
    Ok(Some(first))
}

/// The error for a batch whose model (`first`) differs from the `(model, dimension)` the agent's passages have.
pub(crate) fn passage_model_mismatch(first: &Embedding, stored: (String, usize)) -> StoreError {
    StoreError::EmbeddingMismatch {
        kind: "passages",
        what: "new passage",
        stored_model: stored.0,
        stored_dim: stored.1,
        model: first.model.clone(),
        dim: first.vector.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_and_tool_calls_round_trip() {
        let vector = vec![0.5, -1.25, f32::MIN_POSITIVE];
        assert_eq!(decode_vector(&encode_vector(&vector)).unwrap(), vector);
        assert!(matches!(decode_vector(&[0, 1, 2]), Err(StoreError::Corrupt(_))));
        let calls = vec![ToolCall { id: "c1".into(), name: "t".into(), arguments: serde_json::json!({"a": 1}) }];
        let stored: Value = serde_json::from_str(&tool_calls_json(&calls)).unwrap();
        assert_eq!(tool_calls_from_json(stored).unwrap(), calls);
        assert!(tool_calls_from_json(serde_json::json!([{"id": "c1"}])).is_err());
    }

    #[test]
    fn version_and_hash_are_stored_together() {
        assert_eq!(stored_version_hash("v", None, None).unwrap(), None);
        assert!(stored_version_hash("v", Some(1), Some("h".into())).unwrap().is_some());
        assert!(stored_version_hash("v", Some(1), None).is_err());
    }
}
