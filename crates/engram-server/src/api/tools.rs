//! `GET /v1/tools`: the tools agents can name in `tools`, with the JSON schemas their models see.

use axum::Json;
use engram_runtime::tools::Builtin;

use crate::wire::run::{ToolBody, ToolsResponse};

/// List the tools agents can use.
#[utoipa::path(get, path = "/v1/tools", tag = "tools", responses((status = 200, body = ToolsResponse)))]
pub async fn list_tools() -> Json<ToolsResponse> {
    let items = Builtin::ALL
        .into_iter()
        .map(|tool| {
            let spec = tool.spec();
            ToolBody {
                name: spec.name,
                description: spec.description,
                parameters: spec.parameters,
                kind: "builtin".to_owned(),
                terminal: tool.is_terminal(),
            }
        })
        .collect();
    Json(ToolsResponse { items })
}
