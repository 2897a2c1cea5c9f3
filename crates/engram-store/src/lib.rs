//! engram-store: durable state behind one trait.
//!
//! [`Store`] is the only way the server and the runtime read or change agent state. Every mutating method takes a
//! [`WriteContext`] and records its audit event(s) in the same transaction as the change, so a committed write and its
//! audit trail can never disagree. `SqliteStore` is the embedded default; `PostgresStore` implements the same trait for
//! several engram processes on one database, and both pass the same conformance suite (`engram-testkit::conformance`).

mod codec;
mod error;
mod idempotency;
pub mod postgres;
pub mod sqlite;
mod store;
pub mod transfer;

pub use error::StoreError;
pub use idempotency::{IdempotencyBegin, IdempotencyRecord};
pub use postgres::{PostgresOptions, PostgresStore, VectorPath};
pub use sqlite::{SqliteOptions, SqliteStore};
pub use store::{
    AuditQuery, EmbeddingTarget, MessageCounts, PendingEmbedding, StaleRun, Store, StoreCapabilities, WindowSnapshot,
};

pub use engram_core::audit::WriteContext;
