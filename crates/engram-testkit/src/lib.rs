//! engram-testkit: test support shared by engram's test binaries (dev-only, never in the product).
//!
//! - [`server`]: an engram HTTP server on `127.0.0.1:0` over a temporary SQLite data directory, with a small JSON
//!   client, restartable on the same data.
//! - [`embedding`]: the real local embedding model, fetched if missing and loaded once per test binary.
//! - [`conformance`]: the backend-neutral `Store` conformance suite every storage backend must pass.
//! - [`postgres`]: a fresh PostgreSQL database per test on the `scripts/test-postgres` servers (`pg16` with
//!   pgvector, `pg15` without); `ENGRAM_TEST_BACKEND=pg16|pg15` runs [`TestServer`] on them instead of SQLite.
//! - [`pg_cluster`]: a PostgreSQL cluster of a test's own that it may stop and start (outage tests).
//! - [`models`]: pointing a server at scripted model servers ([`engram_scripted`], re-exported), and reading a
//!   run's server-sent events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod conformance;
pub mod embedding;
pub mod models;
pub mod pg_cluster;
pub mod postgres;
pub mod server;

pub use engram_scripted::{EmbeddingReply, RecordedRequest, Reply, ScriptedModel, Turn};

pub use server::{Resp, TestServer};
