//! Errors from embedding providers, classified like engram-llm's model errors so callers can decide: retry later,
//! fix the configuration, or give up on this input.

use std::time::Duration;

/// A failed embedding call, or an embedding model that cannot be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum EmbedError {
    /// The model is known but cannot be used here: the local model is not loaded, a provider has no key …
    /// `reason` says what to do about it.
    #[error("the embedding model `{model}` is unavailable: {reason}")]
    Unavailable { model: String, reason: String },
    /// No provider serves this model (unknown provider, or a local model engram does not ship).
    #[error("unknown embedding model `{model}`: {reason}")]
    UnknownModel { model: String, reason: String },
    /// Any 4xx other than 429 (bad key, unknown model, bad input …): not retried. `message` is the provider's.
    #[error("the embedding provider rejected the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// 429: rate limited or overloaded. `retry_after` comes from the `Retry-After` header when sent.
    #[error("rate limited by the embedding provider (HTTP {status}): {message}")]
    RateLimited { status: u16, message: String, retry_after: Option<Duration> },
    /// 5xx.
    #[error("the embedding provider failed (HTTP {status}): {message}")]
    Server { status: u16, message: String, retry_after: Option<Duration> },
    /// No answer within the configured timeout.
    #[error("the embedding provider did not answer within {0:?}")]
    Timeout(Duration),
    /// Connection refused, reset, DNS …
    #[error("could not reach the embedding provider: {0}")]
    Transport(String),
    /// A 2xx whose body could not be understood (not JSON, missing vectors, wrong count …).
    #[error("the embedding provider's response could not be read: {0}")]
    Malformed(String),
    /// A vector whose length is not the model's dimension.
    #[error("the embedding model `{model}` returned a vector of {got} dimensions, expected {expected}")]
    Dimension { model: String, expected: usize, got: usize },
    /// The local model failed to load or to run.
    #[error("local embedding model: {0}")]
    Model(String),
    /// The provider says an input is longer than the model accepts. (The local model truncates instead.)
    #[error("an input is too long for the embedding model `{model}`: {message}")]
    InputTooLarge { model: String, message: String },
}

impl EmbedError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Server { .. } | Self::Timeout(_) | Self::Transport(_))
    }

    /// How long the provider asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
