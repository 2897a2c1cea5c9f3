//! What both provider clients need to report a failed call the same way: the error chain of a transport error,
//! error messages cut to a sane length, the `Retry-After` headers, recognising "prompt too long" wording, and
//! forwarding stream fragments to a sink that may have gone away.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

use crate::chat::{Delta, DeltaSink};

/// Error messages longer than this (in characters) are cut, so an HTML error page does not flood logs.
pub(crate) const MAX_ERROR_MESSAGE: usize = 500;

/// Wording providers and compatible servers use when the prompt does not fit (lower case).
const CONTEXT_LENGTH_WORDING: [&str; 7] = [
    "maximum context length",
    "maximum context",
    "context length",
    "context_length",
    "too many tokens",
    "prompt is too long",
    "context window",
];

/// The error and its sources, one line ("error sending request for url (…): …: Connection refused").
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
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
pub(crate) fn truncate(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_ERROR_MESSAGE) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// Whether an error message says the prompt does not fit the context window.
pub(crate) fn is_context_length(message: &str) -> bool {
    let message = message.to_lowercase();
    CONTEXT_LENGTH_WORDING.iter().any(|wording| message.contains(wording))
}

/// How long the server asked us to wait: `retry-after-ms` (OpenAI), else `Retry-After` in seconds or as an HTTP
/// date (a date in the past means now).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
    if let Some(millis) = header("retry-after-ms").and_then(|value| value.parse::<f64>().ok())
        && millis.is_finite()
        && millis >= 0.0
    {
        return Some(Duration::from_secs_f64(millis / 1000.0));
    }
    let value = header("retry-after")?;
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// Sends a fragment on; a receiver that has gone away is not the call's problem.
pub(crate) fn forward(sink: &DeltaSink, delta: Delta) {
    let _ = sink.send(delta);
}
