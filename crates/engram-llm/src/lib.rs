//! engram-llm: the model providers the agent runtime talks to.
//!
//! One trait, [`ChatModel`], with two wire implementations: OpenAI-compatible chat completions (OpenAI, Ollama, vLLM,
//! llama.cpp, LM Studio, OpenRouter … by base URL) and Anthropic Messages. Both speak streaming and non-streaming, and
//! both return the same provider-neutral [`ChatResponse`]. [`Retrying`] adds backoff with jitter on 429/5xx/timeouts
//! (honouring `Retry-After`); [`Providers`] resolves an agent's `provider/model` into a ready client; [`tokens`]
//! counts tokens locally with an embedded BPE. This crate knows nothing about agents, memory or storage.

mod anthropic;
mod chat;
mod error;
mod failure;
mod openai;
mod providers;
mod retry;
mod sse;
pub mod tokens;

pub use anthropic::AnthropicClient;
pub use chat::{
    ChatMessage, ChatModel, ChatRequest, ChatResponse, Delta, DeltaSink, FinishReason, RawToolCall, TokenUsage,
    ToolChoice, ToolSpec,
};
pub use error::LlmError;
pub use openai::OpenAiClient;
pub use providers::{
    ANTHROPIC_DEFAULT_BASE_URL, OLLAMA_DEFAULT_BASE_URL, OPENAI_DEFAULT_BASE_URL, ProviderConfig, Providers,
    ProvidersConfig,
};
pub use retry::{RetryPolicy, Retrying};
pub use tokens::TokenCounter;
