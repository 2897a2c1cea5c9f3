//! The embedding providers engram knows (`local`, `openai`, `ollama`), configured once at start-up: [`Embedders`]
//! loads the local model once (keeping the reason if it cannot), and hands out the embedder an agent's embedding
//! `provider/model` names, or says what configuration is missing. Remote clients are made once per model and kept,
//! so a dimension learned from a provider's first answer sticks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use engram_core::agent::ModelRef;

use crate::embedder::Embedder;
use crate::error::EmbedError;
use crate::local::{LOCAL_MODEL, LocalEmbedder};
use crate::openai::OpenAiEmbedder;

/// The public OpenAI API.
pub const OPENAI_DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// A local Ollama's OpenAI-compatible endpoint.
pub const OLLAMA_DEFAULT_BASE_URL: &str = "http://127.0.0.1:11434/v1";
/// How long one embeddings request may take unless configured otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The one model the `local` provider serves (the part after `local/`).
const LOCAL_MODEL_NAME: &str = "all-minilm-l6-v2";

/// Where one remote embedding provider is and how to authenticate to it.
#[derive(Clone, PartialEq, Eq)]
pub struct EmbedProviderConfig {
    pub base_url: String,
    /// Blank counts as absent.
    pub api_key: Option<String>,
    /// Bounds each request.
    pub timeout: Duration,
}

impl EmbedProviderConfig {
    fn with_base_url(base_url: &str) -> Self {
        Self { base_url: base_url.to_owned(), api_key: None, timeout: DEFAULT_TIMEOUT }
    }

    /// The key, unless blank.
    fn key(&self) -> Option<String> {
        self.api_key.as_deref().map(str::trim).filter(|key| !key.is_empty()).map(str::to_owned)
    }

    /// Whether the base URL is `default` (ignoring a trailing `/`).
    fn is_default_url(&self, default: &str) -> bool {
        self.base_url.trim_end_matches('/') == default
    }
}

impl std::fmt::Debug for EmbedProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedProviderConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Every embedding provider's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddersConfig {
    /// Where the local model's files are (`scripts/fetch-model` installs them); `None`: no local model.
    pub model_dir: Option<PathBuf>,
    pub openai: EmbedProviderConfig,
    pub ollama: EmbedProviderConfig,
}

impl Default for EmbeddersConfig {
    fn default() -> Self {
        Self {
            model_dir: None,
            openai: EmbedProviderConfig::with_base_url(OPENAI_DEFAULT_BASE_URL),
            ollama: EmbedProviderConfig::with_base_url(OLLAMA_DEFAULT_BASE_URL),
        }
    }
}

/// The configured embedding providers. Cheap to clone (shared inside).
#[derive(Clone)]
pub struct Embedders {
    inner: Arc<Inner>,
}

struct Inner {
    config: EmbeddersConfig,
    /// The loaded local model, or why there is none.
    local: Result<Arc<LocalEmbedder>, String>,
    /// Remote embedders by `provider/model`.
    remote: Mutex<HashMap<String, Arc<dyn Embedder>>>,
}

impl std::fmt::Debug for Embedders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let local = match &self.inner.local {
            Ok(local) => format!("loaded from {}", local.dir().display()),
            Err(reason) => format!("not loaded: {reason}"),
        };
        f.debug_struct("Embedders")
            .field("local", &local)
            .field("openai", &self.inner.config.openai)
            .field("ollama", &self.inner.config.ollama)
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Embedders {
    /// The providers of `config`. Loads the local model now when `model_dir` is set (about 90 MB read, a fraction
    /// of a second); if that fails the reason is kept, logged, and reported by [`Self::local_status`] and by
    /// [`Self::get`] for `local/…` models, and everything else still works.
    pub fn new(config: EmbeddersConfig) -> Self {
        let local = match &config.model_dir {
            None => Err("no model directory is configured".to_owned()),
            Some(dir) => LocalEmbedder::load(dir).map(Arc::new).map_err(|error| match error {
                EmbedError::Model(reason) => reason,
                other => other.to_string(),
            }),
        };
        if let Err(reason) = &local {
            tracing::warn!(model = LOCAL_MODEL, %reason, "the local embedding model is not available");
        }
        Self::with_local(config, local)
    }

    /// No local model, and remote providers at their defaults (so `openai/…` needs a key and `ollama/…` a local
    /// Ollama): for tests that want no model.
    pub fn disabled() -> Self {
        Self::with_local(EmbeddersConfig::default(), Err("embedding models are disabled".to_owned()))
    }

    fn with_local(config: EmbeddersConfig, local: Result<Arc<LocalEmbedder>, String>) -> Self {
        Self { inner: Arc::new(Inner { config, local, remote: Mutex::new(HashMap::new()) }) }
    }

    /// The directory the local model was loaded from, or why it was not.
    pub fn local_status(&self) -> Result<&Path, &str> {
        match &self.inner.local {
            Ok(local) => Ok(local.dir()),
            Err(reason) => Err(reason),
        }
    }

    /// The embedder for `model` (`local/all-minilm-l6-v2`, `openai/<model>`, `ollama/<model>`).
    pub fn get(&self, model: &ModelRef) -> Result<Arc<dyn Embedder>, EmbedError> {
        let name = model.to_string();
        match model.provider() {
            "local" => self.local(model),
            "openai" => {
                let config = &self.inner.config.openai;
                let key = config.key();
                if key.is_none() && config.is_default_url(OPENAI_DEFAULT_BASE_URL) {
                    return Err(EmbedError::Unavailable {
                        model: name,
                        reason: "no OpenAI API key is configured; set OPENAI_API_KEY (or point the OpenAI base URL \
                                 at a compatible server that needs none)"
                            .to_owned(),
                    });
                }
                self.remote(model, config, key)
            }
            "ollama" => {
                let config = &self.inner.config.ollama;
                self.remote(model, config, config.key())
            }
            other => Err(EmbedError::UnknownModel {
                model: name,
                reason: format!("no embedding provider is called `{other}`; use local, openai or ollama"),
            }),
        }
    }

    fn local(&self, model: &ModelRef) -> Result<Arc<dyn Embedder>, EmbedError> {
        if model.model() != LOCAL_MODEL_NAME {
            return Err(EmbedError::UnknownModel {
                model: model.to_string(),
                reason: format!("the only local embedding model is {LOCAL_MODEL}"),
            });
        }
        match &self.inner.local {
            Ok(local) => Ok(local.clone()),
            Err(reason) => {
                let mut reason = format!("the local model is not loaded: {reason}");
                if !reason.contains("scripts/fetch-model") {
                    reason.push_str("; run scripts/fetch-model and point the model directory at what it installs");
                }
                Err(EmbedError::Unavailable { model: model.to_string(), reason })
            }
        }
    }

    fn remote(
        &self,
        model: &ModelRef,
        config: &EmbedProviderConfig,
        key: Option<String>,
    ) -> Result<Arc<dyn Embedder>, EmbedError> {
        let name = model.to_string();
        let mut remote = lock(&self.inner.remote);
        if let Some(embedder) = remote.get(&name) {
            return Ok(embedder.clone());
        }
        let embedder: Arc<dyn Embedder> =
            Arc::new(OpenAiEmbedder::new(model.provider(), model.model(), &config.base_url, key, config.timeout)?);
        remote.insert(name, embedder.clone());
        Ok(embedder)
    }
}
