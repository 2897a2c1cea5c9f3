//! `/v1/audit/events`: the organisation's audit log, oldest first.

use axum::Json;
use axum::extract::State;
use engram_core::id::AgentId;
use engram_store::AuditQuery;

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::wire::audit::{AuditEventBody, AuditParams};
use crate::wire::common::{ErrorResponse, ListResponse, parse_int, parse_limit};

/// List audit events after a `seq` (the cursor), optionally only those concerning one agent.
#[utoipa::path(get, path = "/v1/audit/events", tag = "audit", params(AuditParams),
    responses((status = 200, body = ListResponse<AuditEventBody>), (status = 400, body = ErrorResponse)))]
pub async fn list_audit_events(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Json<ListResponse<AuditEventBody>>> {
    let query = AuditQuery {
        after_seq: params.after.as_deref().map(|a| parse_int("after", a)).transpose()?,
        limit: parse_limit(params.limit.as_deref())?,
        agent_id: params.agent_id.as_deref().map(|a| AgentId::parse("agent_id", a)).transpose()?,
    };
    let page = state.store.list_audit_events(&caller.org, &query).await?;
    Ok(Json(ListResponse::from_page(page, AuditEventBody::from)))
}
