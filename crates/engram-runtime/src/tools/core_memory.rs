//! The core memory tools: append, replace, insert, rethink. Each reads the block, computes the new value with the
//! pure edits of `engram_core::memory_edit`, and writes it through the store's audited path with `If-Match` on the
//! version it read, so a concurrent edit through the API is never overwritten.

use engram_core::block::{BlockLabel, BlockPatch, check_fits};
use engram_core::memory_edit::{append_line, insert_line, replace_snippet};
use engram_core::text::char_len;
use engram_store::StoreError;

use super::args::Args;
use super::{Builtin, ToolEnv, ToolOutcome, storage_failure};

/// Attempts before giving up when the block keeps changing underneath.
const ATTEMPTS: usize = 3;

pub(super) async fn run(env: &ToolEnv<'_>, tool: Builtin, args: &Args) -> Result<ToolOutcome, String> {
    let label_text = args.string("label")?;
    let label = BlockLabel::parse("label", &label_text).map_err(|_| unknown_label(&label_text))?;
    for _ in 0..ATTEMPTS {
        let block = match env.store.get_agent_block(&env.ctx.org, env.agent, &label).await {
            Ok(block) => block,
            Err(StoreError::NotFound { .. }) => return Err(unknown_block(env, &label_text).await),
            Err(error) => return Err(storage_failure(&error)),
        };
        if block.read_only {
            return Err(format!("block `{label}` is read-only; you cannot edit it"));
        }
        let new_value = match tool {
            Builtin::CoreMemoryAppend => append_line(&block.value, &args.string("content")?),
            Builtin::CoreMemoryReplace => replace_snippet(
                label.as_str(),
                &block.value,
                &args.string("old_content")?,
                &args.string("new_content")?,
            )
            .map_err(|e| e.to_string())?,
            Builtin::MemoryInsert => {
                insert_line(label.as_str(), &block.value, &args.string("content")?, args.opt_u64("line")?)
                    .map_err(|e| e.to_string())?
            }
            _ => args.string("new_value")?,
        };
        if let Err(exceeded) = check_fits(&label, &new_value, block.limit) {
            return Err(format!(
                "this edit would make block `{label}` {} characters long, over its limit of {} (it now holds {}); \
                 shorten or summarise it first, e.g. with memory_rethink",
                exceeded.requested,
                exceeded.limit,
                char_len(&block.value)
            ));
        }
        let patch = BlockPatch { value: Some(new_value), ..BlockPatch::default() };
        match env.store.update_agent_block(env.ctx, env.agent, &label, patch, Some(block.version)).await {
            Ok(updated) => {
                return Ok(ToolOutcome::ok(format!(
                    "Block `{label}` updated (version {}); it now holds {}/{} characters.",
                    updated.version,
                    char_len(&updated.value),
                    updated.limit.get()
                )));
            }
            Err(StoreError::VersionConflict { .. }) => continue,
            Err(error) => return Err(storage_failure(&error)),
        }
    }
    Err(format!("block `{label}` kept changing while you edited it; read it again and retry"))
}

fn unknown_label(label: &str) -> String {
    format!("`{label}` is not a block label; labels are lower-case words like `human` or `persona`")
}

async fn unknown_block(env: &ToolEnv<'_>, label: &str) -> String {
    match env.store.list_agent_blocks(&env.ctx.org, env.agent).await {
        Ok(blocks) => {
            let labels: Vec<&str> = blocks.iter().map(|b| b.label.as_str()).collect();
            format!("you have no block labelled `{label}`; your blocks are: {}", labels.join(", "))
        }
        Err(error) => storage_failure(&error),
    }
}
