//! Authentication: who is calling, and for which organisation.
//!
//! API key secrets are hashed (SHA-256) when the server starts; requests are matched by the hash of the presented
//! key, so no secret is kept in clear past start-up. In local mode (no keys configured, loopback only) every request
//! acts as the `local` operator of the `default` organisation.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use engram_core::audit::{Actor, ActorKind, WriteContext};
use engram_core::org::OrgId;
use sha2::{Digest, Sha256};
use tower_http::request_id::RequestId;

use crate::app::AppState;
use crate::config::ApiKeyConfig;
use crate::error::ApiError;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org: OrgId,
    pub actor: Actor,
    pub request_id: Option<String>,
}

impl Caller {
    /// The provenance of a write made by this caller.
    pub fn write_ctx(&self) -> WriteContext {
        WriteContext {
            org: self.org.clone(),
            actor: self.actor.clone(),
            run_id: None,
            step_id: None,
            request_id: self.request_id.clone(),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("route is missing the authentication layer".into()))
    }
}

/// Maps key hashes to the key's public id and organisation.
#[derive(Debug, Default)]
pub struct Authenticator {
    keys: HashMap<[u8; 32], (String, OrgId)>,
}

impl Authenticator {
    pub fn new(keys: &[ApiKeyConfig]) -> Result<Self, String> {
        let mut map = HashMap::new();
        for k in keys {
            if k.key.len() < 16 {
                return Err(format!("API key `{}` is too short: use at least 16 characters", k.id));
            }
            if map.insert(hash_key(&k.key), (k.id.clone(), k.org.clone())).is_some() {
                return Err(format!("API key `{}` is configured twice", k.id));
            }
        }
        Ok(Self { keys: map })
    }

    pub fn local_mode(&self) -> bool {
        self.keys.is_empty()
    }

    fn authenticate(&self, header: Option<&str>) -> Result<(OrgId, Actor), ApiError> {
        if self.local_mode() {
            return Ok((OrgId::default_org(), Actor { kind: ActorKind::Operator, id: "local".to_owned() }));
        }
        let token = header
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        let (id, org) = self.keys.get(&hash_key(token)).ok_or(ApiError::Unauthorized)?;
        Ok((org.clone(), Actor { kind: ActorKind::ApiKey, id: id.clone() }))
    }
}

fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Middleware: authenticates the request and stores the [`Caller`] in its extensions.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    match state.auth.authenticate(header) {
        Ok((org, actor)) => {
            let request_id =
                req.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).map(str::to_owned);
            req.extensions_mut().insert(Caller { org, actor, request_id });
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}
