//! Route handlers, one module per resource. `routes()` holds everything behind authentication; `public_routes()`
//! holds health, metrics and the OpenAPI document.

mod agentfile;
mod agents;
mod archival;
mod audit;
mod blocks;
mod context;
mod etag;
mod health;
mod messages;
mod path;
mod runs;
mod shared_blocks;
mod tools;

use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// Authenticated API routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(agents::create_agent, agents::list_agents))
        .routes(routes!(agents::get_agent, agents::patch_agent, agents::delete_agent))
        .routes(routes!(agentfile::import_agents))
        .routes(routes!(agentfile::export_agent))
        .routes(routes!(blocks::list_agent_blocks))
        .routes(routes!(blocks::get_agent_block, blocks::patch_agent_block))
        .routes(routes!(blocks::attach_block))
        .routes(routes!(blocks::detach_block))
        // `attach` and `detach` are valid labels too: route reads and edits of blocks so named to the label
        // handlers instead of answering 405 from the static routes above.
        .route("/v1/agents/{agent_id}/blocks/attach", blocks::label_alias("attach"))
        .route("/v1/agents/{agent_id}/blocks/detach", blocks::label_alias("detach"))
        .routes(routes!(shared_blocks::create_block, shared_blocks::list_blocks))
        .routes(routes!(shared_blocks::get_block, shared_blocks::patch_block, shared_blocks::delete_block))
        .routes(routes!(archival::create_passage, archival::list_passages))
        .routes(routes!(archival::create_passages_batch))
        .routes(routes!(archival::search_passages))
        .routes(routes!(archival::get_passage, archival::delete_passage))
        .routes(routes!(messages::list_messages, runs::send_messages))
        .routes(routes!(messages::search_messages))
        .routes(routes!(runs::send_messages_async))
        .routes(routes!(runs::get_run))
        .routes(routes!(runs::cancel_run))
        .routes(routes!(context::get_context))
        .routes(routes!(context::compact))
        .routes(routes!(tools::list_tools))
        .routes(routes!(audit::list_audit_events))
}

/// Routes that need no credentials.
pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(health::metrics))
        .route("/openapi.json", get(health::openapi_json))
}
