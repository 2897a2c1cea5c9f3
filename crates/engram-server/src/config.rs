//! What the server needs to know to run: the listen address, limits, API keys, model and embedding providers and loop
//! limits. The binary resolves this from
//! defaults, file, environment and flags; the server only validates what depends on it (exposure without keys).

use std::net::SocketAddr;
use std::time::Duration;

use engram_core::org::OrgId;
use engram_embed::EmbeddersConfig;
use engram_llm::ProvidersConfig;
use engram_runtime::RuntimeConfig;

/// Default largest request body, in bytes.
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// One configured API key. The secret is hashed when the server starts and never kept or logged in clear.
#[derive(Clone)]
pub struct ApiKeyConfig {
    /// A public name for the key, recorded as the actor of the writes it makes (e.g. `ci-bot`).
    pub id: String,
    /// The secret callers send as `Authorization: Bearer <key>`.
    pub key: String,
    /// The organisation (tenant) whose data this key sees.
    pub org: OrgId,
}

impl std::fmt::Debug for ApiKeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyConfig")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .field("org", &self.org)
            .finish()
    }
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Largest accepted request body; larger ones get 413 `payload_too_large`.
    pub body_limit_bytes: usize,
    /// API keys. Empty means local mode: allowed only on a loopback address, every request acts as org `default`.
    pub api_keys: Vec<ApiKeyConfig>,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_ttl: Duration,
    /// The default embedding model reported by `/v1/health` and given to agents that do not name one.
    pub embedding_model: String,
    /// Model providers: base URLs, keys, timeouts, retries.
    pub providers: ProvidersConfig,
    /// Embedding models: the local model's directory and the embedding providers' base URLs and keys.
    pub embedders: EmbeddersConfig,
    /// Agent loop limits and context paging thresholds.
    pub runtime: RuntimeConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8283)),
            body_limit_bytes: DEFAULT_BODY_LIMIT,
            api_keys: Vec::new(),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            embedding_model: "local/all-minilm-l6-v2".to_owned(),
            providers: ProvidersConfig::default(),
            embedders: EmbeddersConfig::default(),
            runtime: RuntimeConfig::default(),
        }
    }
}
