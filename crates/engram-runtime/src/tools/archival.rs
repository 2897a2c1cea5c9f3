//! The archival memory tools: insert a passage, search passages.

use engram_core::agent::{Metadata, Tag};
use engram_core::passage::{NewPassage, check_text};
use engram_core::search::{DEFAULT_K, MAX_K, PassageFilter, PassageQuery, SearchMode, TagMode};
use serde_json::json;

use super::args::Args;
use super::{ToolEnv, ToolOutcome, retrieval_failure};

fn tags(args: &Args) -> Result<Vec<Tag>, String> {
    args.opt_strings("tags")?
        .iter()
        .map(|t| Tag::parse("tags", t).map_err(|e| format!("tag {t:?} is not valid: {}", e.message)))
        .collect()
}

pub(super) async fn insert(env: &ToolEnv<'_>, args: &Args) -> Result<ToolOutcome, String> {
    let content = args.string("content")?;
    check_text("content", &content).map_err(|e| format!("`content` {}", e.message))?;
    let passage = NewPassage {
        text: content,
        tags: tags(args)?,
        metadata: Metadata::default(),
        created_at: None,
        embedding: None,
    };
    let inserted =
        env.retrieval.insert_passages(env.ctx, env.agent, vec![passage]).await.map_err(|e| retrieval_failure(&e))?;
    let id = inserted.first().map(|p| p.id.to_string()).unwrap_or_default();
    Ok(ToolOutcome::ok(format!("Saved to archival memory as {id}.")))
}

pub(super) async fn search(env: &ToolEnv<'_>, args: &Args) -> Result<ToolOutcome, String> {
    let query = args.string("query")?;
    if query.trim().is_empty() {
        return Err("`query` must not be empty".to_owned());
    }
    let k = args.opt_u64("top_k")?.unwrap_or(u64::from(DEFAULT_K));
    if !(1..=u64::from(MAX_K)).contains(&k) {
        return Err(format!("`top_k` must be between 1 and {MAX_K}"));
    }
    let filter = PassageFilter {
        tags: tags(args)?,
        tag_mode: TagMode::Any,
        from: args.opt_time("from", false)?,
        to: args.opt_time("to", true)?,
    };
    let passage_query = PassageQuery { text: query, k: k as u32, filter };
    let found = env
        .retrieval
        .search_passages(&env.ctx.org, env.agent, &passage_query, SearchMode::Hybrid)
        .await
        .map_err(|e| retrieval_failure(&e))?
        .results;
    if found.is_empty() {
        return Ok(ToolOutcome::ok("No passages matched."));
    }
    let results: Vec<_> = found
        .iter()
        .map(|scored| {
            json!({
                "text": scored.item.text,
                "tags": scored.item.tags.iter().map(Tag::as_str).collect::<Vec<_>>(),
                "time": scored.item.created_at.to_rfc3339(),
                "score": (scored.score * 1000.0).round() / 1000.0,
            })
        })
        .collect();
    Ok(ToolOutcome::ok(serde_json::Value::Array(results).to_string()))
}
