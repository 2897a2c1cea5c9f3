//! The agent loop of one run: compile the context, page it if it is full, call the model, persist the step, run the
//! tools it asked for, and repeat until the model replies, a terminal tool runs, a limit is hit or the run is
//! cancelled. Every step's messages are durable before the next step starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use engram_core::agent::Agent;
use engram_core::audit::{Actor, ActorKind, WriteContext};
use engram_core::id::{AgentId, RunId, StepId};
use engram_core::message::{Message, NewMessage, Role, ToolCall, ToolStatus};
use engram_core::org::OrgId;
use engram_core::run::{NewStep, RunOutcome, RunStatus, StopReason, Usage};
use engram_llm::{ChatModel, ChatResponse, Delta, LlmError};
use engram_store::StoreError;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::compaction::{EVICT_FRACTIONS, choose_eviction, summarise, summary_text};
use crate::context::{Compiled, counter_for};
use crate::error::RuntimeError;
use crate::events::{DeltaKind, RunEvent, RunSummary};
use crate::runtime::{Inner, user_messages};
use crate::tools::{self, Builtin, ToolEnv};

/// The notice added when the window passes the warning threshold. Stored as a system message.
const WARNING_NOTICE: &str = "The context window is filling up. Older messages will soon be moved out of the window \
into recall memory (still searchable with conversation_search). Save anything important to core memory or archival \
memory now.";

/// Everything a run needs.
pub(crate) struct RunJob {
    pub inner: Arc<Inner>,
    pub org: OrgId,
    pub agent: AgentId,
    pub run_id: RunId,
    /// The caller's provenance (for the user messages), with the run id set.
    pub caller: WriteContext,
    pub inputs: Vec<String>,
    /// Set when the run was created running with its input messages already appended (these).
    pub started: Option<Vec<Message>>,
    /// The agent as read when the run was created, used by the first step of a run that did not wait.
    pub agent_snapshot: Option<Agent>,
    pub max_steps: u32,
    pub stream: bool,
    pub events: Option<mpsc::UnboundedSender<RunEvent>>,
    pub cancel: Arc<AtomicBool>,
    pub model: Arc<dyn ChatModel>,
}

/// How the loop ended.
struct Ending {
    stop_reason: StopReason,
    error: Option<String>,
    provider_status: Option<u16>,
    /// The run was already ended in the store together with its last step.
    recorded: bool,
}

impl Ending {
    fn with(stop_reason: StopReason) -> Self {
        Self { stop_reason, error: None, provider_status: None, recorded: false }
    }

    /// The run's final status for this ending.
    fn outcome(&self) -> RunOutcome {
        let status = match self.stop_reason {
            StopReason::Cancelled => RunStatus::Cancelled,
            StopReason::LlmError | StopReason::ContextOverflow => RunStatus::Failed,
            _ => RunStatus::Completed,
        };
        RunOutcome { status, stop_reason: Some(self.stop_reason), error: self.error.clone() }
    }

    fn llm(error: &LlmError) -> Self {
        let provider_status = match error {
            LlmError::RateLimited { status, .. }
            | LlmError::Server { status, .. }
            | LlmError::Rejected { status, .. } => Some(*status),
            _ => None,
        };
        Self { stop_reason: StopReason::LlmError, error: Some(error.to_string()), provider_status, recorded: false }
    }
}

struct Loop {
    job: RunJob,
    usage: Usage,
    steps: u32,
    /// The last failed call (name and arguments) and how many times in a row it failed.
    last_failure: Option<(String, String, u32)>,
}

/// Runs the job to its end and reports it. Never panics; a storage failure marks the run failed.
pub(crate) async fn execute(job: RunJob) {
    let store = job.inner.store.clone();
    let (org, run_id) = (job.org.clone(), job.run_id);
    let events = job.events.clone();
    let retrieval = job.inner.retrieval.clone();
    let mut state = Loop { job, usage: Usage::default(), steps: 0, last_failure: None };
    let result = state.run().await;
    // The run's messages are stored; embed them in the background.
    retrieval.wake_indexer();
    match result {
        Ok(Some(ending)) => {
            let finished = match ending.recorded {
                true => Ok(()),
                false => store.finish_run(&org, run_id, ending.outcome()).await.map(drop),
            };
            let summary = RunSummary {
                run_id,
                stop_reason: ending.stop_reason,
                usage: state.usage,
                steps: state.steps,
                error: ending.error,
                provider_status: ending.provider_status,
            };
            match finished {
                Ok(_) => emit(&events, RunEvent::Done(summary)),
                Err(error) => fail(&events, &error),
            }
        }
        // Cancelled while queued: the store already ended it.
        Ok(None) => {
            let summary = RunSummary {
                run_id,
                stop_reason: StopReason::Cancelled,
                usage: Usage::default(),
                steps: 0,
                error: None,
                provider_status: None,
            };
            emit(&events, RunEvent::Done(summary));
        }
        Err(error) => {
            tracing::error!(%run_id, %error, "a run failed in storage");
            let outcome = RunOutcome { status: RunStatus::Failed, stop_reason: None, error: Some(error.to_string()) };
            let _ = store.finish_run(&org, run_id, outcome).await;
            fail(&events, &error);
        }
    }
}

fn emit(events: &Option<mpsc::UnboundedSender<RunEvent>>, event: RunEvent) {
    if let Some(events) = events {
        // A client that went away does not stop the run.
        let _ = events.send(event);
    }
}

fn fail(events: &Option<mpsc::UnboundedSender<RunEvent>>, error: &StoreError) {
    let unavailable = matches!(error, StoreError::Unavailable(_));
    emit(events, RunEvent::Failed { message: error.to_string(), storage_unavailable: unavailable });
}

impl Loop {
    fn agent_ctx(&self, step: Option<StepId>) -> WriteContext {
        WriteContext {
            org: self.job.org.clone(),
            actor: Actor { kind: ActorKind::Agent, id: self.job.agent.to_string() },
            run_id: Some(self.job.run_id),
            step_id: step,
            request_id: self.job.caller.request_id.clone(),
        }
    }

    fn emit_all(&self, messages: Vec<Message>) {
        for message in messages {
            emit(&self.job.events, RunEvent::Message(message));
        }
    }

    fn cancelled(&self) -> bool {
        self.job.cancel.load(Ordering::SeqCst)
    }

    /// `Ok(None)` when the run had been cancelled before it could start.
    async fn run(&mut self) -> Result<Option<Ending>, StoreError> {
        let store = self.job.inner.store.clone();
        let appended = match self.job.started.take() {
            Some(appended) => appended,
            None => {
                let inputs = user_messages(&self.job.inputs);
                match store.start_run(&self.job.caller, self.job.run_id, inputs).await {
                    Ok((_, appended)) => appended,
                    Err(StoreError::VersionConflict { .. }) => return Ok(None),
                    Err(error) => return Err(error),
                }
            }
        };
        self.emit_all(appended);

        loop {
            // A cancellation through this process sets the flag; one recorded in the store by another process is
            // seen before every step after the first (the run was just claimed before the first).
            let mut recorded_cancel = false;
            if self.steps > 0 {
                let current = store.get_run(&self.job.org, self.job.run_id).await?;
                // Another process took this run for one its owner left behind (this process lost the database
                // for a while): it has been ended there, so stop here without writing more.
                if current.status.is_finished() {
                    return Ok(Some(Ending {
                        error: Some("this run was ended by another engram process while this one was away".to_owned()),
                        recorded: true,
                        ..Ending::with(StopReason::Cancelled)
                    }));
                }
                recorded_cancel = current.cancel_requested;
            }
            if self.cancelled() || recorded_cancel {
                return Ok(Some(Ending::with(StopReason::Cancelled)));
            }
            if self.steps >= self.job.max_steps {
                return Ok(Some(Ending::with(StopReason::MaxSteps)));
            }
            if let Some(ending) = self.step().await? {
                return Ok(Some(ending));
            }
        }
    }

    /// One step. `Some` ends the run.
    async fn step(&mut self) -> Result<Option<Ending>, StoreError> {
        let inner = self.job.inner.clone();
        let store = inner.store.clone();
        let org = self.job.org.clone();
        // Compaction changes the window, not the agent: a recompile after it reuses this read.
        let agent = match self.job.agent_snapshot.take() {
            Some(agent) => agent,
            None => store.get_agent(&org, self.job.agent).await?,
        };
        let mut compiled = inner.compiler().compile(&org, &agent).await?;
        let window = u64::from(agent.config.context_window);

        if compiled.fixed_tokens() > window {
            return Ok(Some(overflow(&compiled)));
        }
        let compact_at = (window as f64 * inner.config.compact_ratio) as u64;
        let warn_at = (window as f64 * inner.config.warn_ratio) as u64;
        if compiled.breakdown.total_tokens >= compact_at {
            match self.compact(&agent, &compiled, 0).await? {
                Ok(_) => {
                    compiled = inner.compiler().compile(&org, &agent).await?;
                }
                Err(ending) => return Ok(Some(ending)),
            }
        } else if compiled.breakdown.total_tokens >= warn_at && !warned_since_compaction(&compiled) {
            let notice = NewMessage { run_id: Some(self.job.run_id), ..NewMessage::text(Role::System, WARNING_NOTICE) };
            let appended = store.append_messages(&self.agent_ctx(None), self.job.agent, vec![notice]).await?;
            self.emit_all(appended);
            compiled = inner.compiler().compile(&org, &agent).await?;
        }

        let step_id = StepId::from_ulid(ulid::Ulid::new());
        let started = Instant::now();
        let mut level = 0;
        let response = loop {
            match self.call(step_id, &compiled).await {
                Ok(response) => break response,
                Err(LlmError::ContextLength { .. }) if level + 1 < EVICT_FRACTIONS.len() => {
                    level += 1;
                    match self.compact(&agent, &compiled, level).await? {
                        Ok(_) => {
                            compiled = inner.compiler().compile(&org, &agent).await?;
                        }
                        Err(ending) => return Ok(Some(ending)),
                    }
                }
                Err(error) => return Ok(Some(Ending::llm(&error))),
            }
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        self.steps += 1;

        let counter = counter_for(&agent);
        let usage = match response.usage {
            Some(u) => Usage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens },
            None => Usage {
                prompt_tokens: compiled.breakdown.total_tokens,
                completion_tokens: counter.count(&response.content)
                    + response
                        .tool_calls
                        .iter()
                        .map(|c| counter.count(&c.arguments) + counter.count(&c.name))
                        .sum::<u64>(),
            },
        };
        self.usage += usage;
        let calls: Vec<ToolCall> = response
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, call)| ToolCall {
                id: if call.id.is_empty() { format!("call_{step_id}_{i}") } else { call.id.clone() },
                name: call.name.clone(),
                arguments: parse_arguments(&call.arguments),
            })
            .collect();
        let assistant = NewMessage {
            run_id: Some(self.job.run_id),
            step_id: Some(step_id),
            reasoning: response.reasoning.clone().filter(|r| !r.is_empty()),
            tool_calls: calls.clone(),
            ..NewMessage::text(Role::Assistant, response.content.clone())
        };
        let model_name = response.model.clone().unwrap_or_else(|| compiled.request.model.clone());
        let step = NewStep { id: step_id, run_id: self.job.run_id, model: model_name, usage, duration_ms };
        // A reply without tool calls ends the run: the step and the run's end commit together.
        let ending = calls.is_empty().then(|| Ending { recorded: true, ..Ending::with(StopReason::EndTurn) });
        let finish = ending.as_ref().map(Ending::outcome);
        let ctx = self.agent_ctx(Some(step_id));
        let recorded = store.record_step(&ctx, self.job.agent, step, vec![assistant], finish).await?;
        self.emit_all(recorded);
        if ending.is_some() {
            return Ok(ending);
        }

        let retrieval = self.job.inner.retrieval.clone();
        let env = ToolEnv { store: store.as_ref(), retrieval: &retrieval, ctx: &ctx, agent: self.job.agent };
        let mut terminal = false;
        let mut stuck = false;
        // Independent reads run concurrently; anything that writes runs in order, each result durable before the
        // next call.
        let all_reads = calls.len() > 1
            && calls
                .iter()
                .all(|c| Builtin::parse(&c.name).is_some_and(|t| t.is_read_only() && compiled.tools.contains(&t)));
        let mut concurrent = match all_reads {
            true => {
                let reads = response
                    .tool_calls
                    .iter()
                    .map(|raw| tools::execute(&env, &compiled.tools, &raw.name, &raw.arguments));
                Some(futures::future::join_all(reads).await.into_iter())
            }
            false => None,
        };
        for (call, raw) in calls.iter().zip(&response.tool_calls) {
            let mut outcome = match concurrent.as_mut().and_then(Iterator::next) {
                Some(outcome) => outcome,
                None => tools::execute(&env, &compiled.tools, &call.name, &raw.arguments).await,
            };
            outcome.content = fit_result(outcome.content, agent.config.context_window);
            terminal |= outcome.terminal;
            stuck |= self.track_failure(&call.name, &raw.arguments, outcome.status);
            let result = NewMessage {
                run_id: Some(self.job.run_id),
                step_id: Some(step_id),
                tool_call_id: Some(call.id.clone()),
                tool_status: Some(outcome.status),
                ..NewMessage::text(Role::Tool, outcome.content)
            };
            let appended = store.append_messages(&ctx, self.job.agent, vec![result]).await?;
            self.emit_all(appended);
        }
        if terminal {
            return Ok(Some(Ending::with(StopReason::TerminalTool)));
        }
        if stuck {
            return Ok(Some(Ending::with(StopReason::NoProgress)));
        }
        Ok(None)
    }

    /// Calls the model, forwarding streamed text as delta events when the client asked for a stream.
    async fn call(&self, step_id: StepId, compiled: &Compiled) -> Result<ChatResponse, LlmError> {
        let Some(events) = self.job.events.clone().filter(|_| self.job.stream) else {
            return self.job.model.chat(&compiled.request, None).await;
        };
        let (sink, mut deltas) = mpsc::unbounded_channel::<Delta>();
        let forward = tokio::spawn(async move {
            while let Some(delta) = deltas.recv().await {
                let (kind, text) = match delta {
                    Delta::Content(text) => (DeltaKind::Content, text),
                    Delta::Reasoning(text) => (DeltaKind::Reasoning, text),
                };
                let _ = events.send(RunEvent::Delta { step_id, kind, text });
            }
        });
        let response = self.job.model.chat(&compiled.request, Some(&sink)).await;
        drop(sink);
        let _ = forward.await;
        response
    }

    /// Records a tool outcome for the `no_progress` breaker; true when the same failing call hit the limit.
    fn track_failure(&mut self, name: &str, arguments: &str, status: ToolStatus) -> bool {
        if status == ToolStatus::Ok {
            self.last_failure = None;
            return false;
        }
        let repeats = match &self.last_failure {
            Some((n, a, count)) if n == name && a.trim() == arguments.trim() => count + 1,
            _ => 1,
        };
        self.last_failure = Some((name.to_owned(), arguments.to_owned(), repeats));
        repeats >= self.job.inner.config.no_progress_repeats
    }

    /// Compacts the window at `level`. `Ok(Err(ending))` ends the run (the summariser failed, or nothing could be
    /// evicted from a window that does not fit).
    async fn compact(
        &mut self,
        agent: &Agent,
        compiled: &Compiled,
        level: usize,
    ) -> Result<Result<(), Ending>, StoreError> {
        let ctx = self.agent_ctx(None);
        match compact_window(&self.job.inner, &ctx, agent, self.job.model.as_ref(), compiled, level).await {
            Ok(Some((summary, _))) => {
                self.emit_all(vec![summary]);
                Ok(Ok(()))
            }
            Ok(None) => Ok(Err(Ending {
                stop_reason: StopReason::ContextOverflow,
                error: Some(format!(
                    "the newest exchange alone does not fit the context window of {} tokens (the request needs {}); \
                     nothing older is left to evict",
                    compiled.breakdown.context_window, compiled.breakdown.total_tokens
                )),
                provider_status: None,
                recorded: false,
            })),
            Err(RuntimeError::Summary(error)) => Ok(Err(Ending::llm(&error))),
            Err(RuntimeError::Store(error)) => Err(error),
            Err(other) => Err(StoreError::Unavailable(other.to_string())),
        }
    }
}

/// Evicts the oldest part of the window with a model-written summary. `Ok(None)` when nothing may be evicted.
pub(crate) async fn compact_window(
    inner: &Inner,
    ctx: &WriteContext,
    agent: &Agent,
    model: &dyn ChatModel,
    compiled: &Compiled,
    level: usize,
) -> Result<Option<(Message, usize)>, RuntimeError> {
    let fraction = EVICT_FRACTIONS.get(level).copied().unwrap_or(1.0);
    let evict = choose_eviction(&compiled.window, &compiled.window_tokens, fraction);
    if evict.is_empty() {
        return Ok(None);
    }
    let evicted: Vec<Message> = compiled.window.iter().filter(|m| evict.contains(&m.id)).cloned().collect();
    let previous = compiled.summary.as_ref().map(|s| s.content.as_str());
    let model_name = agent.config.model.as_ref().map(|m| m.model().to_owned()).unwrap_or_default();
    let started = Instant::now();
    let response = summarise(model, &model_name, previous, &evicted).await.map_err(RuntimeError::Summary)?;
    let step_id = StepId::from_ulid(ulid::Ulid::new());
    let ctx = WriteContext { step_id: Some(step_id), ..ctx.clone() };
    if let Some(run_id) = ctx.run_id {
        // The summariser's call is a step of the run, so its usage is accounted for.
        let usage = response
            .usage
            .map(|u| Usage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens })
            .unwrap_or_default();
        let step = NewStep {
            id: step_id,
            run_id,
            model: response.model.clone().unwrap_or_else(|| model_name.clone()),
            usage,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        inner.store.record_step(&ctx, agent.id, step, Vec::new(), None).await?;
    }
    let summary = NewMessage {
        run_id: ctx.run_id,
        step_id: Some(step_id),
        ..NewMessage::text(Role::Summary, summary_text(&response, evicted.len()))
    };
    let stored = inner.store.compact_messages(&ctx, agent.id, &evict, summary).await?;
    tracing::info!(agent_id = %agent.id, evicted = evicted.len(), "compacted the context window");
    Ok(Some((stored, evicted.len())))
}

/// Whether a warning notice is already in the window since the last compaction.
fn warned_since_compaction(compiled: &Compiled) -> bool {
    let since = compiled.summary.as_ref().map(|s| s.created_at);
    compiled
        .window
        .iter()
        .any(|m| m.role == Role::System && m.content == WARNING_NOTICE && since.is_none_or(|at| m.created_at >= at))
}

/// The `context_overflow` ending: which fixed part is too big.
fn overflow(compiled: &Compiled) -> Ending {
    let b = &compiled.breakdown;
    let parts = [
        ("the system prompt", b.system_tokens),
        ("core memory", b.core_memory_tokens),
        ("the tool schemas", b.tool_schema_tokens),
    ];
    let (largest, _) = parts.iter().copied().max_by_key(|(_, n)| *n).unwrap_or(("core memory", 0));
    Ending {
        stop_reason: StopReason::ContextOverflow,
        error: Some(format!(
            "the system prompt ({} tokens), core memory ({}) and tool schemas ({}) alone exceed the context window of {} \
             tokens; shorten {largest} or raise context_window",
            b.system_tokens, b.core_memory_tokens, b.tool_schema_tokens, b.context_window
        )),
        provider_status: None,
        recorded: false,
    }
}

/// Share of the context window one tool result may fill.
const RESULT_WINDOW_SHARE: f64 = 0.1;

/// Cuts a tool result that would crowd the window, saying so, so a large search result cannot overflow the window by
/// itself (the newest exchange cannot be evicted). The budget assumes a conservative 3 characters per token.
fn fit_result(content: String, context_window: u32) -> String {
    let budget = ((f64::from(context_window) * RESULT_WINDOW_SHARE) as usize * 3).max(200);
    let chars = content.chars().count();
    if chars <= budget {
        return content;
    }
    let kept: String = content.chars().take(budget).collect();
    format!("{kept}\n[… truncated: the result has {chars} characters; ask for fewer results or a narrower query]")
}

/// Parses a model's argument text; text that is not JSON is kept as a string so nothing is lost.
fn parse_arguments(raw: &str) -> Value {
    match serde_json::from_str::<Value>(raw) {
        Ok(value @ Value::Object(_)) => value,
        _ => Value::String(raw.to_owned()),
    }
}
