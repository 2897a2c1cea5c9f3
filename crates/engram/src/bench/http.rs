//! The benchmarks' HTTP client side: one JSON request to the server under measurement, and a timed series of them.

use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::stats::Summary;

/// Requests of each kind sent before measuring, to warm connections and caches.
pub const WARM_UP: usize = 20;

/// The server under measurement.
pub struct Api<'a> {
    pub http: &'a reqwest::Client,
    pub base: String,
}

impl Api<'_> {
    /// One request; fails on a non-2xx answer. Returns the JSON body (`Null` when empty).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let (status, value) = self.request(method.clone(), path, body).await?;
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {value}");
        }
        Ok(value)
    }

    /// One request, whatever its status: the status and the JSON body (`Null` when empty, a string when not JSON).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let bytes = response.bytes().await.with_context(|| format!("{method} {path}"))?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Ok((status, value))
    }

    /// Sends `WARM_UP` unmeasured requests then `n` measured ones, made by `request(i)`, one after another, and
    /// times each from send to the last byte of the body.
    pub async fn timed(
        &self,
        n: usize,
        request: impl Fn(usize) -> (Method, String, Option<Value>),
    ) -> anyhow::Result<Summary> {
        let mut samples = Vec::with_capacity(n);
        for i in 0..WARM_UP + n {
            let (method, path, body) = request(i);
            let started = Instant::now();
            self.call(method, &path, body).await?;
            if i >= WARM_UP {
                samples.push(started.elapsed());
            }
        }
        Summary::of(&samples).ok_or_else(|| anyhow!("no samples"))
    }
}

/// The stable `code` of an engram error body (`{"error": {"code": …}}`), if the body is one.
pub fn error_code(body: &Value) -> Option<&str> {
    body.get("error")?.get("code")?.as_str()
}

/// Percent-encodes a query parameter value.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_everything_but_unreserved_characters() {
        assert_eq!(url_encode("When did Mel's kid-1 go?"), "When%20did%20Mel%27s%20kid-1%20go%3F");
        assert_eq!(url_encode("é"), "%C3%A9");
    }

    #[test]
    fn reads_error_codes() {
        let body = serde_json::json!({"error": {"code": "search_mode_unavailable", "message": "x"}});
        assert_eq!(error_code(&body), Some("search_mode_unavailable"));
        assert_eq!(error_code(&Value::Null), None);
    }
}
