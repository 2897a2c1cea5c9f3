//! [`Runtime`]: the entry point the HTTP layer uses. It starts runs (synchronously with events, or queued), keeps two
//! runs from stepping one agent at once, cancels runs, compacts on request, reports the context breakdown, and
//! recovers runs a crash interrupted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use engram_core::agent::Agent;
use engram_core::audit::{Actor, ActorKind, WriteContext};
use engram_core::clock::Clock;
use engram_core::id::{AgentId, MessageId, RunId};
use engram_core::message::{NewMessage, Role, ToolStatus};
use engram_core::org::OrgId;
use engram_core::run::{Run, RunOutcome, RunStatus};
use engram_embed::Embedders;
use engram_llm::{ChatModel, Providers};
use engram_store::{Store, StoreError};
use serde_json::{Value, json};
use tokio::sync::{OwnedMutexGuard, mpsc};

use crate::context::{Compiler, ContextBreakdown};
use crate::error::RuntimeError;
use crate::events::RunEvent;
use crate::retrieval::Retrieval;
use crate::run_loop::{self, RunJob};
use crate::token_cache::TokenCache;

/// Limits and thresholds of the agent loop.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeConfig {
    /// Steps a run may take when the request does not say (`max_steps`).
    pub default_max_steps: u32,
    /// The most steps a request may ask for.
    pub max_steps_limit: u32,
    /// Share of the context window at which the agent is warned, once per fill.
    pub warn_ratio: f64,
    /// Share of the context window at which the oldest messages are summarised and evicted before the call.
    pub compact_ratio: f64,
    /// A tool call repeated with the same arguments that fails this many times in a row ends the run (`no_progress`).
    pub no_progress_repeats: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            default_max_steps: 20,
            max_steps_limit: 100,
            warn_ratio: 0.75,
            compact_ratio: 0.9,
            no_progress_repeats: 3,
        }
    }
}

/// A request to run an agent on new user messages.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRequest {
    /// The user messages, in order (already validated).
    pub messages: Vec<String>,
    pub max_steps: Option<u32>,
    /// Queue behind a running run (`true`) or fail with `AgentBusy`.
    pub wait: bool,
    /// Ask the provider to stream and forward text deltas.
    pub stream: bool,
}

/// A started run: its id and its events, ending with [`RunEvent::Done`] (or `Failed`). Dropping the receiver does not
/// stop the run.
#[derive(Debug)]
pub struct RunHandle {
    pub run_id: RunId,
    pub events: mpsc::UnboundedReceiver<RunEvent>,
}

/// The result of a compaction.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactOutcome {
    pub evicted: usize,
    pub summary_message_id: MessageId,
}

pub(crate) struct Inner {
    pub store: Arc<dyn Store>,
    pub providers: Providers,
    pub retrieval: Retrieval,
    pub clock: Arc<dyn Clock>,
    pub config: RuntimeConfig,
    pub cache: TokenCache,
    locks: Mutex<HashMap<AgentId, Arc<tokio::sync::Mutex<()>>>>,
    cancels: Mutex<HashMap<RunId, Arc<AtomicBool>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Inner {
    pub(crate) fn compiler(&self) -> Compiler<'_> {
        Compiler { store: self.store.as_ref(), clock: &self.clock, cache: &self.cache }
    }

    /// The lock serialising runs of `agent` in this process.
    fn agent_lock(&self, agent: AgentId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = lock(&self.locks);
        // Forget locks nobody holds or waits for, so the map does not grow with every agent ever run.
        if locks.len() > 1024 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(agent).or_default().clone()
    }

    fn register_cancel(&self, run: RunId) -> Arc<AtomicBool> {
        lock(&self.cancels).entry(run).or_default().clone()
    }

    pub(crate) fn unregister_cancel(&self, run: RunId) {
        lock(&self.cancels).remove(&run);
    }

    /// The model of an agent, or why it cannot run.
    pub(crate) fn chat_model(&self, agent: &Agent) -> Result<Arc<dyn ChatModel>, RuntimeError> {
        let model = agent.config.model.as_ref().ok_or_else(|| RuntimeError::NoModel(agent.id.to_string()))?;
        self.providers.chat_model(model.provider()).map_err(|e| RuntimeError::ProviderUnavailable(e.to_string()))
    }
}

/// The agent runtime. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

/// The input of a run as recorded with it, so a queued run can be resumed after a restart.
fn run_input(caller: &WriteContext, request: &SendRequest, max_steps: u32) -> Value {
    json!({
        "messages": request.messages.iter().map(|m| json!({"role": "user", "content": m})).collect::<Vec<_>>(),
        "max_steps": max_steps,
        "actor": {"kind": caller.actor.kind.as_str(), "id": caller.actor.id},
        "request_id": caller.request_id,
    })
}

impl Runtime {
    pub fn new(
        store: Arc<dyn Store>,
        providers: Providers,
        embedders: Embedders,
        clock: Arc<dyn Clock>,
        config: RuntimeConfig,
    ) -> Self {
        let inner = Inner {
            retrieval: Retrieval::new(store.clone(), embedders),
            store,
            providers,
            clock,
            config,
            cache: TokenCache::default(),
            locks: Mutex::default(),
            cancels: Mutex::default(),
        };
        Self { inner: Arc::new(inner) }
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Archival and recall search, and embedding-aware archival inserts.
    pub fn retrieval(&self) -> &Retrieval {
        &self.inner.retrieval
    }

    /// Starts a run of `agent` on the caller's messages. Returns once the run is recorded; the run itself proceeds
    /// in the background and reports through the handle's events.
    pub async fn send(
        &self,
        caller: &WriteContext,
        agent: AgentId,
        request: SendRequest,
    ) -> Result<RunHandle, RuntimeError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let run = self.start(caller, agent, request, Some(tx)).await?;
        Ok(RunHandle { run_id: run.id, events: rx })
    }

    /// Queues a run and returns it at once (status `queued`); it runs when the agent is free.
    pub async fn send_async(
        &self,
        caller: &WriteContext,
        agent: AgentId,
        request: SendRequest,
    ) -> Result<Run, RuntimeError> {
        self.start(caller, agent, SendRequest { wait: true, stream: false, ..request }, None).await
    }

    async fn start(
        &self,
        caller: &WriteContext,
        agent_id: AgentId,
        request: SendRequest,
        events: Option<mpsc::UnboundedSender<RunEvent>>,
    ) -> Result<Run, RuntimeError> {
        let inner = &self.inner;
        let agent = inner.store.get_agent(&caller.org, agent_id).await?;
        let model = inner.chat_model(&agent)?;
        let agent_lock = inner.agent_lock(agent_id);
        // Take the agent at once when it is free; otherwise queue (or refuse, if the caller will not wait).
        let held = match agent_lock.clone().try_lock_owned() {
            Ok(guard) => Some(guard),
            Err(_) if request.wait => None,
            Err(_) => return Err(RuntimeError::AgentBusy(agent_id.to_string())),
        };
        let max_steps = request.max_steps.unwrap_or(inner.config.default_max_steps).min(inner.config.max_steps_limit);
        let input = run_input(caller, &request, max_steps);
        // A run that has the agent starts running with its messages in one transaction; a queued one appends them
        // when it gets the agent, so runs never interleave in the history.
        let (run, appended) = match held {
            Some(_) => {
                let messages = user_messages(&request.messages);
                inner.store.create_run(caller, agent_id, RunStatus::Running, input, messages).await?
            }
            None => inner.store.create_run(caller, agent_id, RunStatus::Queued, input, Vec::new()).await?,
        };
        let job = RunJob {
            inner: inner.clone(),
            org: caller.org.clone(),
            agent: agent_id,
            run_id: run.id,
            caller: WriteContext { run_id: Some(run.id), step_id: None, ..caller.clone() },
            inputs: request.messages,
            agent_snapshot: held.is_some().then(|| agent.clone()),
            started: held.is_some().then_some(appended),
            max_steps,
            stream: request.stream,
            events,
            cancel: inner.register_cancel(run.id),
            model,
        };
        tokio::spawn(run_when_free(job, agent_lock, held));
        Ok(run)
    }

    /// Asks a run to stop: a queued run is cancelled at once, a running one before its next step.
    pub async fn cancel(&self, org: &OrgId, run: RunId) -> Result<Run, RuntimeError> {
        let cancelled = self.inner.store.request_run_cancel(org, run).await?;
        if let Some(flag) = lock(&self.inner.cancels).get(&run) {
            flag.store(true, Ordering::SeqCst);
        }
        Ok(cancelled)
    }

    pub async fn get_run(&self, org: &OrgId, run: RunId) -> Result<Run, RuntimeError> {
        Ok(self.inner.store.get_run(org, run).await?)
    }

    /// The token breakdown of the request the agent's next step would send.
    pub async fn context(&self, org: &OrgId, agent: AgentId) -> Result<ContextBreakdown, RuntimeError> {
        let agent = self.inner.store.get_agent(org, agent).await?;
        Ok(self.inner.compiler().compile(org, &agent).await?.breakdown)
    }

    /// Summarises and evicts the oldest half of the window now, waiting for any running run of the agent to end.
    pub async fn compact(&self, caller: &WriteContext, agent_id: AgentId) -> Result<CompactOutcome, RuntimeError> {
        let inner = &self.inner;
        let agent = inner.store.get_agent(&caller.org, agent_id).await?;
        let model = inner.chat_model(&agent)?;
        let agent_lock = inner.agent_lock(agent_id);
        let _held = agent_lock.lock().await;
        let agent = inner.store.get_agent(&caller.org, agent_id).await?;
        let compiled = inner.compiler().compile(&caller.org, &agent).await?;
        let outcome = run_loop::compact_window(inner, caller, &agent, model.as_ref(), &compiled, 0).await?;
        match outcome {
            Some((summary, evicted)) => Ok(CompactOutcome { evicted, summary_message_id: summary.id }),
            None => Err(RuntimeError::NothingToCompact),
        }
    }

    /// Recovers from a crash: runs left `running` are marked failed (calls left without a result get an error
    /// result, so the history stays whole) and queued runs are started again. Call once at start-up.
    pub async fn recover(&self) -> Result<(), RuntimeError> {
        let inner = &self.inner;
        for (org, run) in inner.store.runs_with_status(RunStatus::Running, 10_000).await? {
            close_interrupted_calls(inner.store.as_ref(), &org, &run).await?;
            let outcome = RunOutcome {
                status: RunStatus::Failed,
                stop_reason: None,
                error: Some("interrupted: engram stopped while this run was in progress".to_owned()),
            };
            inner.store.finish_run(&org, run.id, outcome).await?;
            tracing::warn!(run_id = %run.id, agent_id = %run.agent_id, "marked a run interrupted by a restart as failed");
        }
        for (org, run) in inner.store.runs_with_status(RunStatus::Queued, 10_000).await? {
            self.resume_queued(org, run).await;
        }
        Ok(())
    }

    async fn resume_queued(&self, org: OrgId, run: Run) {
        let inner = &self.inner;
        let fail = |error: String| RunOutcome { status: RunStatus::Failed, stop_reason: None, error: Some(error) };
        let agent = match inner.store.get_agent(&org, run.agent_id).await {
            Ok(agent) => agent,
            Err(error) => {
                let _ = inner.store.finish_run(&org, run.id, fail(error.to_string())).await;
                return;
            }
        };
        let model = match inner.chat_model(&agent) {
            Ok(model) => model,
            Err(error) => {
                let _ = inner.store.finish_run(&org, run.id, fail(error.to_string())).await;
                return;
            }
        };
        let input = &run.input;
        let inputs: Vec<String> = input["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["content"].as_str().map(str::to_owned))
            .collect();
        let kind = input["actor"]["kind"].as_str().and_then(ActorKind::parse).unwrap_or(ActorKind::System);
        let actor = Actor { kind, id: input["actor"]["id"].as_str().unwrap_or("engram").to_owned() };
        let caller = WriteContext {
            org: org.clone(),
            actor,
            run_id: Some(run.id),
            step_id: None,
            request_id: input["request_id"].as_str().map(str::to_owned),
        };
        let max_steps =
            input["max_steps"].as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(inner.config.default_max_steps);
        let job = RunJob {
            inner: inner.clone(),
            org,
            agent: run.agent_id,
            run_id: run.id,
            caller,
            inputs,
            started: None,
            agent_snapshot: None,
            max_steps,
            stream: false,
            events: None,
            cancel: inner.register_cancel(run.id),
            model,
        };
        tokio::spawn(run_when_free(job, inner.agent_lock(run.agent_id), None));
    }
}

/// User messages to append for a run.
pub(crate) fn user_messages(texts: &[String]) -> Vec<NewMessage> {
    texts.iter().map(|text| NewMessage::text(Role::User, text.clone())).collect()
}

/// Waits for the agent (unless the lock is already held), then runs the job.
async fn run_when_free(job: RunJob, agent_lock: Arc<tokio::sync::Mutex<()>>, held: Option<OwnedMutexGuard<()>>) {
    let _guard = match held {
        Some(guard) => guard,
        None => agent_lock.lock_owned().await,
    };
    let inner = job.inner.clone();
    let run_id = job.run_id;
    run_loop::execute(job).await;
    inner.unregister_cancel(run_id);
}

/// Appends an error result for every tool call of `run` that has none, so the history holds whole exchanges.
async fn close_interrupted_calls(store: &dyn Store, org: &OrgId, run: &Run) -> Result<(), StoreError> {
    let window = store.list_context_messages(org, run.agent_id).await?;
    let answered: Vec<&str> = window.iter().filter_map(|m| m.tool_call_id.as_deref()).collect();
    let mut results = Vec::new();
    for message in window.iter().filter(|m| m.run_id == Some(run.id) && m.role == Role::Assistant) {
        for call in message.tool_calls.iter().filter(|c| !answered.contains(&c.id.as_str())) {
            results.push(NewMessage {
                run_id: Some(run.id),
                step_id: message.step_id,
                tool_call_id: Some(call.id.clone()),
                tool_status: Some(ToolStatus::Error),
                ..NewMessage::text(
                    Role::Tool,
                    "interrupted: engram stopped before this call finished; it may not have taken effect",
                )
            });
        }
    }
    if !results.is_empty() {
        let ctx = WriteContext {
            org: org.clone(),
            actor: Actor { kind: ActorKind::System, id: "engram".to_owned() },
            run_id: Some(run.id),
            step_id: None,
            request_id: None,
        };
        store.append_messages(&ctx, run.agent_id, results).await?;
    }
    Ok(())
}
