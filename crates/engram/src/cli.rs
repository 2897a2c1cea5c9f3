//! The command tree: clap definitions for every subcommand, and the dispatch from a parsed [`Cli`] to the module that
//! carries it out. Server options (`serve`, `config show`) are not declared here: they come from the option table in
//! `config::options`, so flags, environment variables, file keys and their documentation share one definition.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::chat::ChatArgs;
use crate::config::ConfigFlags;
use crate::mcp::McpArgs;
use crate::migrate::MigrateArgs;
use crate::{bench, chat, client, config, mcp, migrate, serve};

/// engram: a stateful agent server with OS-style memory.
#[derive(Debug, Parser)]
#[command(name = "engram", version, propagate_version = true)]
pub struct Cli {
    /// Print raw JSON instead of the human-readable format.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the engram server.
    Serve(ServeArgs),
    /// Create, list, show and delete agents on a running server.
    Agent(AgentArgs),
    /// Read and write an agent's core memory blocks on a running server.
    Block(BlockArgs),
    /// Add, search and list an agent's archival memory on a running server.
    Archival(ArchivalArgs),
    /// Chat with an agent on a running server: each line you type is sent, the reply streams back.
    #[command(after_help = chat::HELP)]
    Chat(ChatArgs),
    /// Import agents from an Agent File (`.af`) into a running server.
    Import(ImportArgs),
    /// Write an agent of a running server as an Agent File (`.af`) to standard output.
    Export(ExportArgs),
    /// Serve one agent's memory to MCP clients (Claude Code, Cursor, Claude Desktop) on standard input and output.
    ///
    /// Opens the data directory directly (no server needed) and creates the agent on first use.
    Mcp(McpArgs),
    /// Copy a SQLite data directory into a PostgreSQL database, then verify the copy.
    ///
    /// Copies agents, blocks, messages, passages with their embeddings, runs and audit events; checks every row
    /// and each organisation's audit chain. Safe to run again: rows already there are checked, not copied twice.
    Migrate(MigrateArgs),
    /// Inspect the server configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Measure a server started from this executable.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// Flags of `engram serve`; see `engram config docs` for the file keys and environment variables behind them.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub flags: ConfigFlags,
}

/// How client commands reach the server.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Base URL of the engram server.
    #[arg(long, global = true, env = "ENGRAM_URL", default_value = "http://127.0.0.1:8283", value_name = "URL")]
    pub url: String,
    /// API key, sent as `Authorization: Bearer <key>` (not needed in local mode).
    #[arg(long, global = true, env = "ENGRAM_API_KEY", hide_env_values = true, value_name = "KEY")]
    pub api_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Create an agent.
    Create {
        /// The agent's name.
        name: String,
        /// System prompt.
        #[arg(long, value_name = "TEXT")]
        system: Option<String>,
        /// Model as `provider/model` (e.g. `openai/gpt-4o-mini`); without one the agent is memory-only.
        #[arg(long, value_name = "PROVIDER/MODEL")]
        model: Option<String>,
        /// A core memory block as `label=value` (split at the first `=`); repeat for more blocks.
        #[arg(long = "block", value_name = "LABEL=VALUE")]
        blocks: Vec<String>,
        /// Tokens of context the agent may fill per model call (the server's default, 32000, when not given).
        #[arg(long, value_name = "TOKENS")]
        context_window: Option<u32>,
        /// A tag; repeat for more.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
    },
    /// List agents, oldest first.
    List {
        /// Only agents with this name.
        #[arg(long)]
        name: Option<String>,
        /// Only agents with this tag.
        #[arg(long)]
        tag: Option<String>,
    },
    /// Show an agent and its memory blocks.
    Show {
        /// Agent id (`agent_…`) or name.
        agent: String,
    },
    /// Delete an agent with its messages and archive.
    Delete {
        /// Agent id (`agent_…`) or name.
        agent: String,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The Agent File to import (plain or JSON-encoded twice), or `-` for standard input.
    #[arg(value_name = "FILE.af")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Agent id (`agent_…`) or name.
    pub agent: String,
}

#[derive(Debug, Args)]
pub struct BlockArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: BlockCommand,
}

#[derive(Debug, Subcommand)]
pub enum BlockCommand {
    /// Print a block's value (`--json`: the whole block, with its version).
    Get {
        /// Agent id (`agent_…`) or name.
        agent: String,
        /// Block label, e.g. `human`.
        label: String,
    },
    /// Replace a block's value.
    #[command(group = clap::ArgGroup::new("source").required(true).args(["value", "file"]))]
    Set {
        /// Agent id (`agent_…`) or name.
        agent: String,
        /// Block label, e.g. `human`.
        label: String,
        /// The new value, or `-` to read it from standard input (one trailing newline is dropped).
        value: Option<String>,
        /// Read the new value from a file (one trailing newline is dropped).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Only update if the block is still at this version (sent as `If-Match`); otherwise fail with
        /// `version_conflict`.
        #[arg(long, value_name = "N")]
        if_version: Option<i64>,
    },
}

#[derive(Debug, Args)]
pub struct ArchivalArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: ArchivalCommand,
}

#[derive(Debug, Subcommand)]
pub enum ArchivalCommand {
    /// Add passages, one per non-empty line, from a file or standard input.
    Add {
        /// Agent id (`agent_…`) or name.
        agent: String,
        /// `-` reads standard input (the default when no `--file` is given).
        #[arg(value_name = "-", value_parser = ["-"], conflicts_with = "file")]
        stdin: Option<String>,
        /// Read passages from this file.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Tag every added passage; repeat for more.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
    },
    /// Search an agent's passages, best first.
    Search {
        /// Agent id (`agent_…`) or name.
        agent: String,
        /// What to look for.
        query: String,
        /// How many results.
        #[arg(short, default_value_t = 10)]
        k: u32,
        /// Ranking: full text, vector similarity, or both fused (the server's default, hybrid, when not given).
        #[arg(long, value_enum)]
        mode: Option<SearchMode>,
        /// Only passages with this tag; repeat for more (any of them matches).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
    },
    /// List passages, oldest first.
    List {
        /// Agent id (`agent_…`) or name.
        agent: String,
        /// At most this many passages.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SearchMode {
    Text,
    Vector,
    Hybrid,
}

impl SearchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Text => "text",
            SearchMode::Vector => "vector",
            SearchMode::Hybrid => "hybrid",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the resolved server configuration and where each value came from (API keys redacted).
    Show(ServeArgs),
    /// Print every server option with its file key, environment variable, flag and default, as Markdown.
    Docs,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// End-to-end HTTP figures: cold start, RSS, request latencies and text search over a loaded archive.
    Api(bench::ApiBenchArgs),
    /// Retrieval quality on the LoCoMo conversations: evidence recall per category for text, vector and hybrid
    /// archival search side by side, context size, ingest and query times.
    Locomo(bench::LocomoBenchArgs),
}

/// Runs the parsed command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let json = cli.json;
    match cli.command {
        Command::Serve(args) => serve::run(&args.flags).await,
        Command::Agent(args) => client::agent::run(&args.client, args.command, json).await,
        Command::Block(args) => client::block::run(&args.client, args.command, json).await,
        Command::Archival(args) => client::archival::run(&args.client, args.command, json).await,
        Command::Chat(args) => chat::run(&args, json).await,
        Command::Import(args) => client::agentfile::import(&args.client, &args.file, json).await,
        Command::Export(args) => client::agentfile::export(&args.client, &args.agent).await,
        Command::Mcp(args) => mcp::run(&args).await,
        Command::Migrate(args) => migrate::run(&args, json).await,
        Command::Config(ConfigCommand::Show(args)) => config::show(&args.flags, json),
        Command::Config(ConfigCommand::Docs) => {
            print!("{}", config::docs_markdown());
            Ok(())
        }
        Command::Bench(BenchCommand::Api(args)) => bench::run_api(&args, json).await,
        Command::Bench(BenchCommand::Locomo(args)) => bench::run_locomo(&args, json).await,
    }
}
