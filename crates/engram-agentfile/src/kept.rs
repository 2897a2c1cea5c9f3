//! What an import keeps of the file that engram cannot use, so that an export can give it back: stored in the
//! agent's metadata under [`KEPT_KEY`], next to the metadata the file gave the agent.
//!
//! ```text
//! "agentfile": {
//!   "agent":      { fields of the agent engram does not map: agent_type, description, the rest of llm_config, … },
//!   "blocks":     { "<label>": { fields of that block engram does not map } },
//!   "tools":      [ tools that are not engram built-ins, whole (source code, schema), without their file ids ],
//!   "tool_rules": [ the agent's tool rules, verbatim ],
//!   "file":       { top-level sections engram does not map: groups, files, sources, mcp_servers, metadata, … }
//! }
//! ```
//!
//! Only values that say something are kept (not `null`, `""`, `[]` or `{}`), secrets never are (their values become
//! `null`), and the whole metadata stays within [`Metadata::MAX_BYTES`]: the largest kept parts are dropped first,
//! each named in a warning.

use engram_core::agent::Metadata;
use serde_json::{Map, Value};

use crate::error::{AgentFileError, index, join};

/// The metadata key under which an imported agent keeps what engram could not map.
pub const KEPT_KEY: &str = "agentfile";

/// The kept parts of one agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Kept {
    pub agent: Map<String, Value>,
    pub blocks: Map<String, Value>,
    pub tools: Vec<Value>,
    pub tool_rules: Vec<Value>,
    pub file: Map<String, Value>,
}

impl Kept {
    fn to_value(&self) -> Value {
        let mut out = Map::new();
        let parts = [
            ("agent", Value::Object(self.agent.clone())),
            ("blocks", Value::Object(self.blocks.clone())),
            ("tools", Value::Array(self.tools.clone())),
            ("tool_rules", Value::Array(self.tool_rules.clone())),
            ("file", Value::Object(self.file.clone())),
        ];
        for (key, value) in parts {
            if meaningful(&value) {
                out.insert(key.to_owned(), value);
            }
        }
        Value::Object(out)
    }

    /// The kept parts in an agent's metadata. Metadata can be edited through the API, so anything of the wrong shape
    /// is ignored rather than trusted.
    pub fn from_metadata(metadata: &Map<String, Value>) -> Self {
        let Some(Value::Object(kept)) = metadata.get(KEPT_KEY) else { return Self::default() };
        let object = |key: &str| match kept.get(key) {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        let array = |key: &str| match kept.get(key) {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        Self {
            agent: object("agent"),
            blocks: object("blocks"),
            tools: array("tools").into_iter().filter(Value::is_object).collect(),
            tool_rules: array("tool_rules"),
            file: object("file"),
        }
    }
}

/// Whether a value says anything: not `null`, `""`, `[]` or `{}`. (`false` and `0` do: a consumer's default may
/// differ.)
pub(crate) fn meaningful(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// `map` without its entries that say nothing.
pub(crate) fn prune(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter().filter(|(_, v)| meaningful(v)).collect()
}

/// Whether a key names a secret: its value is never kept or exported.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    const NAMES: [&str; 14] = [
        "secret",
        "secrets",
        "password",
        "token",
        "access_token",
        "refresh_token",
        "api_key",
        "apikey",
        "authorization",
        "headers",
        "custom_headers",
        "env",
        "environment_variables",
        "tool_exec_environment_variables",
    ];
    NAMES.contains(&key.as_str())
        || ["_secret", "_password", "_token", "_api_key", "_apikey"].iter().any(|suffix| key.ends_with(suffix))
}

/// Replaces the values of secret keys anywhere in `value` with `null`; pushes the paths of those that held something.
pub(crate) fn redact(value: &mut Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                let item_path = join(path, key);
                if is_secret_key(key) {
                    if meaningful(item) {
                        found.push(item_path);
                    }
                    *item = Value::Null;
                } else {
                    redact(item, &item_path, found);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                redact(item, &index(path, i), found);
            }
        }
        _ => {}
    }
}

/// The agent's metadata: `user` (the file's own metadata for the agent) with the kept parts under [`KEPT_KEY`]. When
/// the whole would exceed [`Metadata::MAX_BYTES`], the largest kept parts are dropped until it fits; the returned
/// sentences say what was dropped. Fails (at `field`) only when `user` alone is too large.
pub(crate) fn into_metadata(
    mut user: Map<String, Value>,
    mut kept: Kept,
    field: &str,
) -> Result<(Metadata, Vec<String>), AgentFileError> {
    let mut dropped = Vec::new();
    loop {
        let kept_value = kept.to_value();
        let mut whole = user.clone();
        if meaningful(&kept_value) {
            whole.insert(KEPT_KEY.to_owned(), kept_value);
        }
        let whole = Value::Object(whole);
        let size = whole.to_string().len();
        if size <= Metadata::MAX_BYTES {
            return Ok((Metadata::parse(field, whole)?, dropped));
        }
        match drop_largest(&mut kept) {
            Some(what) => dropped.push(what),
            None => {
                user.remove(KEPT_KEY);
                return Ok((Metadata::parse(field, Value::Object(user))?, dropped));
            }
        }
    }
}

/// One part of [`Kept`] that can be dropped on its own.
enum Part {
    Tool(usize),
    Agent(String),
    Block(String),
    File(String),
    Rules,
}

/// Removes the largest kept part; describes it, or `None` when nothing is left to drop.
fn drop_largest(kept: &mut Kept) -> Option<String> {
    let size = |v: &Value| v.to_string().len();
    let mut parts: Vec<(usize, Part)> = kept.tools.iter().enumerate().map(|(i, t)| (size(t), Part::Tool(i))).collect();
    parts.extend(kept.agent.iter().map(|(k, v)| (size(v), Part::Agent(k.clone()))));
    parts.extend(kept.blocks.iter().map(|(k, v)| (size(v), Part::Block(k.clone()))));
    parts.extend(kept.file.iter().map(|(k, v)| (size(v), Part::File(k.clone()))));
    if !kept.tool_rules.is_empty() {
        parts.push((kept.tool_rules.iter().map(size).sum(), Part::Rules));
    }
    let (bytes, part) = parts.into_iter().max_by_key(|(bytes, _)| *bytes)?;
    let what = match part {
        Part::Tool(i) => {
            let tool = kept.tools.remove(i);
            format!("tool `{}`", tool.get("name").and_then(Value::as_str).unwrap_or("?"))
        }
        Part::Agent(key) => {
            kept.agent.remove(&key);
            format!("agent field `{key}`")
        }
        Part::Block(label) => {
            kept.blocks.remove(&label);
            format!("the fields of block `{label}`")
        }
        Part::File(key) => {
            kept.file.remove(&key);
            format!("file section `{key}`")
        }
        Part::Rules => {
            kept.tool_rules.clear();
            "the tool rules".to_owned()
        }
    };
    Some(format!(
        "{what} ({bytes} bytes) was too large to keep in the agent's metadata (at most {} bytes in all); it was not \
         kept and an export will not give it back",
        Metadata::MAX_BYTES
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_nulled_wherever_they_are() {
        let mut value = json!({
            "secrets": {"k": "v"}, "max_tokens": 5, "servers": [{"auth_token": "t", "url": "u", "token": null}],
            "tool_exec_environment_variables": {}
        });
        let mut found = Vec::new();
        redact(&mut value, "agents[0]", &mut found);
        assert_eq!(found, ["agents[0].secrets", "agents[0].servers[0].auth_token"]);
        assert_eq!(value["max_tokens"], 5);
        assert_eq!(value["servers"][0], json!({"auth_token": null, "url": "u", "token": null}));
    }

    #[test]
    fn kept_parts_round_trip_through_metadata_and_shrink_to_fit() {
        let kept = Kept {
            agent: prune(json!({"agent_type": "x", "hidden": null, "template": false}).as_object().unwrap().clone()),
            tools: vec![json!({"name": "big", "source_code": "x".repeat(70_000)}), json!({"name": "small"})],
            ..Kept::default()
        };
        let user = json!({"team": "a"}).as_object().unwrap().clone();
        let (metadata, dropped) = into_metadata(user, kept, "agents[0].metadata").unwrap();
        assert_eq!(dropped.len(), 1);
        assert!(dropped[0].starts_with("tool `big` ("), "{dropped:?}");
        let read = Kept::from_metadata(metadata.as_map());
        assert_eq!(read.tools, [json!({"name": "small"})]);
        assert_eq!(read.agent, *json!({"agent_type": "x", "template": false}).as_object().unwrap());
        assert_eq!(metadata.as_map()["team"], "a");
        assert_eq!(Kept::from_metadata(json!({"agentfile": 3}).as_object().unwrap()), Kept::default());
    }
}
