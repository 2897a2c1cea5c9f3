//! Running agents: `POST /v1/agents/{agent_id}/messages` (JSON or server-sent events), the asynchronous variant,
//! and `GET /v1/runs/{run_id}` / `POST /v1/runs/{run_id}/cancel`.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use engram_core::id::RunId;
use engram_core::run::StopReason;
use engram_runtime::{DeltaKind, RunEvent, RunHandle, RunSummary};
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

use crate::api::path;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::wire::common::ErrorResponse;
use crate::wire::message::MessageBody;
use crate::wire::run::{AsyncRunResponse, RunBody, RunResponse, SendMessagesRequest, UsageBody};

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|t| t.trim().starts_with("text/event-stream")))
}

/// Send user messages and run the agent until it replies. With `"stream": true` (or `Accept: text/event-stream`)
/// the reply is a stream of server-sent events: `message`, `delta`, then `done` (or `error`).
#[utoipa::path(post, path = "/v1/agents/{agent_id}/messages", tag = "messages", request_body = SendMessagesRequest,
    params(("agent_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, body = RunResponse, description = "The run's messages, stop reason and usage (or an SSE stream)"),
        (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 409, body = ErrorResponse, description = "agent_busy"),
        (status = 422, body = ErrorResponse, description = "no_model, model_provider_unavailable"),
        (status = 502, body = ErrorResponse, description = "upstream_error: the model provider failed")))]
pub async fn send_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SendMessagesRequest>,
) -> ApiResult<Response> {
    let agent = path::agent_id(&agent_id)?;
    let request = req.into_domain(state.runtime.config().max_steps_limit, wants_stream(&headers))?;
    let stream = request.stream;
    let handle = state.runtime.send(&caller.write_ctx(), agent, request).await?;
    if stream {
        return Ok(Sse::new(sse_events(handle)).keep_alive(KeepAlive::default()).into_response());
    }
    let (summary, messages) = collect(handle).await?;
    if summary.stop_reason == StopReason::LlmError {
        return Err(ApiError::Upstream {
            message: summary.error.clone().unwrap_or_else(|| "the model provider failed".to_owned()),
            run_id: summary.run_id.to_string(),
            provider_status: summary.provider_status,
        });
    }
    Ok(Json(RunResponse::new(&summary, messages)).into_response())
}

/// Waits for the run's end, keeping the messages it created.
async fn collect(mut handle: RunHandle) -> ApiResult<(RunSummary, Vec<MessageBody>)> {
    let mut messages = Vec::new();
    while let Some(event) = handle.events.recv().await {
        match event {
            RunEvent::Message(message) => messages.push(MessageBody::from(message)),
            RunEvent::Delta { .. } => {}
            RunEvent::Done(summary) => return Ok((summary, messages)),
            RunEvent::Failed { message, storage_unavailable } => {
                return Err(ApiError::RunFailed { message, storage_unavailable });
            }
        }
    }
    Err(ApiError::Internal(format!("run {} ended without reporting", handle.run_id)))
}

fn data(value: &Value) -> Result<Event, Infallible> {
    Ok(Event::default().data(value.to_string()))
}

/// The run's events as SSE `data:` records. The run continues if the client goes away.
fn sse_events(handle: RunHandle) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    let run_id = handle.run_id.to_string();
    futures::stream::unfold((handle, run_id, false), |(mut handle, run_id, finished)| async move {
        if finished {
            return None;
        }
        let event = handle.events.recv().await;
        let (values, finished) = match event {
            Some(RunEvent::Message(message)) => {
                (vec![json!({"type": "message", "message": MessageBody::from(message)})], false)
            }
            Some(RunEvent::Delta { step_id, kind, text }) => {
                let field = match kind {
                    DeltaKind::Content => "content",
                    DeltaKind::Reasoning => "reasoning",
                };
                (vec![json!({"type": "delta", "run_id": run_id, "step_id": step_id.to_string(), field: text})], false)
            }
            Some(RunEvent::Done(summary)) => {
                let mut values = Vec::new();
                if summary.stop_reason == StopReason::LlmError {
                    let message = summary.error.clone().unwrap_or_default();
                    values.push(json!({"type": "error", "error": {"code": "upstream_error", "message": message}}));
                }
                let mut done = json!({
                    "type": "done",
                    "run_id": run_id,
                    "stop_reason": summary.stop_reason.as_str(),
                    "usage": UsageBody::new(summary.usage, summary.steps),
                });
                if let Some(error) = &summary.error {
                    done["error"] = json!(error);
                }
                values.push(done);
                (values, true)
            }
            Some(RunEvent::Failed { storage_unavailable, .. }) => {
                let (code, message) = if storage_unavailable {
                    ("storage_unavailable", "storage is unavailable; the run was stopped")
                } else {
                    ("internal_error", "the run failed inside engram; it was stopped")
                };
                (vec![json!({"type": "error", "error": {"code": code, "message": message}})], true)
            }
            None => {
                let message = "the run ended without reporting";
                (vec![json!({"type": "error", "error": {"code": "internal_error", "message": message}})], true)
            }
        };
        let events: Vec<Result<Event, Infallible>> = values.iter().map(data).collect();
        Some((futures::stream::iter(events), (handle, run_id, finished)))
    })
    .flatten()
}

/// Queue the messages and return at once; poll `GET /v1/runs/{run_id}` for the outcome.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/messages/async", tag = "runs", request_body = SendMessagesRequest,
    params(("agent_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 202, body = AsyncRunResponse), (status = 400, body = ErrorResponse),
        (status = 404, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub async fn send_messages_async(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent_id): Path<String>,
    ApiJson(req): ApiJson<SendMessagesRequest>,
) -> ApiResult<(StatusCode, Json<AsyncRunResponse>)> {
    let agent = path::agent_id(&agent_id)?;
    if req.stream == Some(true) {
        return Err(engram_core::ValidationError::new("stream", "asynchronous runs cannot stream; poll the run").into());
    }
    let request = req.into_domain(state.runtime.config().max_steps_limit, false)?;
    let run = state.runtime.send_async(&caller.write_ctx(), agent, request).await?;
    Ok((StatusCode::ACCEPTED, Json(AsyncRunResponse { run_id: run.id.to_string() })))
}

fn run_id(text: &str) -> Result<RunId, ApiError> {
    RunId::parse("run_id", text).map_err(|_| ApiError::not_found("run", text))
}

/// A run: status, stop reason, usage and steps.
#[utoipa::path(get, path = "/v1/runs/{run_id}", tag = "runs", params(("run_id" = String, Path)),
    responses((status = 200, body = RunBody), (status = 404, body = ErrorResponse)))]
pub async fn get_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<RunBody>> {
    let run = state.runtime.get_run(&caller.org, run_id(&id)?).await?;
    Ok(Json(run.into()))
}

/// Cancel a run: a queued run ends at once, a running one before its next step. Cancelling a finished run changes
/// nothing.
#[utoipa::path(post, path = "/v1/runs/{run_id}/cancel", tag = "runs", params(("run_id" = String, Path)),
    responses((status = 200, body = RunBody), (status = 404, body = ErrorResponse)))]
pub async fn cancel_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<RunBody>> {
    let run = state.runtime.cancel(&caller.org, run_id(&id)?).await?;
    Ok(Json(run.into()))
}
