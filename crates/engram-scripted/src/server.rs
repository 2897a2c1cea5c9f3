//! The scripted server itself: binds 127.0.0.1:0, plays the script turn by turn, records requests and expectation
//! failures, and hands each reply to the wire module ([`crate::openai`] or [`crate::anthropic`]) to encode.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::embeddings::{self, EmbeddingScript};
use crate::script::{RecordedRequest, Reply, Turn, Wire};
use crate::{anthropic, openai};

/// Computes a reply from the request, for conversations too long to script turn by turn.
pub type Responder = Arc<dyn Fn(&RecordedRequest) -> Reply + Send + Sync>;

pub(crate) struct ScriptState {
    wire: Wire,
    turns: Mutex<VecDeque<Turn>>,
    repeat: Mutex<Option<Reply>>,
    responder: Mutex<Option<Responder>>,
    requests: Mutex<Vec<RecordedRequest>>,
    failures: Mutex<Vec<String>>,
    /// Numbers generated tool-call ids and message ids.
    pub(crate) ids: AtomicU64,
    /// `POST /v1/embeddings` (OpenAI wire only).
    pub(crate) embeddings: EmbeddingScript,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running scripted model server. Dropping it stops the server.
pub struct ScriptedModel {
    base_url: String,
    pub(crate) state: Arc<ScriptState>,
    _shutdown: oneshot::Sender<()>,
}

impl std::fmt::Debug for ScriptedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedModel").field("base_url", &self.base_url).finish()
    }
}

impl ScriptedModel {
    /// An OpenAI-compatible server (`POST {base_url}/chat/completions`, and `POST {base_url}/embeddings` with
    /// fake or scripted vectors, see [`crate::EmbeddingReply`]); `base_url` ends in `/v1`.
    pub async fn openai(turns: impl IntoIterator<Item = Turn>) -> Self {
        Self::start(Wire::OpenAi, turns).await
    }

    /// An Anthropic Messages server (`POST {base_url}/v1/messages`); `base_url` has no path.
    pub async fn anthropic(turns: impl IntoIterator<Item = Turn>) -> Self {
        Self::start(Wire::Anthropic, turns).await
    }

    async fn start(wire: Wire, turns: impl IntoIterator<Item = Turn>) -> Self {
        let state = Arc::new(ScriptState {
            wire,
            turns: Mutex::new(turns.into_iter().collect()),
            repeat: Mutex::new(None),
            responder: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
            ids: AtomicU64::new(0),
            embeddings: EmbeddingScript::default(),
        });
        let path = match wire {
            Wire::OpenAi => "/v1/chat/completions",
            Wire::Anthropic => "/v1/messages",
        };
        let mut app = Router::new().route(path, post(handle));
        if wire == Wire::OpenAi {
            app = app.route("/v1/embeddings", post(embeddings::handle));
        }
        let app = app.with_state(state.clone());
        #[allow(clippy::expect_used)] // Test support: failing to bind loopback is a broken machine.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        #[allow(clippy::expect_used)]
        let addr = listener.local_addr().expect("local address");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        let base_url = match wire {
            Wire::OpenAi => format!("http://{addr}/v1"),
            Wire::Anthropic => format!("http://{addr}"),
        };
        Self { base_url, state, _shutdown: tx }
    }

    /// The base URL to configure the provider with.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Appends a turn to the script.
    pub fn push(&self, turn: impl Into<Turn>) {
        lock(&self.state.turns).push_back(turn.into());
    }

    /// Once the script is exhausted, answer every request with `reply` (for benchmarks and load).
    pub fn repeat(&self, reply: Reply) {
        *lock(&self.state.repeat) = Some(reply);
    }

    /// Once the script is exhausted, answer each request with what `responder` computes from it.
    pub fn respond_with(&self, responder: impl Fn(&RecordedRequest) -> Reply + Send + Sync + 'static) {
        *lock(&self.state.responder) = Some(Arc::new(responder));
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// The last request received.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.state.requests).last().cloned()
    }

    /// Turns not yet played.
    pub fn remaining(&self) -> usize {
        lock(&self.state.turns).len()
    }

    /// Expectation failures and unexpected requests so far.
    pub fn failures(&self) -> Vec<String> {
        lock(&self.state.failures).clone()
    }

    /// Panics unless every turn was played and every expectation held.
    #[allow(clippy::panic)]
    pub fn assert_done(&self) {
        let failures = self.failures();
        assert!(failures.is_empty(), "scripted model expectations failed: {failures:#?}");
        let remaining = self.remaining();
        assert_eq!(remaining, 0, "{remaining} scripted turn(s) were never requested");
    }
}

async fn handle(
    State(state): State<Arc<ScriptState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let request = RecordedRequest {
        wire: state.wire,
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or("").to_owned()))
            .collect(),
        body,
    };
    lock(&state.requests).push(request.clone());
    let turn = lock(&state.turns).pop_front();
    let reply = match turn {
        Some(turn) => {
            let problems: Vec<String> = turn.expectations.iter().filter_map(|check| check(&request).err()).collect();
            if !problems.is_empty() {
                let message = format!("scripted expectation failed: {}", problems.join("; "));
                lock(&state.failures).push(message.clone());
                Reply::error(400, message)
            } else {
                turn.reply
            }
        }
        None => match (lock(&state.responder).clone(), lock(&state.repeat).clone()) {
            (Some(responder), _) => responder(&request),
            (None, Some(reply)) => reply,
            (None, None) => {
                let message = "scripted model: no turn left for this request".to_owned();
                lock(&state.failures).push(message.clone());
                Reply::error(400, message)
            }
        },
    };
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    match state.wire {
        Wire::OpenAi => openai::respond(&state, &reply, &request),
        Wire::Anthropic => anthropic::respond(&state, &reply, &request),
    }
}

impl ScriptState {
    /// The next generated id number.
    pub(crate) fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The usage a reply reports: scripted, or an estimate from the request size.
pub(crate) fn usage_of(reply: &Reply, request: &RecordedRequest) -> (u64, u64) {
    reply.usage.unwrap_or_else(|| {
        let prompt = request.text().len() as u64 / 4;
        let completion = match &reply.kind {
            crate::script::ReplyKind::Message { text, calls } => {
                (text.len() + calls.iter().map(|c| c.arguments.len() + c.name.len()).sum::<usize>()) as u64 / 4 + 1
            }
            _ => 0,
        };
        (prompt.max(1), completion)
    })
}
