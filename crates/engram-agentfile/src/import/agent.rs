//! One agent of the file: name, system prompt, tags and metadata; its blocks (by file id or inline) with labels unique;
//! its tools and tool rules; the model (`model`, else `llm_config`) and context window (`context_window_limit`, else
//! `llm_config.context_window`); the embedding model (`embedding`, else `embedding_config`, else the server's
//! default); and its history. What is left of the agent object afterwards is kept in its metadata.

use std::collections::HashMap;

use engram_core::agent::{
    AgentConfig, AgentName, DEFAULT_CONTEXT_WINDOW, MAX_SYSTEM_CHARS, ModelRef, ToolName, check_context_window,
    parse_tags,
};
use engram_core::block::{BlockLabel, NewBlock};
use engram_core::defaults::DEFAULT_SYSTEM;
use engram_core::message::NewMessage;
use engram_core::text::check_max_chars;
use serde_json::{Map, Value};

use super::blocks::{FileBlocks, ParsedBlock, parse_block};
use super::messages;
use super::tools::FileTools;
use super::{ImportOptions, Warnings};
use crate::error::{AgentFileError, index};
use crate::kept::{KEPT_KEY, Kept, into_metadata, prune, redact};
use crate::obj::Obj;

/// What an agent can refer to in the file.
pub(super) struct FileParts<'a> {
    pub blocks: &'a FileBlocks,
    pub tools: &'a FileTools,
    /// Top-level sections kept with every agent.
    pub sections: &'a Map<String, Value>,
}

/// A block of an agent: one of the file's (by index) or written inline.
#[derive(Debug)]
pub(super) enum BlockRef {
    File(usize),
    Inline(NewBlock),
}

/// An agent read from the file.
#[derive(Debug)]
pub(super) struct ParsedAgent {
    pub id: Option<String>,
    pub config: AgentConfig,
    pub blocks: Vec<BlockRef>,
    pub messages: Vec<NewMessage>,
}

pub(super) fn parse(
    value: Value,
    i: usize,
    parts: &FileParts<'_>,
    options: &ImportOptions<'_>,
    used_tools: &mut [bool],
    messages_left: &mut usize,
    warnings: &mut Warnings,
) -> Result<ParsedAgent, AgentFileError> {
    let path = index("agents", i);
    let mut obj = Obj::new(value, &path)?;
    let id = obj.string("id")?;
    let name_field = obj.field("name");
    let name_text = obj.string("name")?.ok_or_else(|| AgentFileError::invalid(&name_field, "is required"))?;
    let name = AgentName::parse(&name_field, &name_text)?;
    let tags_field = obj.field("tags");
    let tags = parse_tags(&tags_field, &obj.strings("tags")?)?;
    let metadata_field = obj.field("metadata");
    let user_metadata = match obj.take("metadata") {
        None => Map::new(),
        Some(Value::Object(map)) if map.contains_key(KEPT_KEY) => {
            return Err(AgentFileError::invalid(
                format!("{metadata_field}.{KEPT_KEY}"),
                format!("`{KEPT_KEY}` is reserved in agent metadata for what an import keeps"),
            ));
        }
        Some(Value::Object(map)) => map,
        Some(_) => return Err(AgentFileError::invalid(&metadata_field, "must be an object")),
    };

    let mut kept = Kept { file: parts.sections.clone(), ..Kept::default() };
    let blocks = blocks_of(&mut obj, parts.blocks, &mut kept, warnings)?;
    let tools = tools_of(&mut obj, parts.tools, options, used_tools, &mut kept, warnings)?;
    kept.tool_rules = tool_rules(&mut obj, &tools, options, warnings)?;
    let ModelSettings { model, context_window: window_from_llm, kept: llm_rest } = model(&mut obj, options, warnings)?;
    let window_field = obj.field("context_window_limit");
    let context_window = match obj.int("context_window_limit")?.or(window_from_llm) {
        Some(n) => check_context_window(&window_field, n)?,
        None => DEFAULT_CONTEXT_WINDOW,
    };
    let (embedding, embedding_rest) = embedding(&mut obj, options, warnings)?;

    let message_values = obj.list("messages")?;
    let window = obj.strings("in_context_message_ids")?;
    let history = messages::parse(message_values, window, &path, messages_left, warnings)?;
    let system_field = obj.field("system");
    let system = match (obj.string("system")?.filter(|s| !s.trim().is_empty()), history.system_prompt) {
        (Some(system), _) => system,
        (None, Some(prompt)) => {
            warnings.add(
                &system_field,
                "absent: the first in-context message (the compiled system prompt) is used as the system prompt",
            );
            prompt
        }
        (None, None) => {
            warnings.add(&system_field, "absent: engram's default system prompt is used");
            DEFAULT_SYSTEM.to_owned()
        }
    };
    check_max_chars(&system_field, &system, MAX_SYSTEM_CHARS)?;

    let mut rest = obj.into_rest();
    for (key, part) in [("llm_config", llm_rest), ("embedding_config", embedding_rest)] {
        if let Some(part) = part.filter(|p| !p.is_empty()) {
            rest.insert(key.to_owned(), Value::Object(part));
        }
    }
    kept.agent = keep_fields(rest, &path, warnings);
    let (metadata, dropped) = into_metadata(user_metadata, kept, &metadata_field)?;
    for sentence in dropped {
        warnings.add(&path, sentence);
    }
    let config = AgentConfig { name, system, model, embedding, context_window, tools, tags, metadata };
    Ok(ParsedAgent { id, config, blocks, messages: history.messages })
}

/// The agent fields engram did not read, as kept: meaningful values only, secrets nulled (and reported); a warning
/// lists the fields kept.
fn keep_fields(rest: Map<String, Value>, path: &str, warnings: &mut Warnings) -> Map<String, Value> {
    let mut value = Value::Object(prune(rest));
    let mut secrets = Vec::new();
    redact(&mut value, path, &mut secrets);
    for secret in secrets {
        warnings.add(&secret, "secret values are not imported");
    }
    let Value::Object(kept) = value else { return Map::new() };
    let kept = prune(kept);
    let named: Vec<&str> = kept.iter().filter(|(_, v)| **v != Value::Bool(false)).map(|(k, _)| k.as_str()).collect();
    if !named.is_empty() {
        warnings.add(
            path,
            format!("engram does not use these fields; they are kept in the agent's metadata: {}", named.join(", ")),
        );
    }
    kept
}

/// The agent's blocks in order: `block_ids` (file blocks), then inline `memory_blocks`. Labels must be unique.
fn blocks_of(
    obj: &mut Obj,
    file_blocks: &FileBlocks,
    kept: &mut Kept,
    warnings: &mut Warnings,
) -> Result<Vec<BlockRef>, AgentFileError> {
    let mut blocks = Vec::new();
    let mut labels: HashMap<BlockLabel, String> = HashMap::new();
    let mut claim = |label: &BlockLabel, field: String| match labels.get(label) {
        Some(other) => Err(AgentFileError::invalid(
            &field,
            format!("the agent already has a block labelled `{label}` ({other}); labels must be unique per agent"),
        )),
        None => {
            labels.insert(label.clone(), field);
            Ok(())
        }
    };
    let ids_field = obj.field("block_ids");
    for (j, id) in obj.strings("block_ids")?.into_iter().enumerate() {
        let field = index(&ids_field, j);
        let &i = file_blocks.by_id.get(&id).ok_or_else(|| {
            AgentFileError::invalid(&field, format!("names block `{id}`, which is not among the file's blocks"))
        })?;
        let file_block = &file_blocks.items[i];
        claim(&file_block.block.label, field)?;
        if !file_block.extras.is_empty() {
            kept.blocks.insert(file_block.block.label.to_string(), Value::Object(file_block.extras.clone()));
        }
        blocks.push(BlockRef::File(i));
    }
    let inline_field = obj.field("memory_blocks");
    for (j, value) in obj.list("memory_blocks")?.into_iter().enumerate() {
        let field = index(&inline_field, j);
        let ParsedBlock { block, extras, .. } = parse_block(value, &field, warnings)?;
        claim(&block.label, field)?;
        if !extras.is_empty() {
            kept.blocks.insert(block.label.to_string(), Value::Object(extras));
        }
        blocks.push(BlockRef::Inline(block));
    }
    Ok(blocks)
}

/// The agent's tool names: its `tool_ids` (file tools), then inline `tools` names, without repeats. Tools that are not
/// built-ins are kept whole; a name engram cannot list (not `^[a-zA-Z0-9_-]{1,64}$`) is only kept.
fn tools_of(
    obj: &mut Obj,
    file_tools: &FileTools,
    options: &ImportOptions<'_>,
    used_tools: &mut [bool],
    kept: &mut Kept,
    warnings: &mut Warnings,
) -> Result<Vec<ToolName>, AgentFileError> {
    let mut names: Vec<ToolName> = Vec::new();
    let mut push = |name: ToolName| {
        if !names.contains(&name) {
            names.push(name);
        }
    };
    let ids_field = obj.field("tool_ids");
    for (j, id) in obj.strings("tool_ids")?.into_iter().enumerate() {
        let field = index(&ids_field, j);
        let &i = file_tools.by_id.get(&id).ok_or_else(|| {
            AgentFileError::invalid(&field, format!("names tool `{id}`, which is not among the file's tools"))
        })?;
        used_tools[i] = true;
        let tool = &file_tools.items[i];
        if tool.builtin.is_none() && !kept.tools.contains(&tool.kept) {
            kept.tools.push(tool.kept.clone());
        }
        if let Ok(name) = ToolName::parse(&field, &tool.name) {
            push(name);
        }
    }
    let inline_field = obj.field("tools");
    for (j, name) in obj.strings("tools")?.into_iter().enumerate() {
        let field = index(&inline_field, j);
        let name = ToolName::parse(&field, &name)?;
        if !options.builtins.iter().any(|b| b.name == name.as_str()) {
            warnings.add(
                &field,
                format!(
                    "`{}` is not one of engram's built-in tools: it is listed but not offered to the model",
                    name.as_str()
                ),
            );
        }
        push(name);
    }
    Ok(names)
}

/// The agent's tool rules, kept verbatim. engram's loop continues after every tool but `send_message`, which ends the
/// run; rules that say exactly that are honoured, the others are reported.
fn tool_rules(
    obj: &mut Obj,
    tools: &[ToolName],
    options: &ImportOptions<'_>,
    warnings: &mut Warnings,
) -> Result<Vec<Value>, AgentFileError> {
    let field = obj.field("tool_rules");
    let rules = obj.list("tool_rules")?;
    for (j, rule) in rules.iter().enumerate() {
        let kind = rule.get("type").and_then(Value::as_str).unwrap_or("");
        let tool = rule.get("tool_name").and_then(Value::as_str).unwrap_or("");
        let offered = tools.iter().any(|t| t.as_str() == tool);
        let honoured = offered
            && options.builtins.iter().find(|b| b.name == tool).is_some_and(|builtin| match kind {
                "continue_loop" => !builtin.terminal,
                "exit_loop" => builtin.terminal,
                _ => false,
            });
        if !honoured {
            warnings.add(
                &index(&field, j),
                format!("engram does not apply this rule (`{kind}` on `{tool}`); it is kept in the agent's metadata"),
            );
        }
    }
    Ok(rules)
}

/// What the agent's model settings say.
struct ModelSettings {
    model: Option<ModelRef>,
    /// `llm_config.context_window`.
    context_window: Option<i64>,
    /// The rest of `llm_config`, to keep.
    kept: Option<Map<String, Value>>,
}

/// The model (`model`, else `llm_config.handle`, else its provider and model), the context window `llm_config`
/// names, and the rest of `llm_config` to keep.
fn model(obj: &mut Obj, options: &ImportOptions<'_>, warnings: &mut Warnings) -> Result<ModelSettings, AgentFileError> {
    let model_field = obj.field("model");
    let handle = obj.string("model")?;
    let Some(mut llm) = obj.object("llm_config")? else {
        let model = handle.map(|h| ModelRef::parse(&model_field, &h)).transpose()?;
        return Ok(ModelSettings { model, context_window: None, kept: None });
    };
    let (field, handle) = match handle {
        Some(handle) => (model_field, Some(handle)),
        None => {
            let field = llm.field("handle");
            let handle = llm.string("handle")?;
            let provider = match llm.string("provider_name")? {
                Some(p) => Some(p),
                None => llm.string("model_endpoint_type")?,
            };
            let model = llm.string("model")?;
            match (handle, provider, model) {
                (Some(handle), _, _) => (field, Some(handle)),
                (None, Some(provider), Some(model)) => (llm.field("model"), Some(format!("{provider}/{model}"))),
                _ => (field, None),
            }
        }
    };
    for key in ["handle", "model", "provider_name", "model_endpoint_type"] {
        llm.take(key);
    }
    let window_field = llm.field("context_window");
    let window = llm.int("context_window")?;
    if let Some(n) = window {
        check_context_window(&window_field, n)?;
    }
    let model = handle.map(|h| ModelRef::parse(&field, &h)).transpose()?;
    if let Some(model) = &model
        && !options.model_providers.contains(&model.provider())
    {
        warnings.add(
            &field,
            format!(
                "engram has no `{}` provider ({}); the model is kept, but set another before sending the agent \
                 messages",
                model.provider(),
                options.model_providers.join(", ")
            ),
        );
    }
    Ok(ModelSettings { model, context_window: window, kept: Some(prune(llm.into_rest())) })
}

/// The embedding model, when this server can use the one the file names; else the default, with a warning (and the
/// rest of `embedding_config`, which describes the other model, is not kept).
fn embedding(
    obj: &mut Obj,
    options: &ImportOptions<'_>,
    warnings: &mut Warnings,
) -> Result<(ModelRef, Option<Map<String, Value>>), AgentFileError> {
    let field = obj.field("embedding");
    let handle = obj.string("embedding")?;
    let mut config = obj.object("embedding_config")?;
    let handle = match (handle, config.as_mut()) {
        (Some(handle), _) => Some(handle),
        (None, Some(config)) => match config.string("handle")? {
            Some(handle) => Some(handle),
            None => match (config.string("embedding_endpoint_type")?, config.string("embedding_model")?) {
                (Some(provider), Some(model)) => Some(format!("{provider}/{model}")),
                _ => None,
            },
        },
        (None, None) => None,
    };
    let rest = config.map(|mut config| {
        for key in ["handle", "embedding_model", "embedding_endpoint_type"] {
            config.take(key);
        }
        prune(config.into_rest())
    });
    let default = &options.default_embedding;
    let Some(handle) = handle else { return Ok((default.clone(), rest)) };
    match ModelRef::parse(&field, &handle) {
        Ok(model) if model == *default || (options.embedding_usable)(&model) => Ok((model, rest)),
        _ => {
            warnings.add(
                &field,
                format!("this server cannot embed with `{handle}`; the agent uses the default, `{default}`"),
            );
            Ok((default.clone(), None))
        }
    }
}
