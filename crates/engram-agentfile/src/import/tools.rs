//! Tools of the file: the top-level `tools`, referred to by the agents' `tool_ids`. A tool whose name is one of
//! engram's built-ins maps onto it (engram's own schema and implementation are used); any other (custom source code,
//! MCP, another framework's built-in) is kept whole in the metadata of the agents that use it and named in a warning.

use std::collections::HashMap;

use serde_json::Value;

use super::Warnings;
use crate::BuiltinTool;
use crate::error::{AgentFileError, index};
use crate::kept::{prune, redact};
use crate::obj::Obj;

/// A tool of the top-level list.
#[derive(Debug, Clone)]
pub(super) struct FileTool {
    pub path: String,
    pub name: String,
    /// The built-in it maps onto, if any.
    pub builtin: Option<usize>,
    /// The tool without its file id (secrets nulled), kept when it is not a built-in.
    pub kept: Value,
    /// Secret-looking fields whose values were dropped.
    pub secrets: Vec<String>,
}

/// The top-level tools and their file ids.
#[derive(Debug, Default)]
pub(super) struct FileTools {
    pub items: Vec<FileTool>,
    pub by_id: HashMap<String, usize>,
}

pub(super) fn parse_file_tools(values: Vec<Value>, builtins: &[BuiltinTool]) -> Result<FileTools, AgentFileError> {
    let mut tools = FileTools::default();
    for (i, value) in values.into_iter().enumerate() {
        let path = index("tools", i);
        let mut obj = Obj::new(value, &path)?;
        let id = obj.string("id")?;
        let name_field = obj.field("name");
        let name = obj
            .string("name")?
            .filter(|n| !n.is_empty())
            .ok_or_else(|| AgentFileError::invalid(&name_field, "is required"))?;
        let mut rest = obj.into_rest();
        rest.insert("name".to_owned(), Value::String(name.clone()));
        let mut kept = Value::Object(prune(rest));
        let mut secrets = Vec::new();
        redact(&mut kept, &path, &mut secrets);
        if let Value::Object(map) = kept {
            kept = Value::Object(prune(map));
        }
        let builtin = builtins.iter().position(|b| b.name == name);
        if let Some(id) = id
            && tools.by_id.insert(id.clone(), i).is_some()
        {
            return Err(AgentFileError::invalid(format!("{path}.id"), format!("another tool has the id `{id}`")));
        }
        tools.items.push(FileTool { path, name, builtin, kept, secrets });
    }
    Ok(tools)
}

/// Warns, once per tool, about tools no agent uses and tools that are not built-ins.
pub(super) fn warn_unmapped(tools: &FileTools, used: &[bool], warnings: &mut Warnings) {
    for (tool, used) in tools.items.iter().zip(used) {
        for secret in &tool.secrets {
            warnings.add(secret, "secret values are not imported");
        }
        if !used {
            warnings.add(&tool.path, format!("no agent uses tool `{}`; it was not imported", tool.name));
        } else if tool.builtin.is_none() {
            let source =
                if tool.kept.get("source_code").is_some_and(|s| !s.is_null()) { " (with its source code)" } else { "" };
            warnings.add(
                &tool.path,
                format!(
                    "`{}` is not one of engram's built-in tools: it is kept in the metadata of the agents that use \
                     it{source} and listed in their tools, but not offered to the model",
                    tool.name
                ),
            );
        }
    }
}
