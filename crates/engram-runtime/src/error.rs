//! The runtime's error enum: why a request to run or inspect an agent could not be served. Failures *inside* a run
//! (a model error, an overflow) are not errors here: they end the run with a stop reason.

use engram_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The agent has no model: it holds memory but cannot run.
    #[error("agent `{0}` has no model; set one with PATCH /v1/agents/{{id}} to run it")]
    NoModel(String),

    /// The agent's model provider is not configured (missing key, unknown provider).
    #[error("{0}")]
    ProviderUnavailable(String),

    /// Another run is stepping the agent and the caller asked not to wait.
    #[error("agent `{0}` is busy with another run; retry later or send with wait=true")]
    AgentBusy(String),

    /// Compaction found nothing it may evict.
    #[error("nothing to compact: the window holds only the newest exchange")]
    NothingToCompact,

    /// Compaction needed the model and the model failed.
    #[error("the model failed while summarising: {0}")]
    Summary(engram_llm::LlmError),

    /// Vector search was asked for but the agent's embedding model cannot be used; the reason says what to do.
    #[error("vector search is unavailable: {0}")]
    SearchModeUnavailable(String),

    /// The embedding provider failed (or answered with something unusable) while embedding a query or passages.
    #[error("embedding failed: {0}")]
    Embedding(engram_embed::EmbedError),

    #[error(transparent)]
    Store(#[from] StoreError),
}
