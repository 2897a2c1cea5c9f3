//! `engram agent create|list|show|delete`.

use anyhow::{anyhow, bail};
use reqwest::Method;
use serde_json::{Value, json};

use super::Client;
use crate::cli::{AgentCommand, ClientArgs};
use crate::output::{Table, field, list, preview, print_json};

/// The most agents `agent list` prints.
const LIST_MAX: usize = 100_000;

pub async fn run(args: &ClientArgs, command: AgentCommand, json: bool) -> anyhow::Result<()> {
    let client = Client::new(args)?;
    match command {
        AgentCommand::Create { name, system, model, blocks, context_window, tags } => {
            let mut body = json!({ "name": name, "tags": tags });
            if let Some(system) = system {
                body["system"] = json!(system);
            }
            if let Some(model) = model {
                body["model"] = json!(model);
            }
            if let Some(context_window) = context_window {
                body["context_window"] = json!(context_window);
            }
            if !blocks.is_empty() {
                body["blocks"] = Value::Array(blocks.iter().map(|b| parse_block(b)).collect::<anyhow::Result<_>>()?);
            }
            let request = client.request(Method::POST, client.url(&["v1", "agents"], &[])).json(&body);
            let agent = client.send(request).await?;
            if json { print_json(&agent) } else { print_agent(&agent) }
        }
        AgentCommand::List { name, tag } => {
            let mut query = Vec::new();
            if let Some(name) = &name {
                query.push(("name", name.as_str()));
            }
            if let Some(tag) = &tag {
                query.push(("tag", tag.as_str()));
            }
            let agents = client.list_all(&["v1", "agents"], &query, LIST_MAX).await?;
            if json {
                return print_json(&json!({ "items": agents, "next_cursor": null }));
            }
            let mut table = Table::new(["ID", "NAME", "MODEL", "TAGS", "CREATED"]);
            for agent in &agents {
                table.row([
                    field(agent, "id"),
                    field(agent, "name"),
                    field(agent, "model"),
                    list(agent, "tags"),
                    field(agent, "created_at"),
                ]);
            }
            print!("{}", table.render());
            Ok(())
        }
        AgentCommand::Show { agent } => {
            let id = client.resolve_agent(&agent).await?;
            let agent = client.get(&["v1", "agents", &id], &[]).await?;
            if json { print_json(&agent) } else { print_agent(&agent) }
        }
        AgentCommand::Delete { agent } => {
            let id = client.resolve_agent(&agent).await?;
            client.send(client.request(Method::DELETE, client.url(&["v1", "agents", &id], &[]))).await?;
            if json {
                print_json(&json!({ "id": id, "deleted": true }))
            } else {
                println!("deleted {id}");
                Ok(())
            }
        }
    }
}

/// `label=value` into a block of the create request.
fn parse_block(text: &str) -> anyhow::Result<Value> {
    let (label, value) = text
        .split_once('=')
        .ok_or_else(|| anyhow!("invalid --block {text:?}: expected LABEL=VALUE, e.g. human=Ada"))?;
    if label.is_empty() {
        bail!("invalid --block {text:?}: the label is empty");
    }
    Ok(json!({ "label": label, "value": value }))
}

fn print_agent(agent: &Value) -> anyhow::Result<()> {
    let mut table = Table::without_header();
    for name in ["id", "name", "model", "embedding", "context_window", "created_at", "updated_at"] {
        table.row([format!("{name}:"), field(agent, name)]);
    }
    table.row(["tags:".to_owned(), list(agent, "tags")]);
    table.row(["tools:".to_owned(), list(agent, "tools")]);
    table.row(["system:".to_owned(), preview(&field(agent, "system"), 100)]);
    print!("{}", table.render());
    let blocks = agent.get("blocks").and_then(Value::as_array).cloned().unwrap_or_default();
    if blocks.is_empty() {
        println!("blocks:   (none)");
        return Ok(());
    }
    println!("blocks:");
    let mut table = Table::new(["  LABEL", "VERSION", "CHARS", "LIMIT", "VALUE"]);
    for block in &blocks {
        let value = field(block, "value");
        table.row([
            format!("  {}", field(block, "label")),
            field(block, "version"),
            value.chars().count().to_string(),
            field(block, "limit"),
            preview(&value, 60),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}
