//! The context window snapshot: everything the runtime reads about an agent's memory to compile a model request,
//! besides the agent itself, on one reader connection with one existence check, because this runs before every
//! model call.

use engram_core::id::AgentId;
use engram_core::org::OrgId;

use super::rows;
use super::{SqliteStore, messages};
use crate::error::StoreError;
use crate::store::{MessageCounts, WindowSnapshot};

pub(super) async fn load(
    store: &SqliteStore,
    org: &OrgId,
    agent: AgentId,
    tag_limit: u32,
) -> Result<WindowSnapshot, StoreError> {
    let mut conn = store.read().await?;
    let agent_id = agent.to_string();
    // One statement for the existence check and the statistics, each answered from an index: a message's
    // `position` is gap-free from 1 and messages go only with their agent, so the newest position is the count
    // (counting the rows instead read every message of the agent before every model call). `passage_tags` has no org
    // column; the agent, checked to be the organisation's, scopes it.
    let stats: Option<(i64, i64, String)> = sqlx::query_as(
        "SELECT (SELECT COALESCE(MAX(position), 0) FROM messages WHERE org_id = ?1 AND agent_id = ?2), \
                (SELECT COUNT(*) FROM passages WHERE agent_id = ?2), \
                (SELECT json_group_array(tag) FROM (SELECT tag FROM passage_tags WHERE agent_id = ?2 \
                 GROUP BY tag ORDER BY COUNT(*) DESC, tag LIMIT ?3)) \
         FROM agents WHERE org_id = ?1 AND id = ?2",
    )
    .bind(org.as_str())
    .bind(&agent_id)
    .bind(i64::from(tag_limit))
    .fetch_optional(&mut *conn)
    .await?;
    let Some((total, passages, tags)) = stats else {
        return Err(StoreError::not_found("agent", &agent_id));
    };
    let archival_tags: Vec<String> = serde_json::from_str(&tags).map_err(|e| rows::corrupt("archival tags", e))?;
    // The window is every message still in context; read after the statistics, so a message appended in between is
    // in the window and not yet counted, never the other way round.
    let messages = messages::context_in(&mut conn, org, &agent_id).await?;
    let in_context = messages.len() as u64;
    let convert = |what: &str, n: i64| u64::try_from(n).map_err(|_| rows::corrupt(what, n));
    Ok(WindowSnapshot {
        messages,
        counts: MessageCounts { total: convert("message count", total)?.max(in_context), in_context },
        archival_passages: convert("passage count", passages)?,
        archival_tags,
    })
}
