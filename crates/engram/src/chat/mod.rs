//! `engram chat <agent>`: a terminal conversation with one agent over the HTTP API. Each line read from standard
//! input is sent with `"stream": true`; the run's server-sent events ([`sse`]) are shown as they arrive
//! ([`render`]); lines starting with `/` are commands ([`views`]). A failed send is reported and the chat goes on,
//! unless the agent is gone.

mod render;
mod sse;
mod views;

use std::io::{IsTerminal, Write};

use anyhow::Context;
use clap::Args;
use futures::StreamExt;
use reqwest::Method;
use reqwest::header::ACCEPT;
use serde_json::{Value, json};

use crate::cli::ClientArgs;
use crate::client::{Client, ClientError, root_cause};
use crate::output::field;
use render::{Style, Transcript};
use sse::SseParser;
pub use views::HELP;

/// Arguments of `engram chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Agent id (`agent_…`) or name.
    pub agent: String,
}

/// One line of input.
#[derive(Debug, PartialEq, Eq)]
enum Input<'a> {
    Blank,
    Message(&'a str),
    Memory,
    Context,
    Help,
    Quit,
    Unknown(&'a str),
}

impl<'a> Input<'a> {
    fn parse(line: &'a str) -> Self {
        let line = line.trim_end_matches(['\n', '\r']);
        let command = line.trim();
        if command.is_empty() {
            return Input::Blank;
        }
        if let Some(escaped) = command.strip_prefix('/').filter(|rest| rest.starts_with('/')) {
            return Input::Message(escaped);
        }
        match command {
            "/memory" => Input::Memory,
            "/context" => Input::Context,
            "/help" | "/?" => Input::Help,
            "/quit" | "/exit" | "/q" => Input::Quit,
            _ if command.starts_with('/') => Input::Unknown(command),
            _ => Input::Message(line),
        }
    }
}

/// A chat with one agent.
struct Chat {
    client: Client,
    agent_id: String,
    style: Style,
    /// Standard output is a terminal: colour, a header and a footer per run.
    terminal: bool,
    json: bool,
}

pub async fn run(args: &ChatArgs, json: bool) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let agent_id = client.resolve_agent(&args.agent).await?;
    let agent = client.get(&["v1", "agents", &agent_id], &[]).await?;
    let terminal = std::io::stdout().is_terminal();
    let chat = Chat { client, agent_id, style: Style::detect(), terminal, json };
    chat.greet(&agent);

    let prompt = std::io::stdin().is_terminal();
    while let Some(line) = read_line(prompt.then(|| chat.style.bold("> "))).await? {
        let outcome = match Input::parse(&line) {
            Input::Blank => Ok(()),
            Input::Quit => break,
            Input::Help => {
                println!("{}", views::HELP);
                Ok(())
            }
            Input::Unknown(command) => {
                eprintln!("unknown command {command}; /help lists the commands");
                Ok(())
            }
            Input::Memory => chat.memory().await,
            Input::Context => chat.context().await,
            Input::Message(text) => chat.send(text).await,
        };
        chat.keep_going(outcome)?;
    }
    Ok(())
}

impl Chat {
    /// On a terminal, says who the user is talking to; always warns when the agent cannot reply.
    fn greet(&self, agent: &Value) {
        let model = field(agent, "model");
        if self.terminal && !self.json {
            let about = if model.is_empty() { self.agent_id.clone() } else { format!("{}, {model}", self.agent_id) };
            println!(
                "{}",
                self.style.dim(&format!("Chatting with {} ({about}). /help for commands.", field(agent, "name")))
            );
        }
        if model.is_empty() {
            eprintln!("note: this agent has no model, so it holds memory but cannot reply");
        }
    }

    /// Reports a request that failed and goes on, unless the agent no longer exists. Other failures (standard
    /// output gone, say) end the chat.
    fn keep_going(&self, outcome: anyhow::Result<()>) -> anyhow::Result<()> {
        let Err(error) = outcome else { return Ok(()) };
        match error.downcast_ref::<ClientError>() {
            Some(e) if e.code() != Some("agent_not_found") => {
                std::io::stdout().flush().ok();
                eprintln!("{}", self.style.red(&format!("error: {e}")));
                Ok(())
            }
            _ => Err(error),
        }
    }

    async fn send(&self, text: &str) -> anyhow::Result<()> {
        let url = self.client.url(&["v1", "agents", &self.agent_id, "messages"], &[]);
        let body = json!({ "messages": [{ "role": "user", "content": text }], "stream": true });
        let request = self.client.request(Method::POST, url).header(ACCEPT, "text/event-stream").json(&body);
        let response = self.client.open(request).await?;

        let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
        let mut transcript = Transcript::new(&mut stdout, &mut stderr, self.style, self.terminal, self.json);
        let mut parser = SseParser::default();
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => {
                    for data in parser.push(&chunk) {
                        transcript.event(&data).context(CANNOT_PRINT)?;
                    }
                }
                Err(e) => {
                    let message = format!("the connection to the server broke: {}", root_cause(&e));
                    transcript.error(&message).context(CANNOT_PRINT)?;
                    break;
                }
            }
        }
        if let Some(data) = parser.finish() {
            transcript.event(&data).context(CANNOT_PRINT)?;
        }
        transcript.finish().context(CANNOT_PRINT)?;
        Ok(())
    }

    /// `/memory`; with `--json`, the blocks as one JSON line.
    async fn memory(&self) -> anyhow::Result<()> {
        let blocks = self.client.get(&["v1", "agents", &self.agent_id, "blocks"], &[]).await?;
        if self.json {
            println!("{blocks}")
        } else {
            print!("{}", views::memory(&blocks, self.style))
        }
        Ok(())
    }

    /// `/context`; with `--json`, the breakdown as one JSON line.
    async fn context(&self) -> anyhow::Result<()> {
        let context = self.client.get(&["v1", "agents", &self.agent_id, "context"], &[]).await?;
        if self.json {
            println!("{context}")
        } else {
            print!("{}", views::context(&context))
        }
        Ok(())
    }
}

const CANNOT_PRINT: &str = "cannot write to standard output";

/// The next line of standard input, after showing `prompt`; `None` at end of input.
async fn read_line(prompt: Option<String>) -> anyhow::Result<Option<String>> {
    if let Some(prompt) = &prompt {
        print!("{prompt}");
        std::io::stdout().flush().ok();
    }
    // A blocking read on the blocking pool: only one is ever outstanding, and none is left behind at exit, since the
    // chat ends only after a read returns.
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|n| (n > 0).then_some(line))
    })
    .await
    .context("cannot read standard input")?
    .context("cannot read standard input")?;
    if line.is_none() && prompt.is_some() {
        // End the prompt's line, so the shell's prompt starts on a fresh one.
        println!();
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_lines() {
        assert_eq!(Input::parse("  \n"), Input::Blank);
        assert_eq!(Input::parse("I'm Ada\n"), Input::Message("I'm Ada"));
        assert_eq!(Input::parse(" /memory \r\n"), Input::Memory);
        assert_eq!(Input::parse("/context"), Input::Context);
        assert_eq!(Input::parse("/quit"), Input::Quit);
        assert_eq!(Input::parse("/help"), Input::Help);
        assert_eq!(Input::parse("/memroy"), Input::Unknown("/memroy"));
        assert_eq!(Input::parse("//etc/hosts is a file"), Input::Message("/etc/hosts is a file"));
    }
}
