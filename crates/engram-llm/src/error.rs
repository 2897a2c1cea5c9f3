//! Errors from model providers, classified so the runtime can decide: retry, compact and retry, or give up.

use std::time::Duration;

/// A failed model call.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum LlmError {
    /// The prompt does not fit the model's context window (OpenAI `context_length_exceeded`, Anthropic
    /// "prompt is too long", and similar wording from compatible servers).
    #[error("the prompt is too long for the model: {message}")]
    ContextLength { message: String },
    /// 429: rate limited or overloaded. `retry_after` comes from the `Retry-After` header when sent.
    #[error("rate limited by the provider (HTTP {status}): {message}")]
    RateLimited { status: u16, message: String, retry_after: Option<Duration> },
    /// 5xx (and Anthropic 529 overloaded).
    #[error("the provider failed (HTTP {status}): {message}")]
    Server { status: u16, message: String, retry_after: Option<Duration> },
    /// Any other 4xx (bad request, bad key, unknown model…): not retried.
    #[error("the provider rejected the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// No answer within the configured timeout.
    #[error("the provider did not answer within {0:?}")]
    Timeout(Duration),
    /// Connection refused, reset, DNS…
    #[error("could not reach the provider: {0}")]
    Transport(String),
    /// A 2xx whose body (or stream) could not be understood.
    #[error("the provider's response could not be read: {0}")]
    Malformed(String),
    /// The agent names a provider engram has no configuration for.
    #[error("{0}")]
    NotConfigured(String),
}

impl LlmError {
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
