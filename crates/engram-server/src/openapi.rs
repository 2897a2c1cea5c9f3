//! The OpenAPI 3.1 document's frame: title, tags, security. Paths and schemas are collected from the handlers'
//! `#[utoipa::path]` attributes by `utoipa_axum`, so the document cannot list a route the router lacks or miss one
//! it has.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::wire::common::{ErrorDetail, ErrorResponse};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "engram",
        description = "A stateful agent server with operating-system-style memory: core memory blocks, recall \
                       memory (every message) and archival memory (searchable passages), with every memory \
                       mutation recorded in an audit log.",
    ),
    tags(
        (name = "health", description = "Liveness, version and metrics"),
        (name = "agents", description = "Agents: model configuration, system prompt and memory"),
        (name = "blocks", description = "Core memory blocks, per agent and shared"),
        (name = "archival", description = "Archival memory: passages and search"),
        (name = "messages", description = "Recall memory: the full message history"),
        (name = "audit", description = "The audit log of memory mutations"),
    ),
    components(schemas(ErrorResponse, ErrorDetail)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key. Not needed in local mode (loopback, no keys configured)."))
                    .build(),
            ),
        );
    }
}
