//! engram-scripted: scripted model servers for tests and benchmarks (never for product code).
//!
//! A [`ScriptedModel`] is a small HTTP server on `127.0.0.1:0` that speaks one real wire format (OpenAI chat
//! completions or Anthropic Messages, streaming and not). It answers each request with the next [`Turn`] of its script,
//! checks the turn's expectations against the request, and records every request so a test can assert on exactly what
//! the model was shown. The OpenAI-compatible server also answers `POST /v1/embeddings` with fake vectors or scripted
//! errors ([`EmbeddingReply`]).

mod anthropic;
mod embeddings;
mod openai;
mod script;
mod server;

pub use embeddings::{DEFAULT_EMBEDDING_DIMENSIONS, EmbeddingReply, fake_embedding};
pub use script::{Expectation, RecordedRequest, Reply, ReplyKind, ScriptedCall, Turn, Wire};
pub use server::{Responder, ScriptedModel};
