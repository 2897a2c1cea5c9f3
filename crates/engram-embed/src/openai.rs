//! The OpenAI-compatible embeddings client (`POST {base_url}/embeddings`), used for OpenAI itself and for servers
//! that copy its wire format (Ollama, vLLM, llama.cpp, LM Studio …). It sends at most [`MAX_INPUTS_PER_REQUEST`]
//! texts per request, puts the vectors back in input order by their `index`, checks that every vector has the
//! model's dimension (configured, known, or learned from the first answer), normalises them, and classifies HTTP
//! failures into [`EmbedError`], retrying a 429 or 5xx at most [`MAX_RETRIES`] times.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::embedder::{Embedder, normalize};
use crate::error::EmbedError;

/// Most texts in one request (OpenAI accepts up to 2048; smaller requests keep each call well inside a timeout).
pub const MAX_INPUTS_PER_REQUEST: usize = 512;
/// Retries after a 429 or 5xx before the error is returned.
pub const MAX_RETRIES: u32 = 2;
/// First wait before a retry when the provider names none; doubled for the next.
const RETRY_BASE_DELAY: Duration = Duration::from_millis(500);
/// Longest wait before a retry, whatever `Retry-After` asks.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(20);
/// Longest wait for a TCP (and TLS) connection, whatever the call timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Error messages longer than this (in characters) are cut, so an HTML error page does not flood logs.
const MAX_ERROR_MESSAGE: usize = 500;
/// Wording providers use when an input is longer than the model accepts (lower case).
const TOO_LONG_WORDING: [&str; 4] = ["maximum context length", "context length", "too many tokens", "too long"];

/// The dimension of OpenAI's embedding models, by wire name.
pub(crate) fn known_dimensions(model: &str) -> Option<usize> {
    match model {
        "text-embedding-3-small" | "text-embedding-ada-002" => Some(1536),
        "text-embedding-3-large" => Some(3072),
        _ => None,
    }
}

/// One embedding model behind an OpenAI-compatible endpoint.
pub struct OpenAiEmbedder {
    http: reqwest::Client,
    endpoint: String,
    api_key: Option<String>,
    timeout: Duration,
    /// `provider/model`, as [`Embedder::model`] reports it.
    name: String,
    /// The model as the provider names it (the part after `provider/`).
    wire_model: String,
    /// 0 until known.
    dimensions: AtomicUsize,
}

impl std::fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is never printed, only whether there is one.
        f.debug_struct("OpenAiEmbedder")
            .field("model", &self.name)
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("dimensions", &self.dimensions())
            .finish()
    }
}

#[derive(Serialize)]
struct EmbeddingRequest<'a> {
    model: &'a str,
    input: &'a [String],
    encoding_format: &'static str,
}

#[derive(Deserialize)]
struct EmbeddingResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    index: usize,
    embedding: Vec<f32>,
}

impl OpenAiEmbedder {
    /// A client for `wire_model` at `base_url` (such as `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`;
    /// a trailing `/` is ignored), reporting itself as `provider/wire_model`. `api_key`, when set, is sent as
    /// `Authorization: Bearer`; `timeout` bounds each request. The dimension is OpenAI's for its known models and
    /// learned from the first answer otherwise (see [`Self::with_dimensions`]).
    pub fn new(
        provider: &str,
        wire_model: &str,
        base_url: &str,
        api_key: Option<String>,
        timeout: Duration,
    ) -> Result<Self, EmbedError> {
        let http = reqwest::Client::builder()
            .tls_backend_rustls()
            .connect_timeout(timeout.min(CONNECT_TIMEOUT))
            .build()
            .map_err(|error| EmbedError::Transport(format!("could not build the HTTP client: {error}")))?;
        Ok(Self {
            http,
            endpoint: format!("{}/embeddings", base_url.trim_end_matches('/')),
            api_key,
            timeout,
            name: format!("{provider}/{wire_model}"),
            wire_model: wire_model.to_owned(),
            dimensions: AtomicUsize::new(known_dimensions(wire_model).unwrap_or(0)),
        })
    }

    /// Expects vectors of `dimensions` (a mismatch is [`EmbedError::Dimension`]) instead of learning it.
    pub fn with_dimensions(self, dimensions: usize) -> Self {
        self.dimensions.store(dimensions, Ordering::Relaxed);
        self
    }

    /// One request, retried on 429/5xx.
    async fn embed_chunk(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut attempt = 0;
        loop {
            match self.request(texts).await {
                Err(error) if attempt < MAX_RETRIES && is_retried(&error) => {
                    let delay =
                        error.retry_after().unwrap_or(RETRY_BASE_DELAY * 2u32.pow(attempt)).min(MAX_RETRY_DELAY);
                    tracing::warn!(model = %self.name, %error, ?delay, "embedding request failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn request(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let body = EmbeddingRequest { model: &self.wire_model, input: texts, encoding_format: "float" };
        let mut builder = self.http.post(&self.endpoint).json(&body).timeout(self.timeout);
        if let Some(key) = &self.api_key {
            builder = builder.bearer_auth(key);
        }
        let response = builder.send().await.map_err(|error| self.transport_error(&error))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            let text = response.text().await.unwrap_or_default();
            return Err(self.classify(status.as_u16(), &text, retry_after));
        }
        let bytes = response.bytes().await.map_err(|error| self.transport_error(&error))?;
        let answer: EmbeddingResponse = serde_json::from_slice(&bytes).map_err(|error| {
            EmbedError::Malformed(format!("not an embeddings response ({error}): {}", excerpt(&bytes)))
        })?;
        self.vectors(answer, texts.len())
    }

    /// The vectors of `answer` in input order, checked and normalised.
    fn vectors(&self, answer: EmbeddingResponse, expected_count: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        if answer.data.len() != expected_count {
            return Err(EmbedError::Malformed(format!("{} vectors for {expected_count} inputs", answer.data.len())));
        }
        let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected_count];
        for item in answer.data {
            let slot = slots.get_mut(item.index).ok_or_else(|| {
                EmbedError::Malformed(format!("vector index {} out of range for {expected_count} inputs", item.index))
            })?;
            if slot.replace(item.embedding).is_some() {
                return Err(EmbedError::Malformed(format!("vector index {} appears twice", item.index)));
            }
        }
        // Every slot is filled: as many items as slots, each index in range and none twice.
        let mut vectors: Vec<Vec<f32>> = slots.into_iter().flatten().collect();
        let expected = match self.dimensions() {
            0 => vectors.first().map(Vec::len).unwrap_or(0),
            known => known,
        };
        if let Some(wrong) = vectors.iter().find(|vector| vector.len() != expected || vector.is_empty()) {
            return Err(EmbedError::Dimension { model: self.name.clone(), expected, got: wrong.len() });
        }
        // Learn the dimension once; a concurrent call that learned another one would have failed the check above
        // on its next request.
        let _ = self.dimensions.compare_exchange(0, expected, Ordering::Relaxed, Ordering::Relaxed);
        for vector in &mut vectors {
            normalize(vector);
        }
        Ok(vectors)
    }

    fn transport_error(&self, error: &reqwest::Error) -> EmbedError {
        if error.is_timeout() {
            EmbedError::Timeout(self.timeout)
        } else {
            // reqwest's error text names the URL but never the headers, so the key cannot leak here.
            EmbedError::Transport(format!("{}: {}", self.name, error_chain(error)))
        }
    }

    /// The error for a non-2xx answer, with the provider's own message.
    fn classify(&self, status: u16, body: &str, retry_after: Option<Duration>) -> EmbedError {
        let message = provider_message(body);
        match status {
            429 => EmbedError::RateLimited { status, message, retry_after },
            500..=599 => EmbedError::Server { status, message, retry_after },
            400 | 413 if is_too_long(&message) => EmbedError::InputTooLarge { model: self.name.clone(), message },
            _ => EmbedError::Rejected { status, message },
        }
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.name
    }

    fn dimensions(&self) -> usize {
        self.dimensions.load(Ordering::Relaxed)
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(MAX_INPUTS_PER_REQUEST) {
            vectors.extend(self.embed_chunk(chunk).await?);
        }
        Ok(vectors)
    }
}

fn is_retried(error: &EmbedError) -> bool {
    matches!(error, EmbedError::RateLimited { .. } | EmbedError::Server { .. })
}

fn is_too_long(message: &str) -> bool {
    let message = message.to_lowercase();
    TOO_LONG_WORDING.iter().any(|wording| message.contains(wording))
}

/// The provider's error message: OpenAI's `{"error":{"message":…}}`, Ollama's `{"error":"…"}`, else the body text
/// (cut), else a placeholder.
fn provider_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body).ok().and_then(|value| {
        let error = &value["error"];
        error["message"].as_str().or_else(|| error.as_str()).or_else(|| value["message"].as_str()).map(str::to_owned)
    });
    let message = from_json.unwrap_or_else(|| body.trim().to_owned());
    if message.is_empty() { "(no error message)".to_owned() } else { truncate(message) }
}

/// The error and its sources, one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Cuts `text` to [`MAX_ERROR_MESSAGE`] characters, marking the cut.
fn truncate(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_ERROR_MESSAGE) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// The start of a body, for error messages.
fn excerpt(bytes: &[u8]) -> String {
    truncate(String::from_utf8_lossy(bytes).into_owned())
}

/// How long the server asked us to wait: `retry-after-ms` (OpenAI), else `Retry-After` in seconds. (An HTTP date
/// is treated as absent: the backoff applies.)
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
    let seconds = match header("retry-after-ms").and_then(|value| value.parse::<f64>().ok()) {
        Some(millis) => millis / 1000.0,
        None => header("retry-after")?.parse::<f64>().ok()?,
    };
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_messages_are_read_from_each_shape() {
        assert_eq!(provider_message(r#"{"error":{"message":"bad key","type":"x"}}"#), "bad key");
        assert_eq!(provider_message(r#"{"error":"model not found"}"#), "model not found");
        assert_eq!(provider_message("  gateway down "), "gateway down");
        assert_eq!(provider_message(""), "(no error message)");
        assert!(provider_message(&"x".repeat(2000)).chars().count() <= MAX_ERROR_MESSAGE + 1);
    }

    #[test]
    fn known_models_have_known_dimensions() {
        assert_eq!(known_dimensions("text-embedding-3-small"), Some(1536));
        assert_eq!(known_dimensions("text-embedding-3-large"), Some(3072));
        assert_eq!(known_dimensions("text-embedding-ada-002"), Some(1536));
        assert_eq!(known_dimensions("nomic-embed-text"), None);
    }
}
