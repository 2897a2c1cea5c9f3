//! The table of server options: the one place where each option's file key, environment variable, flag, default and
//! meaning are written down. The `serve` flags (`ConfigFlags`), the environment mapping, error messages naming an
//! option's source and `engram config docs` are all derived from [`OPTIONS`].

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};

/// One server option as it appears in every configuration layer.
#[derive(Debug)]
pub struct ConfigOption {
    /// Key in the TOML config file (when `in_file`), and the name of the value once resolved.
    pub key: &'static str,
    /// Whether the option may appear in the config file.
    pub in_file: bool,
    /// Environment variable that sets it.
    pub env: &'static str,
    /// Long flag of `engram serve` (without `--`), if it has one. Secrets have none: argv is visible to every user.
    pub flag: Option<&'static str>,
    /// Placeholder for the value in help text.
    pub value_name: &'static str,
    /// The value used when no layer sets it, as text; `None` means unset.
    pub default: Option<&'static str>,
    /// One-sentence meaning, shown in `--help` and in the docs.
    pub help: &'static str,
    /// A secret: `config show` never prints its value (only whether it is set; for API keys, their ids).
    pub secret: bool,
}

/// Key of the option naming the config file.
pub const CONFIG: &str = "config";
pub const DATA_DIR: &str = "data_dir";
pub const DATABASE_URL: &str = "database_url";
pub const DATABASE_POOL_SIZE: &str = "database_pool_size";
pub const DATABASE_STATEMENT_TIMEOUT_SECS: &str = "database_statement_timeout_secs";
pub const EMBEDDING_MODEL_DIR: &str = "embedding_model_dir";
pub const LISTEN: &str = "listen";
pub const BODY_LIMIT_BYTES: &str = "body_limit_bytes";
pub const IDEMPOTENCY_TTL_SECS: &str = "idempotency_ttl_secs";
pub const LOG: &str = "log";
pub const LOG_FORMAT: &str = "log_format";
pub const API_KEYS: &str = "api_keys";
pub const OPENAI_API_KEY: &str = "openai_api_key";
pub const OPENAI_BASE_URL: &str = "openai_base_url";
pub const ANTHROPIC_API_KEY: &str = "anthropic_api_key";
pub const ANTHROPIC_BASE_URL: &str = "anthropic_base_url";
pub const OLLAMA_BASE_URL: &str = "ollama_base_url";
pub const MODEL_TIMEOUT_SECS: &str = "model_timeout_secs";
pub const MODEL_MAX_RETRIES: &str = "model_max_retries";
pub const MAX_STEPS: &str = "max_steps";
pub const COMPACTION_THRESHOLD: &str = "compaction_threshold";

/// Every server option. Precedence, lowest first: default, config file, environment, flag.
pub const OPTIONS: &[ConfigOption] = &[
    ConfigOption {
        key: CONFIG,
        in_file: false,
        env: "ENGRAM_CONFIG",
        flag: Some("config"),
        value_name: "FILE",
        default: None,
        help: "TOML file with any of the keys below; a missing file is an error.",
        secret: false,
    },
    ConfigOption {
        key: DATA_DIR,
        in_file: true,
        env: "ENGRAM_DATA_DIR",
        flag: Some("data-dir"),
        value_name: "DIR",
        default: Some("./engram-data"),
        help: "Directory holding the SQLite database; created if missing.",
        secret: false,
    },
    // The URL is not marked secret (`config show` prints where it points) but its password is always redacted;
    // a password is better kept out of it, in PostgreSQL's own password file or environment.
    ConfigOption {
        key: DATABASE_URL,
        in_file: true,
        env: "ENGRAM_DATABASE_URL",
        flag: Some("database-url"),
        value_name: "URL",
        default: None,
        help: "PostgreSQL database to keep state in instead of SQLite, as postgres://USER@HOST:PORT/DATABASE. \
               Unset means SQLite in the data directory. A password in the URL is never printed; prefer leaving it \
               out (libpq's password file and environment are read) over putting it on the command line.",
        secret: false,
    },
    ConfigOption {
        key: DATABASE_POOL_SIZE,
        in_file: true,
        env: "ENGRAM_DATABASE_POOL_SIZE",
        flag: Some("database-pool-size"),
        value_name: "N",
        default: Some("16"),
        help: "Most connections engram opens to PostgreSQL (1 to 1000).",
        secret: false,
    },
    ConfigOption {
        key: DATABASE_STATEMENT_TIMEOUT_SECS,
        in_file: true,
        env: "ENGRAM_DATABASE_STATEMENT_TIMEOUT",
        flag: Some("database-statement-timeout"),
        value_name: "SECS",
        default: Some("30"),
        help: "Longest one PostgreSQL statement may run, in seconds; a request whose statement runs longer fails \
               with 503 `storage_unavailable`.",
        secret: false,
    },
    ConfigOption {
        key: EMBEDDING_MODEL_DIR,
        in_file: true,
        env: "ENGRAM_EMBEDDING_MODEL_DIR",
        flag: Some("embedding-model-dir"),
        value_name: "DIR",
        default: None,
        help: "Directory of the local embedding model all-MiniLM-L6-v2 (`model.safetensors`, `tokenizer.json`, \
               `config.json`; `scripts/fetch-model DIR` installs it). Default: `models/all-minilm-l6-v2` in the \
               data directory. Without it engram runs, with text search only.",
        secret: false,
    },
    ConfigOption {
        key: LISTEN,
        in_file: true,
        env: "ENGRAM_LISTEN",
        flag: Some("listen"),
        value_name: "ADDR:PORT",
        default: Some("127.0.0.1:8283"),
        help: "Address to listen on; port 0 picks a free port. A non-loopback address requires API keys.",
        secret: false,
    },
    ConfigOption {
        key: BODY_LIMIT_BYTES,
        in_file: true,
        env: "ENGRAM_BODY_LIMIT",
        flag: Some("body-limit"),
        value_name: "BYTES",
        default: Some("8388608"),
        help: "Largest accepted request body in bytes; larger requests get 413.",
        secret: false,
    },
    ConfigOption {
        key: IDEMPOTENCY_TTL_SECS,
        in_file: true,
        env: "ENGRAM_IDEMPOTENCY_TTL_SECS",
        flag: Some("idempotency-ttl-secs"),
        value_name: "SECS",
        default: Some("86400"),
        help: "How long an `Idempotency-Key` is remembered, in seconds.",
        secret: false,
    },
    ConfigOption {
        key: LOG,
        in_file: true,
        env: "ENGRAM_LOG",
        flag: Some("log"),
        value_name: "FILTER",
        default: Some("info"),
        help: "Log filter in tracing `EnvFilter` syntax, e.g. `info` or `engram=debug,tower_http=info`.",
        secret: false,
    },
    ConfigOption {
        key: LOG_FORMAT,
        in_file: true,
        env: "ENGRAM_LOG_FORMAT",
        flag: Some("log-format"),
        value_name: "text|json",
        default: Some("text"),
        help: "Log line format on standard error: `text` for people, `json` for collectors.",
        secret: false,
    },
    ConfigOption {
        key: API_KEYS,
        in_file: true,
        env: "ENGRAM_API_KEYS",
        flag: None,
        value_name: "ID:KEY[:ORG],…",
        default: None,
        help: "API keys. In the file: `[[api_keys]]` tables with `id`, `key` and optional `org` (default \
               `default`); in the environment: comma-separated `id:key[:org]`. None configured means local mode \
               (no authentication, loopback only).",
        secret: true,
    },
    // Model providers. Their variables are the names the providers' own tools read, without an `ENGRAM_` prefix.
    ConfigOption {
        key: OPENAI_API_KEY,
        in_file: true,
        env: "OPENAI_API_KEY",
        flag: None,
        value_name: "KEY",
        default: None,
        help: "API key for `openai/…` models; needed at the public OpenAI URL, optional at any other base URL.",
        secret: true,
    },
    ConfigOption {
        key: OPENAI_BASE_URL,
        in_file: true,
        env: "OPENAI_BASE_URL",
        flag: Some("openai-base-url"),
        value_name: "URL",
        default: Some(engram_llm::OPENAI_DEFAULT_BASE_URL),
        help: "Base URL of the OpenAI API, or of a compatible server, up to `/chat/completions`.",
        secret: false,
    },
    ConfigOption {
        key: ANTHROPIC_API_KEY,
        in_file: true,
        env: "ANTHROPIC_API_KEY",
        flag: None,
        value_name: "KEY",
        default: None,
        help: "API key for `anthropic/…` models; needed at the public Anthropic URL, optional at any other base URL.",
        secret: true,
    },
    ConfigOption {
        key: ANTHROPIC_BASE_URL,
        in_file: true,
        env: "ANTHROPIC_BASE_URL",
        flag: Some("anthropic-base-url"),
        value_name: "URL",
        default: Some(engram_llm::ANTHROPIC_DEFAULT_BASE_URL),
        help: "Base URL of the Anthropic API, without `/v1` (engram adds `/v1/messages`).",
        secret: false,
    },
    ConfigOption {
        key: OLLAMA_BASE_URL,
        in_file: true,
        env: "OLLAMA_BASE_URL",
        flag: Some("ollama-base-url"),
        value_name: "URL",
        default: Some(engram_llm::OLLAMA_DEFAULT_BASE_URL),
        help: "Base URL of Ollama's OpenAI-compatible API, for `ollama/…` models (no key needed).",
        secret: false,
    },
    ConfigOption {
        key: MODEL_TIMEOUT_SECS,
        in_file: true,
        env: "ENGRAM_MODEL_TIMEOUT",
        flag: Some("model-timeout"),
        value_name: "SECS",
        default: Some("120"),
        help: "How long one model call may take, in seconds (streamed: each wait for the next part); applies to \
               every provider.",
        secret: false,
    },
    ConfigOption {
        key: MODEL_MAX_RETRIES,
        in_file: true,
        env: "ENGRAM_MODEL_MAX_RETRIES",
        flag: Some("model-max-retries"),
        value_name: "N",
        default: Some("3"),
        help: "Retries, with exponential backoff, of a model call that failed with 429, 5xx, a timeout or a \
               dropped connection (0 to 10).",
        secret: false,
    },
    // The agent loop.
    ConfigOption {
        key: MAX_STEPS,
        in_file: true,
        env: "ENGRAM_MAX_STEPS",
        flag: Some("max-steps"),
        value_name: "N",
        default: Some("20"),
        help: "Model calls a run may make when its request does not set `max_steps` (1 to 100).",
        secret: false,
    },
    ConfigOption {
        key: COMPACTION_THRESHOLD,
        in_file: true,
        env: "ENGRAM_COMPACTION_THRESHOLD",
        flag: Some("compaction-threshold"),
        value_name: "RATIO",
        default: Some("0.9"),
        help: "Share of the context window at which the oldest messages are summarised and evicted before a model \
               call; above 0.75 (where the agent is warned that memory is filling up) and below 1.0.",
        secret: false,
    },
];

/// Looks an option up by key. Every key used in this crate is in the table, so a miss is a programming error that
/// the unit tests catch; callers get `None` rather than a panic.
pub fn option(key: &str) -> Option<&'static ConfigOption> {
    OPTIONS.iter().find(|option| option.key == key)
}

/// The options given as `serve` flags, as the raw text typed (checked later, together with the other layers, so
/// every error names its source the same way).
#[derive(Debug, Clone, Default)]
pub struct ConfigFlags {
    pub values: Vec<(&'static str, String)>,
}

impl ConfigFlags {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }
}

impl FromArgMatches for ConfigFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let values = OPTIONS
            .iter()
            .filter(|option| option.flag.is_some())
            .filter_map(|option| matches.get_one::<String>(option.key).map(|value| (option.key, value.clone())))
            .collect();
        Ok(Self { values })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for ConfigFlags {
    fn augment_args(cmd: Command) -> Command {
        OPTIONS.iter().fold(cmd, |cmd, option| match option.flag {
            Some(flag) => cmd.arg(
                Arg::new(option.key)
                    .long(flag)
                    .value_name(option.value_name)
                    .help(option.help)
                    .long_help(long_help(option)),
            ),
            None => cmd,
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

fn long_help(option: &ConfigOption) -> String {
    let mut text = format!("{}\n\n[env: {}]", option.help, option.env);
    if option.in_file {
        text.push_str(&format!(" [config file key: {}]", option.key));
    }
    if let Some(default) = option.default {
        text.push_str(&format!(" [default: {default}]"));
    }
    text
}

/// All options as a Markdown table, for the README and `engram config docs`.
pub fn docs_markdown() -> String {
    let mut out = String::from(
        "| config file key | environment variable | `serve` flag | default | meaning |\n|---|---|---|---|---|\n",
    );
    for option in OPTIONS {
        let key = if option.in_file { format!("`{}`", option.key) } else { "–".to_owned() };
        let flag = option.flag.map_or_else(|| "–".to_owned(), |flag| format!("`--{flag} {}`", option.value_name));
        let default = option.default.map_or_else(|| "–".to_owned(), |default| format!("`{default}`"));
        out.push_str(&format!("| {key} | `{}` | {flag} | {default} | {} |\n", option.env, option.help));
    }
    out.push_str("\nPrecedence, lowest first: default, config file, environment variable, flag.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_envs_and_flags_are_unique() {
        for (i, a) in OPTIONS.iter().enumerate() {
            for b in &OPTIONS[i + 1..] {
                assert_ne!(a.key, b.key);
                assert_ne!(a.env, b.env);
                assert!(a.flag.is_none() || a.flag != b.flag);
            }
        }
    }

    #[test]
    fn every_named_key_is_in_the_table() {
        let keys = [
            CONFIG,
            DATA_DIR,
            DATABASE_URL,
            DATABASE_POOL_SIZE,
            DATABASE_STATEMENT_TIMEOUT_SECS,
            EMBEDDING_MODEL_DIR,
            LISTEN,
            BODY_LIMIT_BYTES,
            IDEMPOTENCY_TTL_SECS,
            LOG,
            LOG_FORMAT,
            API_KEYS,
            OPENAI_API_KEY,
            OPENAI_BASE_URL,
            ANTHROPIC_API_KEY,
            ANTHROPIC_BASE_URL,
            OLLAMA_BASE_URL,
            MODEL_TIMEOUT_SECS,
            MODEL_MAX_RETRIES,
            MAX_STEPS,
            COMPACTION_THRESHOLD,
        ];
        for key in keys {
            assert!(option(key).is_some(), "{key}");
        }
    }

    #[test]
    fn defaults_match_the_server_defaults() {
        let server = engram_server::ServerConfig::default();
        let default = |key| option(key).and_then(|o| o.default);
        assert_eq!(default(BODY_LIMIT_BYTES), Some(server.body_limit_bytes.to_string().as_str()));
        assert_eq!(default(IDEMPOTENCY_TTL_SECS), Some(server.idempotency_ttl.as_secs().to_string().as_str()));
        assert_eq!(default(LISTEN), Some(server.listen.to_string().as_str()));
        assert_eq!(default(OPENAI_BASE_URL), Some(server.providers.openai.base_url.as_str()));
        assert_eq!(default(ANTHROPIC_BASE_URL), Some(server.providers.anthropic.base_url.as_str()));
        assert_eq!(default(OLLAMA_BASE_URL), Some(server.providers.ollama.base_url.as_str()));
        assert_eq!(default(MODEL_TIMEOUT_SECS), Some(server.providers.openai.timeout.as_secs().to_string().as_str()));
        assert_eq!(default(MODEL_MAX_RETRIES), Some(server.providers.retry.max_retries.to_string().as_str()));
        assert_eq!(default(MAX_STEPS), Some(server.runtime.default_max_steps.to_string().as_str()));
        assert_eq!(default(COMPACTION_THRESHOLD), Some(server.runtime.compact_ratio.to_string().as_str()));
        let postgres = engram_store::PostgresOptions::default();
        assert_eq!(default(DATABASE_POOL_SIZE), Some(postgres.pool_size.to_string().as_str()));
        assert_eq!(
            default(DATABASE_STATEMENT_TIMEOUT_SECS),
            Some(postgres.statement_timeout.as_secs().to_string().as_str())
        );
    }

    #[test]
    fn secrets_have_no_flag() {
        for option in OPTIONS.iter().filter(|o| o.key.ends_with("api_key") || o.key == API_KEYS) {
            assert!(option.secret && option.flag.is_none(), "{}", option.key);
        }
    }
}
