//! Core memory blocks as MCP resources: one `text/plain` resource per block of the connection's agent, named by
//! `engram://agents/{agent_id}/blocks/{label}`, listed and read straight from the store.

use engram_core::block::{Block, BlockLabel};
use engram_store::StoreError;
use rmcp::ErrorData;
use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
};
use serde_json::json;

use crate::connection::Connection;
use crate::state::McpState;
use crate::uri::{BLOCK_URI_TEMPLATE, block_uri, parse_block_uri};

const MIME_TYPE: &str = "text/plain";

/// Every block of the connection's agent.
pub(crate) async fn list(state: &McpState, connection: &Connection) -> Result<ListResourcesResult, ErrorData> {
    let blocks = state.store.list_agent_blocks(&connection.org, connection.agent).await.map_err(storage_error)?;
    let resources = blocks.iter().map(|block| resource(connection, block)).collect();
    Ok(ListResourcesResult::with_all_items(resources))
}

fn resource(connection: &Connection, block: &Block) -> Resource {
    let description = block.description.clone().unwrap_or_else(|| format!("The core memory block `{}`.", block.label));
    Resource::new(block_uri(connection.agent, &block.label), block.label.as_str())
        .with_title(format!("{} (core memory)", block.label))
        .with_description(description)
        .with_mime_type(MIME_TYPE)
        .with_size(block.value.len() as u64)
}

/// The one template: blocks by agent and label.
pub(crate) fn templates() -> ListResourceTemplatesResult {
    let template = ResourceTemplate::new(BLOCK_URI_TEMPLATE, "core memory block")
        .with_description("A core memory block of an agent, by its label.")
        .with_mime_type(MIME_TYPE);
    ListResourceTemplatesResult::with_all_items(vec![template])
}

/// The value of the block `uri` names.
pub(crate) async fn read(
    state: &McpState,
    connection: &Connection,
    uri: &str,
) -> Result<ReadResourceResult, ErrorData> {
    let label = label_of(connection, uri)?;
    let block = current(state, connection, &label, uri).await?;
    Ok(ReadResourceResult::new(vec![ResourceContents::text(block.value, uri)]))
}

/// The label of the connection agent's block that `uri` names. A URI of another agent names nothing here, exactly
/// like a URI of no agent at all.
pub(crate) fn label_of(connection: &Connection, uri: &str) -> Result<BlockLabel, ErrorData> {
    match parse_block_uri(uri) {
        Some((agent, label)) if agent == connection.agent => Ok(label),
        _ => Err(not_found(uri)),
    }
}

/// The block as stored now.
pub(crate) async fn current(
    state: &McpState,
    connection: &Connection,
    label: &BlockLabel,
    uri: &str,
) -> Result<Block, ErrorData> {
    match state.store.get_agent_block(&connection.org, connection.agent, label).await {
        Ok(block) => Ok(block),
        Err(StoreError::NotFound { .. }) => Err(not_found(uri)),
        Err(error) => Err(storage_error(error)),
    }
}

fn not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!("resource `{uri}` not found; this connection's resources are the blocks that resources/list lists"),
        Some(json!({ "uri": uri })),
    )
}

/// A store failure, logged here; the client only learns that it was not its fault.
pub(crate) fn storage_error(error: StoreError) -> ErrorData {
    tracing::warn!(%error, "an MCP request failed in storage");
    ErrorData::internal_error("the memory store failed to complete this request; try again", None)
}
