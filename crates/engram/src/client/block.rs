//! `engram block get|set`: one core memory block of an agent, addressed by label, with optimistic concurrency via
//! `If-Match`.

use reqwest::Method;
use reqwest::header::{ETAG, IF_MATCH};
use serde_json::json;

use super::{Client, read_input};
use crate::cli::{BlockCommand, ClientArgs};
use crate::output::{field, print_json};

pub async fn run(args: &ClientArgs, command: BlockCommand, json: bool) -> anyhow::Result<()> {
    let client = Client::new(args)?;
    match command {
        BlockCommand::Get { agent, label } => {
            let id = client.resolve_agent(&agent).await?;
            let block = client.get(&["v1", "agents", &id, "blocks", &label], &[]).await?;
            if json {
                return print_json(&block);
            }
            // The bare value, so that `engram block get a human > human.txt` round-trips through `block set --file`.
            let value = field(&block, "value");
            if value.ends_with('\n') {
                print!("{value}")
            } else {
                println!("{value}")
            }
            Ok(())
        }
        BlockCommand::Set { agent, label, value, file, if_version } => {
            let value = match (value, file) {
                (Some(value), _) if value != "-" => value,
                (_, Some(path)) => strip_one_newline(read_input(Some(&path)).await?),
                _ => strip_one_newline(read_input(None).await?),
            };
            let id = client.resolve_agent(&agent).await?;
            let url = client.url(&["v1", "agents", &id, "blocks", &label], &[]);
            let mut request = client.request(Method::PATCH, url).json(&json!({ "value": value }));
            if let Some(version) = if_version {
                request = request.header(IF_MATCH, format!("\"{version}\""));
            }
            let (headers, block) = client.send_with_headers(request).await?;
            if json {
                return print_json(&block);
            }
            let version = match field(&block, "version") {
                v if !v.is_empty() => v,
                _ => headers.get(ETAG).and_then(|v| v.to_str().ok()).unwrap_or("?").trim_matches('"').to_owned(),
            };
            println!("updated block {label} of {id} (version {version})");
            Ok(())
        }
    }
}

/// Files and pipes usually end in a newline that is not part of the value.
fn strip_one_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}
