//! Retries: which failures are tried again, how many times, and that a stream which already showed text is not
//! replayed.

// Test helpers outside `#[test]` functions fail loudly too; clippy's test allowance does not reach them.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use engram_llm::{
    ChatMessage, ChatModel, ChatRequest, ChatResponse, Delta, DeltaSink, FinishReason, LlmError, OpenAiClient,
    RetryPolicy, Retrying, ToolChoice,
};
use engram_scripted::{Reply, ScriptedModel};
use tokio::sync::mpsc;

/// Short waits, so the tests do not sleep for real.
const POLICY: RetryPolicy =
    RetryPolicy { max_retries: 3, base_delay: Duration::from_millis(1), max_delay: Duration::from_millis(20) };

fn retrying(model: &ScriptedModel) -> Retrying<OpenAiClient> {
    let client = OpenAiClient::new(model.base_url().to_owned(), None, Duration::from_secs(10), "openai").unwrap();
    Retrying::new(client, POLICY)
}

fn ask() -> ChatRequest {
    ChatRequest {
        model: "gpt-test".into(),
        system: "sys".into(),
        messages: vec![ChatMessage::User { content: "hi".into() }],
        tools: vec![],
        tool_choice: ToolChoice::Auto,
        max_tokens: None,
    }
}

#[tokio::test]
async fn a_rate_limit_then_success_is_retried_with_retry_after_capped() {
    let model =
        ScriptedModel::openai([Reply::error(429, "slow down").retry_after("30").into(), Reply::text("ok").into()])
            .await;
    let started = Instant::now();
    let answer = retrying(&model).chat(&ask(), None).await.unwrap();
    assert_eq!(answer.content, "ok");
    assert_eq!(model.requests().len(), 2);
    assert!(started.elapsed() < Duration::from_secs(5), "Retry-After: 30 is capped at max_delay");
    model.assert_done();
}

#[tokio::test]
async fn server_errors_give_up_after_max_retries() {
    let attempts = POLICY.max_retries as usize + 1;
    let model = ScriptedModel::openai((0..attempts).map(|_| Reply::error(500, "boom").into())).await;
    let error = retrying(&model).chat(&ask(), None).await.unwrap_err();
    assert!(matches!(error, LlmError::Server { status: 500, .. }), "{error:?}");
    assert_eq!(model.requests().len(), attempts);
    model.assert_done();
}

#[tokio::test]
async fn rejections_and_context_length_are_not_retried() {
    let model = ScriptedModel::openai([Reply::error(400, "bad request").into(), Reply::context_length().into()]).await;
    let error = retrying(&model).chat(&ask(), None).await.unwrap_err();
    assert!(matches!(error, LlmError::Rejected { status: 400, .. }), "{error:?}");
    assert_eq!(model.requests().len(), 1);
    let error = retrying(&model).chat(&ask(), None).await.unwrap_err();
    assert!(matches!(error, LlmError::ContextLength { .. }), "{error:?}");
    assert_eq!(model.requests().len(), 2);
    model.assert_done();
}

#[tokio::test]
async fn a_stream_that_fails_before_any_text_is_retried() {
    let model = ScriptedModel::openai([Reply::error(503, "busy").into(), Reply::text("second try").into()]).await;
    let (sink, mut deltas) = mpsc::unbounded_channel();
    let answer = retrying(&model).chat(&ask(), Some(&sink)).await.unwrap();
    assert_eq!(answer.content, "second try");
    let mut text = String::new();
    while let Ok(delta) = deltas.try_recv() {
        let Delta::Content(fragment) = delta else { panic!("unexpected {delta:?}") };
        text.push_str(&fragment);
    }
    assert_eq!(text, "second try");
    assert_eq!(model.requests().len(), 2);
}

/// One call of [`Flaky`]: text forwarded first (when streaming), then the answer's text or the error.
type Outcome = (Option<&'static str>, Result<&'static str, LlmError>);

/// A model that plays a fixed list of outcomes.
struct Flaky {
    outcomes: Mutex<Vec<Outcome>>,
    calls: Mutex<u32>,
}

impl Flaky {
    fn new(mut outcomes: Vec<Outcome>) -> Self {
        outcomes.reverse();
        Self { outcomes: Mutex::new(outcomes), calls: Mutex::new(0) }
    }

    fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }
}

#[async_trait]
impl ChatModel for Flaky {
    async fn chat(&self, _request: &ChatRequest, sink: Option<&DeltaSink>) -> Result<ChatResponse, LlmError> {
        *self.calls.lock().unwrap() += 1;
        let (partial, outcome) = self.outcomes.lock().unwrap().pop().unwrap();
        if let (Some(text), Some(sink)) = (partial, sink) {
            sink.send(Delta::Content(text.into())).unwrap();
            tokio::task::yield_now().await;
        }
        outcome.map(|text| ChatResponse {
            content: text.into(),
            reasoning: None,
            tool_calls: vec![],
            finish_reason: FinishReason::Stop,
            usage: None,
            model: None,
        })
    }
}

#[tokio::test]
async fn a_stream_that_already_showed_text_is_not_replayed() {
    let broke = LlmError::Transport("the stream broke off".into());
    let flaky = Retrying::new(Flaky::new(vec![(Some("Hel"), Err(broke.clone())), (None, Ok("Hello"))]), POLICY);
    let (sink, mut deltas) = mpsc::unbounded_channel();
    let error = flaky.chat(&ask(), Some(&sink)).await.unwrap_err();
    assert_eq!(error, broke);
    assert_eq!(flaky.inner().calls(), 1);
    assert_eq!(deltas.try_recv().unwrap(), Delta::Content("Hel".into()));
    assert!(deltas.try_recv().is_err());
}

#[tokio::test]
async fn timeouts_and_transport_failures_are_retried() {
    let flaky = Retrying::new(
        Flaky::new(vec![
            (None, Err(LlmError::Timeout(Duration::from_secs(1)))),
            (None, Err(LlmError::Transport("reset".into()))),
            (Some("fine"), Ok("fine")),
        ]),
        POLICY,
    );
    let (sink, mut deltas) = mpsc::unbounded_channel();
    let answer = flaky.chat(&ask(), Some(&sink)).await.unwrap();
    assert_eq!(answer.content, "fine");
    assert_eq!(flaky.inner().calls(), 3);
    assert_eq!(deltas.try_recv().unwrap(), Delta::Content("fine".into()), "deltas of the good attempt pass through");
}
