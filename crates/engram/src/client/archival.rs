//! `engram archival add|search|list`: an agent's archival memory. `add` sends one passage per non-empty input line,
//! in batches through the batch endpoint, with a progress bar when standard error is a terminal.

use std::io::IsTerminal;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Client, read_input};
use crate::cli::{ArchivalCommand, ClientArgs};
use crate::output::{Table, field, list, preview, print_json};

/// Passages per batch request (the server accepts up to 1000).
const BATCH_SIZE: usize = 500;

pub async fn run(args: &ClientArgs, command: ArchivalCommand, json: bool) -> anyhow::Result<()> {
    let client = Client::new(args)?;
    match command {
        ArchivalCommand::Add { agent, stdin, file, tags } => {
            if file.is_none() && stdin.is_none() && std::io::stdin().is_terminal() {
                bail!("give --file FILE, or `-` to read passages from standard input");
            }
            let text = read_input(file.as_deref()).await?;
            let passages: Vec<&str> = text.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
            let id = client.resolve_agent(&agent).await?;
            let ids = add(&client, &id, &passages, &tags).await?;
            if json {
                print_json(&json!({ "agent_id": id, "ids": ids }))
            } else {
                println!("added {} passage(s) to {id}", ids.len());
                Ok(())
            }
        }
        ArchivalCommand::Search { agent, query, k, mode, tags } => {
            let id = client.resolve_agent(&agent).await?;
            let k = k.to_string();
            let tags = tags.join(",");
            let mut pairs = vec![("q", query.as_str()), ("k", k.as_str())];
            if let Some(mode) = mode {
                pairs.push(("mode", mode.as_str()));
            }
            if !tags.is_empty() {
                pairs.push(("tags", tags.as_str()));
            }
            let response = client.get(&["v1", "agents", &id, "archival", "search"], &pairs).await?;
            if json {
                return print_json(&response);
            }
            let results = response.get("results").and_then(Value::as_array).cloned().unwrap_or_default();
            let mut table = Table::new(["SCORE", "ID", "TAGS", "TEXT"]);
            for result in &results {
                let passage = result.get("passage").cloned().unwrap_or(Value::Null);
                let score = result.get("score").and_then(Value::as_f64).map_or_else(String::new, score_text);
                table.row([
                    score,
                    field(&passage, "id"),
                    list(&passage, "tags"),
                    preview(&field(&passage, "text"), 120),
                ]);
            }
            print!("{}", table.render());
            // A hybrid search the server answered from text alone says so; keep that visible.
            if let Some(note) = response.get("note").and_then(Value::as_str) {
                eprintln!("note: {note}");
            }
            Ok(())
        }
        ArchivalCommand::List { agent, limit } => {
            let id = client.resolve_agent(&agent).await?;
            let max = usize::try_from(limit).unwrap_or(usize::MAX);
            let passages = client.list_all(&["v1", "agents", &id, "archival"], &[], max).await?;
            if json {
                return print_json(&json!({ "items": passages }));
            }
            let mut table = Table::new(["ID", "CREATED", "TAGS", "TEXT"]);
            for passage in &passages {
                table.row([
                    field(passage, "id"),
                    field(passage, "created_at"),
                    list(passage, "tags"),
                    preview(&field(passage, "text"), 120),
                ]);
            }
            print!("{}", table.render());
            Ok(())
        }
    }
}

/// Inserts `passages` in batches and returns their ids. On failure, says how many were committed before it.
async fn add(client: &Client, agent: &str, passages: &[&str], tags: &[String]) -> anyhow::Result<Vec<String>> {
    let progress =
        if std::io::stderr().is_terminal() { ProgressBar::new(passages.len() as u64) } else { ProgressBar::hidden() };
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} passages ({per_sec}, eta {eta})") {
        progress.set_style(style);
    }
    let url = client.url(&["v1", "agents", agent, "archival", "batch"], &[]);
    let mut ids = Vec::with_capacity(passages.len());
    for batch in passages.chunks(BATCH_SIZE) {
        let items: Vec<Value> = batch
            .iter()
            .map(|text| if tags.is_empty() { json!({ "text": text }) } else { json!({ "text": text, "tags": tags }) })
            .collect();
        let request = client.request(Method::POST, url.clone()).json(&json!({ "items": items }));
        let response = match client.send(request).await {
            Ok(response) => response,
            Err(e) => {
                progress.abandon();
                if !ids.is_empty() {
                    eprintln!("note: {} of {} passage(s) were added before this error", ids.len(), passages.len());
                }
                return Err(e.into());
            }
        };
        let batch_ids = response.get("ids").and_then(Value::as_array).cloned().unwrap_or_default();
        ids.extend(batch_ids.iter().filter_map(Value::as_str).map(str::to_owned));
        progress.inc(batch.len() as u64);
    }
    progress.finish_and_clear();
    Ok(ids)
}

/// Scores with four significant decimals; BM25 scores over a small archive can be tiny, so those use an exponent.
fn score_text(score: f64) -> String {
    if score == 0.0 || score.abs() >= 0.001 { format!("{score:.4}") } else { format!("{score:.3e}") }
}
