//! Retries around any [`ChatModel`]: failures the provider may get over (429, 5xx, timeouts, transport) are tried
//! again after a delay, the provider's `Retry-After` when it gave one, else exponential backoff with full jitter.
//!
//! A streamed call is retried only while nothing has reached the caller's sink: once a fragment was forwarded, a
//! retry would show the client the start of the answer twice, so the error is returned instead and the runtime
//! decides. Failures before the first fragment (the common case: 429/5xx answer at once) are retried as usual.

use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use tokio::sync::mpsc;

use crate::chat::{ChatModel, ChatRequest, ChatResponse, DeltaSink};
use crate::error::LlmError;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so at most `max_retries + 1` calls).
    pub max_retries: u32,
    /// The backoff ceiling of the first retry; it doubles with each retry.
    pub base_delay: Duration,
    /// No wait is longer than this, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_retries: 3, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(20) }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0 for the first retry) after `error`: the provider's `Retry-After`
    /// capped at `max_delay`, else a uniformly random wait up to `min(max_delay, base_delay × 2^retry)` ("full
    /// jitter", so many clients that failed together do not come back together).
    pub fn delay(&self, retry: u32, error: &LlmError) -> Duration {
        if let Some(wait) = error.retry_after() {
            return wait.min(self.max_delay);
        }
        let ceiling = self.base_delay.saturating_mul(2u32.saturating_pow(retry)).min(self.max_delay);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }
}

/// A [`ChatModel`] that retries its inner model's retryable failures.
#[derive(Debug, Clone)]
pub struct Retrying<M> {
    inner: M,
    policy: RetryPolicy,
}

impl<M> Retrying<M> {
    pub fn new(inner: M, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    pub fn inner(&self) -> &M {
        &self.inner
    }
}

#[async_trait]
impl<M: ChatModel> ChatModel for Retrying<M> {
    async fn chat(&self, request: &ChatRequest, sink: Option<&DeltaSink>) -> Result<ChatResponse, LlmError> {
        let mut retry = 0;
        loop {
            let (result, forwarded) = match sink {
                Some(sink) => self.streamed(request, sink).await,
                None => (self.inner.chat(request, None).await, false),
            };
            let error = match result {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            if !error.is_retryable() || retry >= self.policy.max_retries || forwarded {
                return Err(error);
            }
            let delay = self.policy.delay(retry, &error);
            retry += 1;
            tracing::warn!(
                status = status_of(&error),
                attempt = retry,
                max_retries = self.policy.max_retries,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %error,
                "model call failed; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

impl<M: ChatModel> Retrying<M> {
    /// One streamed attempt through a relay channel, so we know whether any fragment reached the caller. Fragments
    /// are passed on as they arrive (the relay is polled alongside the call), then any left are drained.
    async fn streamed(&self, request: &ChatRequest, sink: &DeltaSink) -> (Result<ChatResponse, LlmError>, bool) {
        let (relay, mut relayed) = mpsc::unbounded_channel();
        let mut forwarded = false;
        let result = {
            let call = self.inner.chat(request, Some(&relay));
            let mut call = std::pin::pin!(call);
            loop {
                tokio::select! {
                    biased;
                    // `relay` lives until the end of this function, so `recv` never yields `None` here.
                    Some(delta) = relayed.recv() => {
                        forwarded = true;
                        let _ = sink.send(delta);
                    }
                    result = &mut call => break result,
                }
            }
        };
        while let Ok(delta) = relayed.try_recv() {
            forwarded = true;
            let _ = sink.send(delta);
        }
        (result, forwarded)
    }
}

/// The HTTP status behind an error, for logs.
fn status_of(error: &LlmError) -> Option<u16> {
    match error {
        LlmError::RateLimited { status, .. } | LlmError::Server { status, .. } | LlmError::Rejected { status, .. } => {
            Some(*status)
        }
        LlmError::ContextLength { .. }
        | LlmError::Timeout(_)
        | LlmError::Transport(_)
        | LlmError::Malformed(_)
        | LlmError::NotConfigured(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_honour_retry_after_and_stay_under_the_backoff_ceiling() {
        let policy = RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        let told = |secs| LlmError::RateLimited { status: 429, message: String::new(), retry_after: Some(secs) };
        assert_eq!(policy.delay(0, &told(Duration::from_millis(300))), Duration::from_millis(300));
        assert_eq!(policy.delay(0, &told(Duration::from_secs(60))), Duration::from_millis(1000));
        let server = LlmError::Server { status: 500, message: String::new(), retry_after: None };
        for _ in 0..50 {
            assert!(policy.delay(0, &server) <= Duration::from_millis(100));
            assert!(policy.delay(2, &server) <= Duration::from_millis(400));
            assert!(policy.delay(30, &server) <= Duration::from_millis(1000));
        }
    }
}
