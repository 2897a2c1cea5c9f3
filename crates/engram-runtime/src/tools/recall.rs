//! `conversation_search`: full history search, in or out of the context window.

use engram_core::message::Role;
use engram_core::search::{MessageSearch, SearchMode};
use serde_json::json;

use super::args::Args;
use super::{ToolEnv, ToolOutcome, retrieval_failure};

const DEFAULT_LIMIT: u64 = 10;
const MAX_LIMIT: u64 = 50;

pub(super) async fn search(env: &ToolEnv<'_>, args: &Args) -> Result<ToolOutcome, String> {
    let query = args.string("query")?;
    if query.trim().is_empty() {
        return Err("`query` must not be empty".to_owned());
    }
    let role = match args.opt_string("role")? {
        Some(role) => Some(
            Role::parse("role", &role)
                .map_err(|_| format!("`role` must be one of user, assistant, tool, system; got {role:?}"))?,
        ),
        None => None,
    };
    let limit = args.opt_u64("limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(format!("`limit` must be between 1 and {MAX_LIMIT}"));
    }
    let search = MessageSearch {
        text: query,
        role,
        from: args.opt_time("from", false)?,
        to: args.opt_time("to", true)?,
        limit: limit as u32,
    };
    let found = env
        .retrieval
        .search_messages(&env.ctx.org, env.agent, &search, SearchMode::Hybrid)
        .await
        .map_err(|e| retrieval_failure(&e))?
        .results;
    if found.is_empty() {
        return Ok(ToolOutcome::ok("No messages matched."));
    }
    let results: Vec<_> = found
        .iter()
        .map(|scored| {
            json!({
                "role": scored.item.role.as_str(),
                "content": scored.item.content,
                "time": scored.item.created_at.to_rfc3339(),
                "in_context": scored.item.in_context,
            })
        })
        .collect();
    Ok(ToolOutcome::ok(serde_json::Value::Array(results).to_string()))
}
