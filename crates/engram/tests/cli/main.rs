//! Integration tests of the `engram` binary: a real `engram serve` child on 127.0.0.1:0 with a temporary data
//! directory, driven through the CLI's client subcommands (and reqwest where the test needs concurrency), plus
//! configuration layering, start-up refusals, graceful shutdown and restarts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agentfile;
mod agents;
mod archival;
mod bench;
mod blocks;
mod chat;
mod config;
mod errors;
mod lifecycle;
mod mcp;
mod migrate;
mod outage;
mod scale_out;
mod support;
