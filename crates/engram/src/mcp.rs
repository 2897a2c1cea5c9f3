//! `engram mcp`: one agent's memory as an MCP server over standard input and output, for MCP clients (Claude Code,
//! Cursor, Claude Desktop) that start engram themselves. It opens the store directly (SQLite in the data directory,
//! or PostgreSQL with `--database-url`), with no server process, finds the agent (creating it on first use, with `persona` and `human` blocks) and serves
//! until the client closes the stream. Standard output carries the protocol; logs go to standard error.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use clap::Args;
use engram_core::agent::{Agent, ModelRef};
use engram_core::id::AgentId;
use engram_core::org::OrgId;
use engram_embed::Embedders;
use engram_mcp::{McpServer, McpState};
use engram_runtime::Retrieval;
use engram_store::Store;

use crate::config::{self, ConfigFlags, Settings};
use crate::{logging, serve};

/// Flags of `engram mcp`. The other settings (`ENGRAM_DATA_DIR`, the embedding model directory, provider keys for
/// remote embedding models, the log filter) come from the environment and the config file as for `engram serve`.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// Directory holding the SQLite database; created if missing. Do not point it at a directory a running
    /// `engram serve` uses: connect to that server's `/mcp` endpoint instead.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// PostgreSQL database to use instead of the data directory's SQLite (as `engram serve --database-url`); safe
    /// to share with running `engram serve` processes.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// The agent whose memory to serve: a name (the agent is created on first use, with empty `persona` and `human`
    /// blocks) or an existing agent's id (`agent_…`).
    #[arg(long, value_name = "NAME")]
    pub agent: String,
    /// TOML config file, as for `engram serve`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
    /// Directory of the local embedding model (default: `models/all-minilm-l6-v2` in the data directory); without
    /// it search is text-only.
    #[arg(long, value_name = "DIR")]
    pub embedding_model_dir: Option<PathBuf>,
}

/// The option-table keys (`config::OPTIONS`) that `engram mcp`'s flags set.
const FLAG_KEYS: [(&str, &str); 4] = [
    ("data_dir", "data-dir"),
    ("config", "config"),
    ("embedding_model_dir", "embedding-model-dir"),
    ("database_url", "database-url"),
];

impl McpArgs {
    /// The flags as the configuration's flag layer, so they take precedence over the file and the environment
    /// exactly as `engram serve`'s do.
    fn config_flags(&self) -> ConfigFlags {
        let given = [
            self.data_dir.clone(),
            self.config.clone(),
            self.embedding_model_dir.as_ref().map(|d| d.display().to_string()),
            self.database_url.clone(),
        ];
        let values = FLAG_KEYS.iter().zip(given).filter_map(|((key, _), value)| Some((*key, value?))).collect();
        ConfigFlags { values }
    }
}

pub async fn run(args: &McpArgs) -> anyhow::Result<()> {
    let settings = config::resolve(&args.config_flags())?.settings;
    logging::init(&settings.log, settings.log_format)?;
    let store = serve::open_configured_store(&settings).await?;
    let result = serve_agent(&settings, store.clone(), &args.agent).await;
    store.close().await;
    result
}

async fn serve_agent(settings: &Settings, store: Arc<dyn Store>, agent: &str) -> anyhow::Result<()> {
    let server_config = settings.server_config();
    let embedders = Embedders::new(server_config.embedders.clone());
    let embedding = ModelRef::parse("embedding_model", &server_config.embedding_model).map_err(|e| anyhow!("{e}"))?;
    let org = OrgId::default_org();
    let agent = open_agent(store.as_ref(), &org, agent, &embedding).await?;
    match embedders.local_status() {
        Ok(dir) => tracing::info!("semantic search on: local embedding model from {}", dir.display()),
        Err(reason) => tracing::warn!(
            "semantic search is off: the local embedding model could not be loaded from {} ({reason}); search runs \
             in text mode",
            settings.embedding_model_dir.display()
        ),
    }
    let retrieval = Retrieval::new(store.clone(), embedders);
    // Embeds passages stored while their model was unavailable.
    let _indexer = retrieval.spawn_indexer();
    tracing::info!(agent = %agent.id, name = agent.config.name.as_str(), "serving MCP over stdio");
    let server = McpServer::for_agent(McpState::new(store, retrieval), org, agent.id);
    engram_mcp::serve_stdio(server).await.context("MCP session failed")?;
    tracing::info!("the MCP client closed the session");
    Ok(())
}

/// The agent `agent` names: an existing agent's id, or a name, created on first use.
async fn open_agent(store: &dyn Store, org: &OrgId, agent: &str, embedding: &ModelRef) -> anyhow::Result<Agent> {
    if AgentId::parse("agent", agent.trim()).is_ok() {
        return Ok(engram_mcp::resolve_agent(store, org, agent).await?);
    }
    let (agent, created) = engram_mcp::open_or_create_agent(store, org, agent, embedding).await?;
    if created {
        let name = agent.config.name.as_str();
        tracing::info!(agent = %agent.id, "created agent `{name}` with blocks persona and human");
    }
    Ok(agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_options_of_the_table() {
        for (key, flag) in FLAG_KEYS {
            let option = config::OPTIONS.iter().find(|o| o.key == key);
            assert_eq!(option.and_then(|o| o.flag), Some(flag), "{key}");
        }
    }
}
