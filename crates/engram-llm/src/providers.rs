//! The model providers engram knows (`openai`, `anthropic`, `ollama`), configured once at start-up: [`Providers`]
//! builds one retrying client per provider and hands out the one an agent's `provider/model` names, or says what
//! configuration is missing.

use std::sync::Arc;
use std::time::Duration;

use crate::anthropic::AnthropicClient;
use crate::chat::ChatModel;
use crate::error::LlmError;
use crate::openai::OpenAiClient;
use crate::retry::{RetryPolicy, Retrying};

/// The public OpenAI API.
pub const OPENAI_DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The public Anthropic API (no `/v1`: the client adds `/v1/messages`).
pub const ANTHROPIC_DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// A local Ollama's OpenAI-compatible endpoint.
pub const OLLAMA_DEFAULT_BASE_URL: &str = "http://127.0.0.1:11434/v1";
/// How long one model call may take unless configured otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Where one provider is and how to authenticate to it.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    pub base_url: String,
    /// Blank counts as absent.
    pub api_key: Option<String>,
    /// Bounds a non-streaming call, and each wait of a streaming one (see [`OpenAiClient::new`]).
    pub timeout: Duration,
}

impl ProviderConfig {
    fn with_base_url(base_url: &str) -> Self {
        Self { base_url: base_url.to_owned(), api_key: None, timeout: DEFAULT_TIMEOUT }
    }

    /// The key, unless blank.
    fn key(&self) -> Option<String> {
        self.api_key.as_deref().map(str::trim).filter(|key| !key.is_empty()).map(str::to_owned)
    }

    /// Whether the base URL is the provider's public one (which needs a key), ignoring a trailing `/`.
    fn is_default_url(&self, default: &str) -> bool {
        self.base_url.trim_end_matches('/') == default
    }
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Every provider's configuration and the retry policy they share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvidersConfig {
    pub openai: ProviderConfig,
    pub anthropic: ProviderConfig,
    pub ollama: ProviderConfig,
    pub retry: RetryPolicy,
}

impl Default for ProvidersConfig {
    /// The public endpoints and a local Ollama, 120 s timeouts, no keys.
    fn default() -> Self {
        Self {
            openai: ProviderConfig::with_base_url(OPENAI_DEFAULT_BASE_URL),
            anthropic: ProviderConfig::with_base_url(ANTHROPIC_DEFAULT_BASE_URL),
            ollama: ProviderConfig::with_base_url(OLLAMA_DEFAULT_BASE_URL),
            retry: RetryPolicy::default(),
        }
    }
}

/// One provider's client, or why there is none.
#[derive(Clone)]
enum Slot {
    Ready { model: Arc<dyn ChatModel>, base_url: String, has_key: bool },
    Missing(String),
}

impl Slot {
    fn get(&self) -> Result<Arc<dyn ChatModel>, LlmError> {
        match self {
            Self::Ready { model, .. } => Ok(model.clone()),
            Self::Missing(message) => Err(LlmError::NotConfigured(message.clone())),
        }
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ready { base_url, has_key, .. } => {
                f.debug_struct("Ready").field("base_url", base_url).field("has_key", has_key).finish()
            }
            Self::Missing(message) => f.debug_tuple("Missing").field(message).finish(),
        }
    }
}

/// The configured providers, built once and shared; each client keeps its own connection pool.
#[derive(Debug, Clone)]
pub struct Providers {
    openai: Slot,
    anthropic: Slot,
    ollama: Slot,
}

impl Providers {
    /// Builds a retrying client for every usable provider. OpenAI and Anthropic at their public URLs need a key
    /// (without one, asking for them answers [`LlmError::NotConfigured`] naming the variable to set); at any other
    /// URL (a proxy, a gateway, a compatible server) the key is optional. Ollama never needs one.
    pub fn new(config: ProvidersConfig) -> Result<Self, LlmError> {
        let retry = config.retry;
        let openai = match config.openai.key() {
            None if config.openai.is_default_url(OPENAI_DEFAULT_BASE_URL) => Slot::Missing(
                "the model provider `openai` needs an API key: set OPENAI_API_KEY (or point the OpenAI base URL at \
                 a compatible server)"
                    .to_owned(),
            ),
            key => ready(&config.openai, key.is_some(), retry, |c| {
                OpenAiClient::new(c.base_url.clone(), key.clone(), c.timeout, "openai")
            })?,
        };
        let anthropic = match config.anthropic.key() {
            None if config.anthropic.is_default_url(ANTHROPIC_DEFAULT_BASE_URL) => Slot::Missing(
                "the model provider `anthropic` needs an API key: set ANTHROPIC_API_KEY (or point the Anthropic base \
                 URL at a compatible server)"
                    .to_owned(),
            ),
            key => ready(&config.anthropic, key.is_some(), retry, |c| {
                AnthropicClient::new(c.base_url.clone(), key.clone(), c.timeout)
            })?,
        };
        let key = config.ollama.key();
        let ollama = ready(&config.ollama, key.is_some(), retry, |c| {
            OpenAiClient::new(c.base_url.clone(), key.clone(), c.timeout, "ollama")
        })?;
        Ok(Self { openai, anthropic, ollama })
    }

    /// The client for `provider` (the part of an agent's model before `/`).
    pub fn chat_model(&self, provider: &str) -> Result<Arc<dyn ChatModel>, LlmError> {
        match provider {
            "openai" => self.openai.get(),
            "anthropic" => self.anthropic.get(),
            "ollama" => self.ollama.get(),
            other => Err(LlmError::NotConfigured(format!(
                "unknown model provider `{other}`; engram knows openai, anthropic and ollama"
            ))),
        }
    }
}

fn ready<C: ChatModel + 'static>(
    config: &ProviderConfig,
    has_key: bool,
    retry: RetryPolicy,
    build: impl FnOnce(&ProviderConfig) -> Result<C, LlmError>,
) -> Result<Slot, LlmError> {
    let client = build(config)?;
    let model: Arc<dyn ChatModel> = Arc::new(Retrying::new(client, retry));
    Ok(Slot::Ready { model, base_url: config.base_url.clone(), has_key })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_configured(providers: &Providers, provider: &str) -> String {
        match providers.chat_model(provider) {
            Err(LlmError::NotConfigured(message)) => message,
            Err(other) => panic!("{provider}: unexpected error {other}"),
            Ok(_) => panic!("{provider} is configured"),
        }
    }

    #[tokio::test]
    async fn public_endpoints_need_keys_and_others_do_not() {
        let providers = Providers::new(ProvidersConfig::default()).unwrap();
        assert!(not_configured(&providers, "openai").contains("OPENAI_API_KEY"));
        assert!(not_configured(&providers, "anthropic").contains("ANTHROPIC_API_KEY"));
        assert!(providers.chat_model("ollama").is_ok());
        assert_eq!(
            not_configured(&providers, "mistral"),
            "unknown model provider `mistral`; engram knows openai, anthropic and ollama"
        );

        let mut config = ProvidersConfig::default();
        config.openai.base_url = "http://127.0.0.1:8000/v1/".into();
        config.anthropic.api_key = Some("sk-ant-secret".into());
        let providers = Providers::new(config).unwrap();
        assert!(providers.chat_model("openai").is_ok());
        assert!(providers.chat_model("anthropic").is_ok());

        let mut config = ProvidersConfig::default();
        config.openai.api_key = Some("  ".into());
        config.openai.base_url = format!("{OPENAI_DEFAULT_BASE_URL}/");
        assert!(not_configured(&Providers::new(config).unwrap(), "openai").contains("OPENAI_API_KEY"));
    }

    #[tokio::test]
    async fn debug_output_never_shows_keys() {
        let mut config = ProvidersConfig::default();
        config.openai.api_key = Some("sk-very-secret".into());
        config.ollama.api_key = Some("ollama-secret".into());
        let printed = format!("{config:?} {:?}", Providers::new(config.clone()).unwrap());
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("api.openai.com"));
    }
}
