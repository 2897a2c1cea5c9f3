//! Stacks the configuration layers with figment — defaults < TOML file < environment < flags — and answers, for each
//! option, which raw value won and which layer it came from, so that errors can name the source.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use figment::providers::{Data, Env, Format, Serialized, Toml};
use figment::value::{Uncased, UncasedStr, Value};
use figment::{Figment, Profile, Provider};
use serde::Serialize;

use super::options::{CONFIG, ConfigFlags, OPTIONS, option};

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(&'static str),
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(path) => write!(f, "config file {}", path.display()),
            Source::Env(name) => f.write_str(name),
            Source::Flag(flag) => write!(f, "--{flag}"),
        }
    }
}

/// The defaults layer. A distinct type so that figment's metadata (which names the serialised type) tells it apart
/// from the flags layer.
#[derive(Serialize)]
#[serde(transparent)]
struct DefaultLayer(BTreeMap<&'static str, &'static str>);

/// The flags layer, merged last.
#[derive(Serialize)]
#[serde(transparent)]
struct FlagLayer(BTreeMap<&'static str, String>);

/// All layers, merged.
pub struct Layers {
    figment: Figment,
    config_file: Option<(PathBuf, Source)>,
}

impl Layers {
    /// Reads the config file (if one is named by flag or environment) and the environment, and stacks them with the
    /// defaults and `flags`.
    pub fn load(flags: &ConfigFlags) -> anyhow::Result<Self> {
        let defaults = OPTIONS.iter().filter_map(|option| option.default.map(|default| (option.key, default)));
        let mut figment = Figment::new().merge(Serialized::defaults(DefaultLayer(defaults.collect())));

        let config_file = config_file_path(flags);
        if let Some((path, source)) = &config_file {
            figment = figment.merge(read_config_file(path, source)?);
        }

        let flag_values = flags.values.iter().filter(|(key, _)| *key != CONFIG).map(|(k, v)| (*k, v.clone()));
        figment = figment.merge(environment()).merge(Serialized::globals(FlagLayer(flag_values.collect())));
        Ok(Self { figment, config_file })
    }

    pub fn config_file(&self) -> Option<&(PathBuf, Source)> {
        self.config_file.as_ref()
    }

    /// The winning raw value of `key` and its layer; `None` when no layer sets it.
    pub fn get(&self, key: &'static str) -> Option<(Value, Source)> {
        let value = self.figment.find_value(key).ok()?;
        let metadata = self.figment.find_metadata(key)?;
        let source = if metadata.name == std::any::type_name::<FlagLayer>() {
            Source::Flag(option(key).and_then(|o| o.flag).unwrap_or(key))
        } else if metadata.name == std::any::type_name::<DefaultLayer>() {
            Source::Default
        } else if let Some(figment::Source::File(path)) = &metadata.source {
            Source::File(path.clone())
        } else {
            Source::Env(option(key).map_or(key, |o| o.env))
        };
        Some((value, source))
    }
}

/// The config file named by `--config`, else by `ENGRAM_CONFIG`.
fn config_file_path(flags: &ConfigFlags) -> Option<(PathBuf, Source)> {
    let option = option(CONFIG)?;
    if let Some(path) = flags.get(CONFIG) {
        return Some((PathBuf::from(path), Source::Flag(option.flag.unwrap_or(CONFIG))));
    }
    std::env::var_os(option.env)
        .filter(|path| !path.is_empty())
        .map(|path| (PathBuf::from(path), Source::Env(option.env)))
}

/// Loads the TOML file eagerly so that a missing file, bad syntax or an unknown key is reported before anything
/// else, naming the file and how it was chosen.
fn read_config_file(path: &Path, source: &Source) -> anyhow::Result<Data<Toml>> {
    std::fs::metadata(path).with_context(|| format!("cannot read config file {} (from {source})", path.display()))?;
    let toml = Toml::file_exact(path);
    let data = toml.data().map_err(|e| anyhow!("invalid config file {} (from {source}): {e}", path.display()))?;
    let known: Vec<&str> = OPTIONS.iter().filter(|o| o.in_file).map(|o| o.key).collect();
    for (profile, dict) in &data {
        if *profile != Profile::Default {
            bail!("config file {} (from {source}): unexpected profile {profile}", path.display());
        }
        if let Some(unknown) = dict.keys().find(|key| !known.contains(&key.as_str())) {
            bail!(
                "unknown key {unknown:?} in config file {} (from {source}); known keys: {}",
                path.display(),
                known.join(", ")
            );
        }
    }
    Ok(toml)
}

/// The environment variables in the option table, renamed to their option keys. The config file's own variable is
/// handled by [`config_file_path`].
fn environment() -> Env {
    Env::raw().filter_map(|name: &UncasedStr| {
        OPTIONS.iter().find(|option| option.key != CONFIG && name == option.env).map(|option| Uncased::from(option.key))
    })
}
