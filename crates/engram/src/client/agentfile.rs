//! `engram import FILE.af` and `engram export AGENT`: Agent File import and export through a running server. The file
//! goes to the server as it is (plain or encoded twice); the server maps it and says what it could not, which is
//! printed as warnings on standard error. An export is written to standard output, so `> agent.af` saves it.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;

use super::Client;
use crate::cli::ClientArgs;
use crate::output::{Table, field, print_json};

/// Imports the agent file at `file` (`-`: standard input) and prints the agents it created.
pub async fn import(args: &ClientArgs, file: &Path, json: bool) -> anyhow::Result<()> {
    let client = Client::new(args)?;
    let bytes = if file == Path::new("-") {
        tokio::task::spawn_blocking(|| {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes).map(|_| bytes)
        })
        .await
        .context("cannot read standard input")?
        .context("cannot read standard input")?
    } else {
        tokio::fs::read(file).await.with_context(|| format!("cannot read {}", file.display()))?
    };
    let url = client.url(&["v1", "agents", "import"], &[]);
    let request = client.request(Method::POST, url).header(CONTENT_TYPE, "application/json").body(bytes);
    let response = client.send(request).await?;
    if json {
        return print_json(&response);
    }
    for warning in response.get("warnings").and_then(Value::as_array).into_iter().flatten() {
        eprintln!("warning: {}", warning.as_str().unwrap_or_default());
    }
    let mut table = Table::new(["ID", "NAME", "MODEL", "BLOCKS"]);
    for agent in response.get("agents").and_then(Value::as_array).into_iter().flatten() {
        let blocks = agent.get("blocks").and_then(Value::as_array).map_or(0, Vec::len);
        table.row([field(agent, "id"), field(agent, "name"), field(agent, "model"), blocks.to_string()]);
    }
    print!("{}", table.render());
    Ok(())
}

/// Prints the agent (an id or a name) as an agent file.
pub async fn export(args: &ClientArgs, agent: &str) -> anyhow::Result<()> {
    let client = Client::new(args)?;
    let id = client.resolve_agent(agent).await?;
    let file = client.get(&["v1", "agents", &id, "export"], &[]).await?;
    print_json(&file)
}
