//! The HTTP client behind `engram agent|block|archival|import|export`: builds URLs under the server's base URL,
//! sends the API key, turns error responses into `message (code)` and refused connections into a message naming the
//! URL. The submodules hold one command group each.

pub mod agent;
pub mod agentfile;
pub mod archival;
pub mod block;

use std::fmt;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use engram_core::id::AgentId;
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde_json::Value;

use crate::cli::ClientArgs;

/// An error response from the server, or a failure to reach it.
#[derive(Debug)]
pub enum ClientError {
    /// The server answered with a non-2xx status and (usually) an error body.
    Api { code: String, message: String },
    /// Nothing answered at the URL.
    Connect { url: String, cause: String },
    /// The request failed in another way (reset connection, timeout, unreadable body).
    Transport { url: String, cause: String },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Api { code, message, .. } => write!(f, "{message} ({code})"),
            ClientError::Connect { url, cause } => write!(
                f,
                "cannot connect to the engram server at {url}: {cause}. Is `engram serve` running there? \
                 Use --url or ENGRAM_URL to point elsewhere"
            ),
            ClientError::Transport { url, cause } => write!(f, "request to {url} failed: {cause}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl ClientError {
    /// The server's error code, for an error response.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            ClientError::Connect { .. } | ClientError::Transport { .. } => None,
        }
    }
}

/// The innermost cause of an error, which for a refused connection is the operating system's own words.
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// A connection to one engram server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    api_key: Option<String>,
}

impl Client {
    pub fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let base =
            Url::parse(&args.url).with_context(|| format!("invalid server URL {:?} (--url/ENGRAM_URL)", args.url))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            bail!("invalid server URL {:?} (--url/ENGRAM_URL): expected http://HOST:PORT", args.url);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("engram-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        let api_key = args.api_key.clone().filter(|key| !key.is_empty());
        Ok(Self { http, base, api_key })
    }

    /// The URL of `segments` under the base URL (each segment percent-encoded) with `query` pairs appended.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// A request with the API key attached.
    pub fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let request = self.http.request(method, url);
        match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// Sends `request` and returns the JSON body of a 2xx response (`Null` when empty).
    pub async fn send(&self, request: RequestBuilder) -> Result<Value, ClientError> {
        let (_, body) = self.send_with_headers(request).await?;
        Ok(body)
    }

    /// Like [`Client::send`], also returning the response headers.
    pub async fn send_with_headers(
        &self,
        request: RequestBuilder,
    ) -> Result<(reqwest::header::HeaderMap, Value), ClientError> {
        let (url, response) = self.execute(request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes =
            response.bytes().await.map_err(|e| ClientError::Transport { url: url.clone(), cause: root_cause(&e) })?;
        if status.is_success() {
            if bytes.is_empty() {
                return Ok((headers, Value::Null));
            }
            let body = serde_json::from_slice(&bytes).map_err(|e| ClientError::Transport {
                url,
                cause: format!("the server sent a response that is not JSON: {e}"),
            })?;
            return Ok((headers, body));
        }
        Err(api_error(status, &bytes))
    }

    /// Sends `request` and returns a 2xx response with its body unread (to stream it), or the error response.
    pub async fn open(&self, request: RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let (url, response) = self.execute(request).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| ClientError::Transport { url, cause: root_cause(&e) })?;
        Err(api_error(status, &bytes))
    }

    /// Sends `request`; the URL it went to (for messages) and the response, whatever its status.
    async fn execute(&self, request: RequestBuilder) -> Result<(String, reqwest::Response), ClientError> {
        let request =
            request.build().map_err(|e| ClientError::Transport { url: self.base.to_string(), cause: e.to_string() })?;
        let url = request.url().to_string();
        let response = self.http.execute(request).await.map_err(|e| {
            if e.is_connect() {
                ClientError::Connect { url: self.base.to_string(), cause: root_cause(&e) }
            } else {
                ClientError::Transport { url: url.clone(), cause: root_cause(&e) }
            }
        })?;
        Ok((url, response))
    }

    pub async fn get(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Value, ClientError> {
        self.send(self.request(Method::GET, self.url(segments, query))).await
    }

    /// Follows `next_cursor` until `max` items are collected or the list ends.
    pub async fn list_all(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        max: usize,
    ) -> Result<Vec<Value>, ClientError> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let limit = (max - items.len()).clamp(1, 1000).to_string();
            let mut pairs: Vec<(&str, &str)> = query.to_vec();
            pairs.push(("limit", &limit));
            if let Some(cursor) = &after {
                pairs.push(("after", cursor));
            }
            let page = self.get(segments, &pairs).await?;
            let page_items = page.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
            let got = page_items.len();
            items.extend(page_items.into_iter().take(max - items.len()));
            after = page.get("next_cursor").and_then(Value::as_str).map(str::to_owned);
            if after.is_none() || got == 0 || items.len() >= max {
                return Ok(items);
            }
        }
    }

    /// The id of the agent an argument names: an `agent_…` id as given, otherwise the one agent with that name.
    pub async fn resolve_agent(&self, agent: &str) -> anyhow::Result<String> {
        if AgentId::parse("agent", agent).is_ok() {
            return Ok(agent.to_owned());
        }
        let matches = self.list_all(&["v1", "agents"], &[("name", agent)], 10).await?;
        let ids: Vec<String> =
            matches.iter().filter_map(|a| a.get("id").and_then(Value::as_str)).map(str::to_owned).collect();
        match ids.as_slice() {
            [id] => Ok(id.clone()),
            [] => Err(anyhow!("no agent named {agent:?} (and it is not an agent id); see `engram agent list`")),
            _ => Err(anyhow!("{} agents are named {agent:?}; use an id instead: {}", ids.len(), ids.join(", "))),
        }
    }
}

/// Builds the error for a non-2xx response from the server's `{"error":{"code","message"}}` body, or from the status
/// alone when the body is something else (a proxy's HTML page, say).
fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_str);
    let message = error.and_then(|e| e.get("message")).and_then(Value::as_str);
    match (code, message) {
        (Some(code), Some(message)) => ClientError::Api { code: code.to_owned(), message: message.to_owned() },
        _ => ClientError::Api {
            code: format!("http_{}", status.as_u16()),
            message: format!("the server answered {status}"),
        },
    }
}

/// Reads text from a file, or standard input when `path` is `None`.
pub async fn read_input(path: Option<&std::path::Path>) -> anyhow::Result<String> {
    match path {
        Some(path) => tokio::fs::read_to_string(path).await.with_context(|| format!("cannot read {}", path.display())),
        // tokio's stdin needs a feature this workspace does not enable; a blocking read on the blocking pool is
        // the same thing for a whole-input read.
        None => tokio::task::spawn_blocking(|| std::io::read_to_string(std::io::stdin()))
            .await
            .context("cannot read standard input")?
            .context("cannot read standard input"),
    }
}
