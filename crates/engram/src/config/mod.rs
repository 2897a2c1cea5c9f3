//! Server settings, resolved from four layers — defaults < TOML config file < environment < `serve` flags — and
//! checked once at start into [`Settings`]. Every option is defined once, in `options::OPTIONS`; `layers` stacks
//! the sources with figment and `values` parses the winner of each, naming its source when it is wrong.

mod layers;
mod options;
mod values;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use engram_embed::{EmbedProviderConfig, EmbeddersConfig};
use engram_llm::{ProviderConfig, ProvidersConfig, RetryPolicy};
use engram_runtime::RuntimeConfig;
use engram_server::{ApiKeyConfig, ServerConfig};
use serde_json::{Value, json};

pub use layers::Source;
use options::{
    ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, API_KEYS, BODY_LIMIT_BYTES, COMPACTION_THRESHOLD, DATA_DIR,
    DATABASE_POOL_SIZE, DATABASE_STATEMENT_TIMEOUT_SECS, DATABASE_URL, EMBEDDING_MODEL_DIR, IDEMPOTENCY_TTL_SECS,
    LISTEN, LOG, LOG_FORMAT, MAX_STEPS, MODEL_MAX_RETRIES, MODEL_TIMEOUT_SECS, OLLAMA_BASE_URL, OPENAI_API_KEY,
    OPENAI_BASE_URL, option,
};
pub use options::{ConfigFlags, OPTIONS, docs_markdown};
pub use values::DatabaseSettings;
use values::Raw;

use crate::logging::LogFormat;
use crate::output::Table;

/// Largest accepted `body_limit_bytes`: 1 GiB.
const MAX_BODY_LIMIT: u64 = 1 << 30;
/// Longest accepted idempotency TTL: 30 days.
const MAX_IDEMPOTENCY_TTL_SECS: u64 = 30 * 24 * 3600;
/// Longest accepted model call timeout: one hour.
const MAX_MODEL_TIMEOUT_SECS: u64 = 3600;
/// Most accepted retries of a model call.
const MAX_MODEL_RETRIES: u64 = 10;
/// The compaction threshold is a share of the context window strictly above this (and the warning share).
const MIN_COMPACTION_THRESHOLD: f64 = 0.5;
/// Most accepted PostgreSQL connections.
const MAX_DATABASE_POOL_SIZE: u64 = 1000;
/// Longest accepted PostgreSQL statement timeout: one hour.
const MAX_DATABASE_STATEMENT_TIMEOUT_SECS: u64 = 3600;

/// Everything `engram serve` needs, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Directory holding the database.
    pub data_dir: PathBuf,
    /// PostgreSQL instead of SQLite in `data_dir`, when it has a URL.
    pub database: DatabaseSettings,
    /// Directory of the local embedding model.
    pub embedding_model_dir: PathBuf,
    /// Address to bind.
    pub listen: SocketAddr,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// How long idempotency keys are remembered.
    pub idempotency_ttl: Duration,
    /// tracing `EnvFilter` directives.
    pub log: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// API keys; empty means local mode.
    pub api_keys: Vec<ApiKeyConfig>,
    /// Model providers: where they are, their keys, timeouts and retries.
    pub providers: ProvidersConfig,
    /// Agent loop limits and the compaction threshold.
    pub runtime: RuntimeConfig,
}

impl Settings {
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            listen: self.listen,
            body_limit_bytes: self.body_limit_bytes,
            api_keys: self.api_keys.clone(),
            idempotency_ttl: self.idempotency_ttl,
            providers: self.providers.clone(),
            embedders: self.embedders_config(),
            runtime: self.runtime.clone(),
            ..ServerConfig::default()
        }
    }
}

impl Settings {
    /// The embedding models: the local one from its directory; OpenAI and Ollama embeddings at the same base URLs,
    /// with the same keys and timeouts, as their chat models.
    fn embedders_config(&self) -> EmbeddersConfig {
        let provider = |p: &ProviderConfig| EmbedProviderConfig {
            base_url: p.base_url.clone(),
            api_key: p.api_key.clone(),
            timeout: p.timeout,
        };
        EmbeddersConfig {
            model_dir: Some(self.embedding_model_dir.clone()),
            openai: provider(&self.providers.openai),
            ollama: provider(&self.providers.ollama),
        }
    }
}

/// Where the local embedding model is when `embedding_model_dir` is not set.
pub fn default_model_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("models").join("all-minilm-l6-v2")
}

/// What `config show` prints in place of a secret that is set.
const REDACTED: &str = "<redacted>";

/// Settings together with the layer each value came from.
#[derive(Debug)]
pub struct Resolved {
    pub settings: Settings,
    pub sources: Vec<(&'static str, Source)>,
    pub config_file: Option<(PathBuf, Source)>,
}

/// Resolves and checks the settings; the error names the offending option, its value and its source.
pub fn resolve(flags: &ConfigFlags) -> anyhow::Result<Resolved> {
    let layers = layers::Layers::load(flags)?;
    let mut sources = Vec::new();
    let mut get = |key: &'static str| -> Option<Raw> {
        let (value, source) = layers.get(key)?;
        sources.push((key, source.clone()));
        Some(Raw { value, source })
    };
    // Every key with a default in the table is present; a miss would be a bug in the table, reported plainly.
    let required = |raw: Option<Raw>, key: &str| raw.ok_or_else(|| anyhow::anyhow!("no value for `{key}`"));

    let data_dir = values::data_dir(&required(get(DATA_DIR), DATA_DIR)?)?;
    let database = DatabaseSettings {
        url: get(DATABASE_URL).map(|raw| values::database_url(&raw)).transpose()?.flatten(),
        pool_size: u32::try_from(values::positive(
            &required(get(DATABASE_POOL_SIZE), DATABASE_POOL_SIZE)?,
            "database pool size",
            "connections",
            MAX_DATABASE_POOL_SIZE,
        )?)?,
        statement_timeout: Duration::from_secs(values::positive(
            &required(get(DATABASE_STATEMENT_TIMEOUT_SECS), DATABASE_STATEMENT_TIMEOUT_SECS)?,
            "database statement timeout",
            "seconds",
            MAX_DATABASE_STATEMENT_TIMEOUT_SECS,
        )?),
    };
    let embedding_model_dir = match get(EMBEDDING_MODEL_DIR) {
        Some(raw) => values::directory(&raw, "embedding model directory")?,
        None => default_model_dir(&data_dir),
    };
    let listen = values::listen(&required(get(LISTEN), LISTEN)?)?;
    let body_limit =
        values::positive(&required(get(BODY_LIMIT_BYTES), BODY_LIMIT_BYTES)?, "body limit", "bytes", MAX_BODY_LIMIT)?;
    let ttl = values::positive(
        &required(get(IDEMPOTENCY_TTL_SECS), IDEMPOTENCY_TTL_SECS)?,
        "idempotency TTL",
        "seconds",
        MAX_IDEMPOTENCY_TTL_SECS,
    )?;
    let log = values::log_filter(&required(get(LOG), LOG)?)?;
    let log_format = values::log_format(&required(get(LOG_FORMAT), LOG_FORMAT)?)?;
    let api_keys = match get(API_KEYS) {
        Some(raw) => values::api_keys(&raw)?,
        None => Vec::new(),
    };

    let timeout = values::positive(
        &required(get(MODEL_TIMEOUT_SECS), MODEL_TIMEOUT_SECS)?,
        "model timeout",
        "seconds",
        MAX_MODEL_TIMEOUT_SECS,
    )?;
    let timeout = Duration::from_secs(timeout);
    let max_retries = values::whole_number(
        &required(get(MODEL_MAX_RETRIES), MODEL_MAX_RETRIES)?,
        "model max retries",
        "retries",
        0,
        MAX_MODEL_RETRIES,
    )?;
    let mut provider = |url_key: &'static str, key_key: Option<&'static str>, name: &str| -> anyhow::Result<_> {
        let base_url = values::base_url(&required(get(url_key), url_key)?, &format!("{name} base URL"))?;
        let api_key = match key_key.and_then(&mut get) {
            Some(raw) => values::secret(&raw, &format!("{name} API key"))?,
            None => None,
        };
        Ok(ProviderConfig { base_url, api_key, timeout })
    };
    let providers = ProvidersConfig {
        openai: provider(OPENAI_BASE_URL, Some(OPENAI_API_KEY), "OpenAI")?,
        anthropic: provider(ANTHROPIC_BASE_URL, Some(ANTHROPIC_API_KEY), "Anthropic")?,
        ollama: provider(OLLAMA_BASE_URL, None, "Ollama")?,
        retry: RetryPolicy { max_retries: u32::try_from(max_retries)?, ..RetryPolicy::default() },
    };

    let runtime_defaults = RuntimeConfig::default();
    let max_steps = values::positive(
        &required(get(MAX_STEPS), MAX_STEPS)?,
        "max steps",
        "steps",
        u64::from(runtime_defaults.max_steps_limit),
    )?;
    let warn_ratio = runtime_defaults.warn_ratio;
    let compact_ratio = values::ratio(
        &required(get(COMPACTION_THRESHOLD), COMPACTION_THRESHOLD)?,
        "compaction threshold",
        warn_ratio.max(MIN_COMPACTION_THRESHOLD),
        1.0,
        &format!(
            "expected a share of the context window above {warn_ratio} (where the agent is warned that it is \
             filling up) and below 1.0"
        ),
    )?;
    let runtime = RuntimeConfig { default_max_steps: u32::try_from(max_steps)?, compact_ratio, ..runtime_defaults };

    let settings = Settings {
        data_dir,
        database,
        embedding_model_dir,
        listen,
        body_limit_bytes: usize::try_from(body_limit)?,
        idempotency_ttl: Duration::from_secs(ttl),
        log,
        log_format,
        api_keys,
        providers,
        runtime,
    };
    Ok(Resolved { settings, sources, config_file: layers.config_file().cloned() })
}

/// `engram config show`: each resolved value and its source. Secrets are never printed.
pub fn show(flags: &ConfigFlags, json: bool) -> anyhow::Result<()> {
    let resolved = resolve(flags)?;
    let settings = &resolved.settings;
    let source_of = |key: &str| {
        resolved.sources.iter().find(|(k, _)| *k == key).map_or_else(|| "default".to_owned(), |(_, s)| s.to_string())
    };
    let keys: Vec<_> = settings.api_keys.iter().map(|k| json!({"id": k.id, "org": k.org.as_str()})).collect();
    let providers = &settings.providers;
    // A secret is shown as whether it is set, never as its value.
    let redacted = |key: &Option<String>| key.as_ref().map_or(Value::Null, |_| json!(REDACTED));
    let rows = [
        (DATA_DIR, json!(settings.data_dir.display().to_string())),
        // Where the database is, never its password.
        (DATABASE_URL, settings.database.url.as_deref().map_or(Value::Null, |url| json!(values::redact_url(url)))),
        (DATABASE_POOL_SIZE, json!(settings.database.pool_size)),
        (DATABASE_STATEMENT_TIMEOUT_SECS, json!(settings.database.statement_timeout.as_secs())),
        (EMBEDDING_MODEL_DIR, json!(settings.embedding_model_dir.display().to_string())),
        (LISTEN, json!(settings.listen.to_string())),
        (BODY_LIMIT_BYTES, json!(settings.body_limit_bytes)),
        (IDEMPOTENCY_TTL_SECS, json!(settings.idempotency_ttl.as_secs())),
        (LOG, json!(settings.log)),
        (LOG_FORMAT, json!(settings.log_format.as_str())),
        (API_KEYS, json!(keys)),
        (OPENAI_API_KEY, redacted(&providers.openai.api_key)),
        (OPENAI_BASE_URL, json!(providers.openai.base_url)),
        (ANTHROPIC_API_KEY, redacted(&providers.anthropic.api_key)),
        (ANTHROPIC_BASE_URL, json!(providers.anthropic.base_url)),
        (OLLAMA_BASE_URL, json!(providers.ollama.base_url)),
        (MODEL_TIMEOUT_SECS, json!(providers.openai.timeout.as_secs())),
        (MODEL_MAX_RETRIES, json!(providers.retry.max_retries)),
        (MAX_STEPS, json!(settings.runtime.default_max_steps)),
        (COMPACTION_THRESHOLD, json!(settings.runtime.compact_ratio)),
    ];
    if json {
        let mut object = serde_json::Map::new();
        for (key, value) in rows {
            object.insert(key.to_owned(), json!({"value": value, "source": source_of(key)}));
        }
        let config_file = resolved.config_file.as_ref().map(|(path, _)| path.display().to_string());
        object.insert("config".to_owned(), json!({"value": config_file}));
        println!("{}", serde_json::to_string_pretty(&object)?);
        return Ok(());
    }
    let mut table = Table::new(["KEY", "VALUE", "SOURCE"]);
    if let Some((path, source)) = &resolved.config_file {
        table.row(["config".to_owned(), path.display().to_string(), source.to_string()]);
    }
    for (key, value) in rows {
        let shown = match (key, &value) {
            (API_KEYS, _) if settings.api_keys.is_empty() => "none (local mode)".to_owned(),
            (API_KEYS, _) => {
                settings.api_keys.iter().map(|k| format!("{} (org {})", k.id, k.org)).collect::<Vec<_>>().join(", ")
            }
            (DATABASE_URL, Value::Null) => "none (SQLite in the data directory)".to_owned(),
            (_, Value::Null) if option(key).is_some_and(|o| o.secret) => "not set".to_owned(),
            (_, Value::Null) => "none".to_owned(),
            (_, Value::String(s)) => s.clone(),
            (_, other) => other.to_string(),
        };
        table.row([key.to_owned(), shown, source_of(key)]);
    }
    print!("{}", table.render());
    Ok(())
}
