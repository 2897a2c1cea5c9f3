//! engram-testkit: test support shared by engram's test binaries (dev-only, never in the product).
//!
//! - [`server`]: an engram HTTP server on `127.0.0.1:0` over a temporary SQLite data directory, with a small JSON
//!   client, restartable on the same data.
//! - [`embedding`]: the real local embedding model, fetched if missing and loaded once per test binary.
//! - [`conformance`]: the backend-neutral `Store` conformance suite every storage backend must pass.
//! - [`models`]: pointing a server at scripted model servers ([`engram_scripted`], re-exported), and reading a
//!   run's server-sent events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod conformance;
pub mod embedding;
pub mod models;
pub mod server;

pub use engram_scripted::{EmbeddingReply, RecordedRequest, Reply, ScriptedModel, Turn};

pub use server::{Resp, TestServer};
