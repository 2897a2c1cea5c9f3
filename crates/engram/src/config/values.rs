//! Turns the raw value that won for each option into its typed form, with errors that quote the value, name the
//! option's source and say what was expected. API key secrets are never echoed.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::anyhow;
use engram_core::org::OrgId;
use engram_server::ApiKeyConfig;
use figment::value::{Dict, Value};
use tracing_subscriber::EnvFilter;

use super::layers::Source;
use crate::logging::LogFormat;

/// A raw value and where it came from.
pub struct Raw {
    pub value: Value,
    pub source: Source,
}

fn invalid(what: &str, shown: &str, source: &Source, reason: impl fmt::Display) -> anyhow::Error {
    anyhow!("invalid {what} {shown:?} (from {source}): {reason}")
}

/// Scalars as text; figment parses environment values, so `8283` arrives as a number.
fn text(raw: &Raw, what: &str) -> anyhow::Result<String> {
    match &raw.value {
        Value::String(_, s) => Ok(s.clone()),
        Value::Char(_, c) => Ok(c.to_string()),
        Value::Bool(_, b) => Ok(b.to_string()),
        Value::Num(_, n) => Ok(n
            .to_u128()
            .map(|n| n.to_string())
            .or_else(|| n.to_i128().map(|n| n.to_string()))
            .or_else(|| n.to_f64().map(|n| n.to_string()))
            .unwrap_or_default()),
        other => {
            Err(anyhow!("invalid {what} (from {}): expected a single value, found {}", raw.source, other.to_actual()))
        }
    }
}

pub fn data_dir(raw: &Raw) -> anyhow::Result<PathBuf> {
    directory(raw, "data directory")
}

/// A directory path; `what` names it in errors.
pub fn directory(raw: &Raw, what: &str) -> anyhow::Result<PathBuf> {
    let text = text(raw, what)?;
    if text.trim().is_empty() {
        return Err(invalid(what, &text, &raw.source, "must not be empty"));
    }
    Ok(PathBuf::from(text))
}

pub fn listen(raw: &Raw) -> anyhow::Result<SocketAddr> {
    let text = text(raw, "listen address")?;
    text.trim().parse().map_err(|e| {
        invalid("listen address", &text, &raw.source, format!("{e}; expected IP:PORT such as 127.0.0.1:8283"))
    })
}

/// A whole number from 1 to `max`.
pub fn positive(raw: &Raw, what: &str, unit: &str, max: u64) -> anyhow::Result<u64> {
    whole_number(raw, what, unit, 1, max)
}

/// A whole number from `min` to `max`.
pub fn whole_number(raw: &Raw, what: &str, unit: &str, min: u64, max: u64) -> anyhow::Result<u64> {
    let text = text(raw, what)?;
    match text.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(invalid(what, &text, &raw.source, format!("expected a whole number of {unit} from {min} to {max}"))),
    }
}

/// A number strictly between `above` and `below`; `expected` says so in the terms of the option.
pub fn ratio(raw: &Raw, what: &str, above: f64, below: f64, expected: &str) -> anyhow::Result<f64> {
    let text = text(raw, what)?;
    match text.trim().parse::<f64>() {
        Ok(n) if n > above && n < below => Ok(n),
        _ => Err(invalid(what, &text, &raw.source, expected)),
    }
}

/// An `http` or `https` URL to reach a model provider at.
pub fn base_url(raw: &Raw, what: &str) -> anyhow::Result<String> {
    let text = text(raw, what)?;
    let expected = "expected an http:// or https:// URL such as http://127.0.0.1:11434/v1";
    match reqwest::Url::parse(text.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(text.trim().to_owned()),
        Ok(_) => Err(invalid(what, &text, &raw.source, expected)),
        Err(e) => Err(invalid(what, &text, &raw.source, format!("{e}; {expected}"))),
    }
}

/// A provider's API key; blank counts as unset. The key itself never appears in an error.
pub fn secret(raw: &Raw, what: &str) -> anyhow::Result<Option<String>> {
    match &raw.value {
        Value::String(_, s) => Ok(Some(s.trim().to_owned()).filter(|key| !key.is_empty())),
        // A key of digits only arrives as a number; keep it, as text.
        Value::Num(..) => text(raw, what).map(Some),
        other => Err(anyhow!("invalid {what} (from {}): expected text, found {}", raw.source, other.to_actual())),
    }
}

pub fn log_filter(raw: &Raw) -> anyhow::Result<String> {
    let text = text(raw, "log filter")?;
    EnvFilter::try_new(&text).map_err(|e| invalid("log filter", &text, &raw.source, e))?;
    Ok(text)
}

pub fn log_format(raw: &Raw) -> anyhow::Result<LogFormat> {
    let text = text(raw, "log format")?;
    match text.trim() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(invalid("log format", &text, &raw.source, "expected `text` or `json`")),
    }
}

/// API keys from `[[api_keys]]` tables in the file, or `id:key[:org],…` in the environment.
pub fn api_keys(raw: &Raw) -> anyhow::Result<Vec<ApiKeyConfig>> {
    let source = &raw.source;
    let keys = match &raw.value {
        Value::String(_, s) => s
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .enumerate()
            .map(|(i, entry)| key_from_text(i + 1, entry, source))
            .collect::<anyhow::Result<Vec<_>>>()?,
        Value::Array(_, items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Dict(_, dict) => key_from_table(i + 1, dict, source),
                other => Err(anyhow!(
                    "invalid api_keys entry {} (from {source}): expected a table with `id`, `key` and `org`, found {}",
                    i + 1,
                    other.to_actual()
                )),
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
        other => {
            return Err(anyhow!(
                "invalid api_keys (from {source}): expected [[api_keys]] tables or `id:key[:org],…` text, found {}",
                other.to_actual()
            ));
        }
    };
    for (i, key) in keys.iter().enumerate() {
        if keys[..i].iter().any(|earlier| earlier.id == key.id) {
            return Err(anyhow!("invalid api_keys (from {source}): the id {:?} is used twice", key.id));
        }
        if keys[..i].iter().any(|earlier| earlier.key == key.key) {
            return Err(anyhow!("invalid api_keys (from {source}): keys {:?} and another share one secret", key.id));
        }
    }
    Ok(keys)
}

fn key_from_text(position: usize, entry: &str, source: &Source) -> anyhow::Result<ApiKeyConfig> {
    let parts: Vec<&str> = entry.split(':').collect();
    match parts.as_slice() {
        [id, key] => key_config(position, id, key, None, source),
        [id, key, org] => key_config(position, id, key, Some(org), source),
        _ => Err(anyhow!("invalid api_keys entry {position} (from {source}): expected `id:key` or `id:key:org`")),
    }
}

fn key_from_table(position: usize, dict: &Dict, source: &Source) -> anyhow::Result<ApiKeyConfig> {
    if let Some(unknown) = dict.keys().find(|k| !["id", "key", "org"].contains(&k.as_str())) {
        return Err(anyhow!("invalid api_keys entry {position} (from {source}): unknown field {unknown:?}"));
    }
    let field = |name: &str| -> anyhow::Result<Option<&str>> {
        match dict.get(name) {
            None => Ok(None),
            Some(Value::String(_, s)) => Ok(Some(s.as_str())),
            Some(other) => Err(anyhow!(
                "invalid api_keys entry {position} (from {source}): `{name}` must be a string, found {}",
                other.to_actual()
            )),
        }
    };
    let missing = |name: &str| anyhow!("invalid api_keys entry {position} (from {source}): missing `{name}`");
    let id = field("id")?.ok_or_else(|| missing("id"))?;
    let key = field("key")?.ok_or_else(|| missing("key"))?;
    key_config(position, id, key, field("org")?, source)
}

fn key_config(
    position: usize,
    id: &str,
    key: &str,
    org: Option<&str>,
    source: &Source,
) -> anyhow::Result<ApiKeyConfig> {
    let (id, key) = (id.trim(), key.trim());
    if id.is_empty() || key.is_empty() {
        return Err(anyhow!("invalid api_keys entry {position} (from {source}): `id` and `key` must not be empty"));
    }
    let org = match org.map(str::trim) {
        None | Some("") => OrgId::default_org(),
        Some(org) => OrgId::parse("org", org)
            .map_err(|e| anyhow!("invalid api_keys entry {position} ({id:?}, from {source}): {}", e.message))?,
    };
    Ok(ApiKeyConfig { id: id.to_owned(), key: key.to_owned(), org })
}

/// The PostgreSQL database engram keeps its state in instead of the SQLite file in the data directory, if any, and
/// how it uses it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// `postgres://…`, or `None` for SQLite. May hold a password, so it is only shown through [`redact_url`].
    pub url: Option<String>,
    /// Most connections engram opens.
    pub pool_size: u32,
    /// Longest one statement may run.
    pub statement_timeout: std::time::Duration,
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("pool_size", &self.pool_size)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

/// A `postgres://` (or `postgresql://`) URL; blank counts as unset (SQLite). A password in it never appears in an
/// error.
pub fn database_url(raw: &Raw) -> anyhow::Result<Option<String>> {
    let text = text(raw, "database URL")?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let shown = redact_url(text);
    let expected = "expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE";
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "postgres" | "postgresql") && url.has_host() => Ok(Some(text.to_owned())),
        Ok(_) => Err(invalid("database URL", &shown, &raw.source, expected)),
        Err(e) => Err(invalid("database URL", &shown, &raw.source, format!("{e}; {expected}"))),
    }
}

/// `url` with its password, if it has one, replaced by `<redacted>`; text that is not a URL is redacted whole
/// (it might be a mistyped URL holding a password).
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() && parsed.set_password(Some("<redacted>")).is_err() {
                return "<redacted>".to_owned();
            }
            parsed.to_string().replace("%3Credacted%3E", "<redacted>")
        }
        Err(_) => "<redacted>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_passwords_are_redacted() {
        let cases = [
            (
                "postgres://engram:s3cret@db.internal:5432/engram",
                "postgres://engram:<redacted>@db.internal:5432/engram",
            ),
            (
                "postgres://engram@127.0.0.1/engram?sslmode=disable",
                "postgres://engram@127.0.0.1/engram?sslmode=disable",
            ),
            ("not a url with s3cret", "<redacted>"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown);
        }
        let settings = DatabaseSettings {
            url: Some(cases[0].0.to_owned()),
            pool_size: 16,
            statement_timeout: std::time::Duration::from_secs(30),
        };
        assert!(!format!("{settings:?}").contains("s3cret"));
    }

    #[test]
    fn database_urls_must_name_postgres() {
        let raw = |text: &str| Raw { value: Value::from(text.to_owned()), source: Source::Default };
        assert_eq!(database_url(&raw("")).unwrap(), None);
        let url = "postgresql://u:pw@h/db";
        assert_eq!(database_url(&raw(url)).unwrap().as_deref(), Some(url));
        let error = database_url(&raw("mysql://u:s3cret@h/db")).unwrap_err().to_string();
        assert!(error.contains("expected postgres://") && !error.contains("s3cret"), "{error}");
    }
}
