//! Audit event shapes (`GET /v1/audit/events`).

use chrono::{DateTime, Utc};
use engram_core::audit::{AuditEvent, VersionHash};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One recorded mutation. Content is referred to only by salted commitments.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventBody {
    /// Gap-free per organisation, from 1.
    pub seq: i64,
    pub org_id: String,
    pub at: DateTime<Utc>,
    pub actor: ActorBody,
    /// e.g. `block.update`, `passage.insert`.
    pub action: String,
    pub target: TargetBody,
    pub agent_id: Option<String>,
    pub run_id: Option<String>,
    pub step_id: Option<String>,
    pub request_id: Option<String>,
    pub before: Option<VersionHashBody>,
    pub after: Option<VersionHashBody>,
}

/// Who made the change.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorBody {
    /// `api_key`, `agent`, `system`, `operator` or `mcp`.
    pub kind: String,
    pub id: String,
}

/// What was changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetBody {
    pub kind: String,
    pub id: String,
}

/// A version and the commitment `sha256(salt || content)` to its content.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionHashBody {
    pub version: i64,
    pub content_hash: String,
}

impl From<VersionHash> for VersionHashBody {
    fn from(v: VersionHash) -> Self {
        Self { version: v.version, content_hash: v.content_hash }
    }
}

impl From<AuditEvent> for AuditEventBody {
    fn from(e: AuditEvent) -> Self {
        Self {
            seq: e.seq,
            org_id: e.org_id.to_string(),
            at: e.at,
            actor: ActorBody { kind: e.actor.kind.as_str().to_owned(), id: e.actor.id },
            action: e.action.as_str().to_owned(),
            target: TargetBody { kind: e.target.kind.as_str().to_owned(), id: e.target.id },
            agent_id: e.agent_id.map(|a| a.to_string()),
            run_id: e.run_id.map(|r| r.to_string()),
            step_id: e.step_id.map(|s| s.to_string()),
            request_id: e.request_id,
            before: e.before.map(Into::into),
            after: e.after.map(Into::into),
        }
    }
}

/// Audit listing parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// 1..=1000, default 50.
    pub limit: Option<String>,
    /// Only events with a larger `seq` (the `next_cursor` of the previous page).
    pub after: Option<String>,
    /// Only events concerning this agent.
    pub agent_id: Option<String>,
}
