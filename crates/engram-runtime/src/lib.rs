//! engram-runtime: the agent loop.
//!
//! A user message starts a run. The runtime compiles the context from the store ([`context`]), calls the agent's model
//! through `engram-llm`, executes the built-in memory tools it asks for ([`tools`]) through the store's audited write
//! path, persists every step before the next, and pages old messages out of the window when it fills
//! ([`compaction`]). [`Runtime`] owns the per-agent serialisation, cancellation and queued runs; the HTTP layer only
//! turns requests into [`SendRequest`]s and [`RunEvent`]s into responses.

pub mod compaction;
pub mod context;
mod error;
mod events;
pub mod retrieval;
mod run_loop;
mod runtime;
mod token_cache;
pub mod tools;

pub use error::RuntimeError;
pub use events::{DeltaKind, RunEvent, RunSummary};
pub use retrieval::{Retrieval, SearchOutcome};
pub use runtime::{CompactOutcome, RunHandle, Runtime, RuntimeConfig, SendRequest};
