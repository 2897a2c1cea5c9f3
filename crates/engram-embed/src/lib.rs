//! engram-embed: the embedding models engram's retrieval uses.
//!
//! One trait, [`Embedder`], with two implementations: [`LocalEmbedder`] runs all-MiniLM-L6-v2 on the CPU with
//! candle (no network, weights fetched once by `scripts/fetch-model`), and an OpenAI-compatible `/v1/embeddings`
//! client serves `openai/…` and `ollama/…` models. [`Embedders`] is configured once at start-up and resolves an
//! agent's embedding `provider/model` into a ready embedder, or says what is missing. Every vector is L2-normalised,
//! so a dot product is a cosine similarity. This crate knows nothing about agents or storage.

mod embedder;
mod error;
mod local;
mod openai;
mod registry;

pub use embedder::Embedder;
pub use error::EmbedError;
pub use local::{LOCAL_DIMENSIONS, LOCAL_MODEL, LocalEmbedder, MAX_SEQUENCE_TOKENS};
pub use openai::OpenAiEmbedder;
pub use registry::{EmbedProviderConfig, Embedders, EmbeddersConfig, OLLAMA_DEFAULT_BASE_URL, OPENAI_DEFAULT_BASE_URL};
