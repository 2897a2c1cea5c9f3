//! The `engram` binary: parses the command line and hands off to the module that owns each subcommand.
//!
//! `cli` defines the command tree, `config` resolves server settings from defaults, file, environment and flags,
//! `serve` composes store and server, `client` talks to a running server over HTTP, `chat` holds a conversation
//! with an agent through it, `mcp` serves one agent's memory over MCP on stdio, `migrate` copies a SQLite data
//! directory into PostgreSQL, and `bench` measures a server.

mod bench;
mod chat;
mod cli;
mod client;
mod config;
mod logging;
mod mcp;
mod migrate;
mod output;
mod serve;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: a turn makes thousands of short-lived allocations across the async
/// workers and SQLite's threads, where glibc's malloc spent about a fifth of the server's CPU (its arena
/// consolidation and free lists, measured with `perf` under `benches/turns.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
