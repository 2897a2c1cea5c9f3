//! Vector search over L2-normalised embeddings: an exact scan over contiguous `f32` rows, and above a size threshold
//! our own HNSW graph over the same rows.
//!
//! `VectorIndex` is what the store holds per agent. It always keeps the exact data in a `VectorSet` (one `Vec<f32>`,
//! a key and an attribute per row, so filters run during the scan) and adds an approximate index once the set is
//! large enough that scanning it costs more than a query may spend. Scores are cosine similarities: every stored
//! vector and every query is normalised first, so cosine is a dot product. Nothing here does I/O; the graph can be
//! turned into bytes and back so the store can persist it next to its database.

mod ann;
mod distance;
mod hit;
mod hnsw;
mod hnsw_build;
mod index;
mod persist;
mod quant;
mod scan;
mod set;

#[cfg(test)]
mod synthetic;

pub use distance::{dot, normalize};
pub use hit::Hit;
pub use hnsw::{HnswParams, auto_ef};
pub use index::{IndexConfig, SearchPath, VectorIndex};
pub use set::VectorSet;

/// Why a vector, a query or a persisted graph was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VectorError {
    /// A vector or query does not have the dimension the set was created with.
    #[error("vector has {got} dimensions, this index holds {expected}")]
    DimensionMismatch { expected: usize, got: usize },
    /// A component is NaN or infinite.
    #[error("vector has a non-finite component at position {position}")]
    NonFinite { position: usize },
    /// The vector is all zeros, so it has no direction and no cosine similarity.
    #[error("vector has zero length and no direction")]
    ZeroVector,
    /// The index is full: node numbers are 32-bit.
    #[error("an index holds at most {max} vectors")]
    TooManyVectors { max: usize },
    /// Persisted graph bytes are damaged, from another version, or do not describe the rows they were loaded with.
    #[error("graph bytes rejected: {0}")]
    BadGraph(String),
}
