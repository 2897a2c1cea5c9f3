//! engram-server: the HTTP face of engram.
//!
//! Builds the axum [`Router`] (`router`) apart from running it (`Application`), so tests bind port 0 and the binary
//! binds the configured address. Wire types live here and are converted by hand from domain types; store errors are
//! mapped to HTTP statuses and stable codes in one exhaustive `match` (`error.rs`).

mod api;
mod app;
mod auth;
mod config;
mod error;
mod extract;
mod idempotency;
mod mcp;
mod metrics;
mod openapi;
mod wire;

pub use app::{AppState, Application, BindError, router};
pub use config::{ApiKeyConfig, ServerConfig};
