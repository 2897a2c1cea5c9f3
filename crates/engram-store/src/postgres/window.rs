//! The context window snapshot: everything the runtime reads about an agent's memory to compile a model request,
//! besides the agent itself, in one read-only snapshot with one existence check, because this runs before every
//! model call.

use engram_core::id::AgentId;
use engram_core::org::OrgId;

use super::{PostgresStore, agents, commit, messages, passages, rows};
use crate::error::StoreError;
use crate::store::WindowSnapshot;

pub(super) async fn load(
    store: &PostgresStore,
    org: &OrgId,
    agent: AgentId,
    tag_limit: u32,
) -> Result<WindowSnapshot, StoreError> {
    let mut tx = store.snapshot().await?;
    let agent_id = agent.to_string();
    agents::require_exists(&mut tx, org, &agent_id).await?;
    let messages = messages::context_in(&mut tx, org, &agent_id).await?;
    let counts = messages::count_in(&mut tx, org, &agent_id).await?;
    let passages: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passages WHERE agent_id = $1")
        .bind(&agent_id)
        .fetch_one(&mut *tx)
        .await?;
    let archival_tags = passages::tags_in(&mut tx, &agent_id, tag_limit).await?;
    let snapshot =
        WindowSnapshot { messages, counts, archival_passages: rows::count("passage count", passages)?, archival_tags };
    commit(tx, snapshot).await
}
