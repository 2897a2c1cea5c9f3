//! The context window snapshot: everything the runtime reads about an agent's memory to compile a model request,
//! besides the agent itself, on one reader connection with one existence check, because this runs before every
//! model call.

use engram_core::id::AgentId;
use engram_core::org::OrgId;

use super::rows;
use super::{SqliteStore, agents, messages};
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
    agents::require_exists(&mut conn, org, &agent_id).await?;
    let messages = messages::context_in(&mut conn, org, &agent_id).await?;
    let (total, in_context, passages): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM messages WHERE org_id = ?1 AND agent_id = ?2), \
                (SELECT COALESCE(SUM(in_context), 0) FROM messages WHERE org_id = ?1 AND agent_id = ?2), \
                (SELECT COUNT(*) FROM passages WHERE agent_id = ?2)",
    )
    .bind(org.as_str())
    .bind(&agent_id)
    .fetch_one(&mut *conn)
    .await?;
    // `passage_tags` has no org column; the agent, checked above to be the organisation's, scopes it.
    let archival_tags: Vec<String> = sqlx::query_scalar(
        "SELECT tag FROM passage_tags WHERE agent_id = ?1 GROUP BY tag ORDER BY COUNT(*) DESC, tag LIMIT ?2",
    )
    .bind(&agent_id)
    .bind(i64::from(tag_limit))
    .fetch_all(&mut *conn)
    .await?;
    let convert = |what: &str, n: i64| u64::try_from(n).map_err(|_| rows::corrupt(what, n));
    Ok(WindowSnapshot {
        messages,
        counts: MessageCounts {
            total: convert("message count", total)?,
            in_context: convert("message count", in_context)?,
        },
        archival_passages: convert("passage count", passages)?,
        archival_tags,
    })
}
