//! [`Runtime`]: the entry point the HTTP layer uses. It starts runs (synchronously with events, or queued), keeps two
//! runs from stepping one agent at once, cancels runs, compacts on request, reports the context breakdown, and
//! recovers runs a crash interrupted.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

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
use tokio::sync::{Notify, OwnedMutexGuard, RwLock, mpsc};

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
    /// Wakes the queue worker: a run ended, so the next queued run of its agent may be claimed.
    queue: Arc<Notify>,
    /// Held shared from creating (or claiming) a run until it is registered in `cancels`, and exclusively while a
    /// sweep tells this process's live runs from those it left behind, so a run being started is never taken for
    /// one left behind.
    starting: RwLock<()>,
}

/// An agent taken for a run: this process's lock on it and, on a shared database, every other process's. Dropping
/// it lets the agent go.
pub(crate) struct AgentGuard {
    _local: OwnedMutexGuard<()>,
    store: Arc<dyn Store>,
    agent: AgentId,
}

impl Drop for AgentGuard {
    fn drop(&mut self) {
        if !self.store.capabilities().shared {
            return;
        }
        let (store, agent) = (self.store.clone(), self.agent);
        // Unlocking is a round trip to the database; a later run of the agent in this process may take the lock
        // again before it lands (the locks nest), which is harmless.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(error) = store.unlock_agent(agent).await {
                    tracing::warn!(%agent, %error, "could not release an agent's lock");
                }
            });
        }
    }
}

/// How often a process on a shared database looks for runs other processes left behind.
const SWEEP_EVERY: Duration = Duration::from_secs(2);
/// How often a process on a shared database looks for queued runs to claim when nothing woke it.
const CLAIM_EVERY: Duration = Duration::from_secs(1);
/// The most stale runs one sweep handles (the next sweep takes the rest).
const SWEEP_LIMIT: u32 = 1_000;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Inner {
    pub(crate) fn compiler(&self) -> Compiler<'_> {
        Compiler { store: self.store.as_ref(), clock: &self.clock, cache: &self.cache }
    }

    fn shared(&self) -> bool {
        self.store.capabilities().shared
    }

    fn guard(&self, local: OwnedMutexGuard<()>, agent: AgentId) -> AgentGuard {
        AgentGuard { _local: local, store: self.store.clone(), agent }
    }

    /// Takes `agent` now if no run of it is under way here or in another process.
    pub(crate) async fn try_take_agent(&self, agent: AgentId) -> Result<Option<AgentGuard>, StoreError> {
        let Ok(local) = self.agent_lock(agent).try_lock_owned() else { return Ok(None) };
        match self.store.try_lock_agent(agent).await? {
            true => Ok(Some(self.guard(local, agent))),
            false => Ok(None),
        }
    }

    /// Waits for `agent` (runs of it here go first come, first served; another process's run is waited out by
    /// asking again, less often the longer it lasts). `None` when the queued `run` stopped being queued meanwhile
    /// (it was cancelled, or given to another process); only when a run to watch is given.
    async fn take_agent(&self, agent: AgentId, queued: Option<(&OrgId, RunId)>) -> Option<AgentGuard> {
        let local = self.agent_lock(agent).lock_owned().await;
        let mut pause = Duration::from_millis(10);
        loop {
            match self.store.try_lock_agent(agent).await {
                Ok(true) => return Some(self.guard(local, agent)),
                Ok(false) => {}
                Err(error) => tracing::warn!(%agent, %error, "cannot take an agent's lock yet; retrying"),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
            if pause >= Duration::from_millis(250)
                && let Some((org, run)) = queued
                && let Ok(current) = self.store.get_run(org, run).await
                && current.status != RunStatus::Queued
            {
                return None;
            }
        }
    }

    /// On a shared database, ends the runs of `agent` that a process which is gone left `running` (called with the
    /// agent taken, so no live process can be running it), so a new run never follows an unanswered tool call.
    async fn recover_agent(&self, agent: AgentId) -> Result<(), StoreError> {
        if !self.shared() {
            return Ok(());
        }
        for stale in self.store.stale_runs(Some(agent), SWEEP_LIMIT).await? {
            if stale.run.status == RunStatus::Running && !lock(&self.cancels).contains_key(&stale.run.id) {
                fail_interrupted(self.store.as_ref(), &stale.org, &stale.run).await?;
            }
        }
        Ok(())
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
            queue: Arc::new(Notify::new()),
            starting: RwLock::new(()),
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
        let starting = inner.starting.read().await;
        // Take the agent at once when it is free; otherwise queue (or refuse, if the caller will not wait).
        let held = match inner.try_take_agent(agent_id).await? {
            Some(guard) => Some(guard),
            None if request.wait => None,
            None => return Err(RuntimeError::AgentBusy(agent_id.to_string())),
        };
        if held.is_some() {
            inner.recover_agent(agent_id).await?;
        }
        let max_steps = request.max_steps.unwrap_or(inner.config.default_max_steps).min(inner.config.max_steps_limit);
        let input = run_input(caller, &request, max_steps);
        // A run that has the agent starts running with its messages in one transaction; a queued one appends them
        // when it gets the agent, so runs never interleave in the history. An async run is always recorded queued,
        // even when the agent is free: its caller is answered now, and a store may make a running run's writes
        // durable only when the run ends (see `Store::create_run`), while a queued run is durable when recorded.
        let answered_now = events.is_none();
        let start_running = held.is_some() && !answered_now;
        let (run, appended) = if start_running {
            let messages = user_messages(&request.messages);
            inner.store.create_run(caller, agent_id, RunStatus::Running, input, messages).await?
        } else {
            inner.store.create_run(caller, agent_id, RunStatus::Queued, input, Vec::new()).await?
        };
        let job = RunJob {
            inner: inner.clone(),
            org: caller.org.clone(),
            agent: agent_id,
            run_id: run.id,
            caller: WriteContext { run_id: Some(run.id), step_id: None, ..caller.clone() },
            inputs: request.messages,
            agent_snapshot: held.is_some().then(|| agent.clone()),
            started: start_running.then_some(appended),
            max_steps,
            stream: request.stream,
            events,
            cancel: inner.register_cancel(run.id),
            model,
        };
        drop(starting);
        tokio::spawn(run_when_free(job, held));
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
        let _held = inner.take_agent(agent_id, None).await;
        let agent = inner.store.get_agent(&caller.org, agent_id).await?;
        let compiled = inner.compiler().compile(&caller.org, &agent).await?;
        let outcome = run_loop::compact_window(inner, caller, &agent, model.as_ref(), &compiled, 0).await?;
        match outcome {
            Some((summary, evicted)) => Ok(CompactOutcome { evicted, summary_message_id: summary.id }),
            None => Err(RuntimeError::NothingToCompact),
        }
    }

    /// Recovers what a crash or a stop left behind, then keeps doing so: runs left `running` are marked failed
    /// (calls left without a result get an error result, so the history stays whole) and queued runs whose owner is
    /// gone go back to the queue; queued runs are claimed and run, oldest first per agent. Call once at start-up: it
    /// sweeps and claims once, then leaves a background worker that claims whenever a run ends and, on a shared
    /// database, every second (sweeping every two), for as long as the runtime lives.
    pub async fn recover(&self) -> Result<(), RuntimeError> {
        self.sweep().await?;
        self.claim_queued().await;
        let weak = Arc::downgrade(&self.inner);
        let queue = self.inner.queue.clone();
        tokio::spawn(work_the_queue(weak, queue, self.inner.shared()));
        Ok(())
    }

    /// One pass over the runs left behind.
    async fn sweep(&self) -> Result<(), RuntimeError> {
        let inner = &self.inner;
        let stale = {
            let _exclusive = inner.starting.write().await;
            let stale = inner.store.stale_runs(None, SWEEP_LIMIT).await?;
            let live: HashSet<RunId> = lock(&inner.cancels).keys().copied().collect();
            stale.into_iter().filter(|s| !live.contains(&s.run.id)).collect::<Vec<_>>()
        };
        for stale in stale {
            match stale.run.status {
                RunStatus::Running => {
                    // With the agent taken nobody else can be recovering or running it; read the run again, as
                    // another process may have recovered it meanwhile.
                    let Some(_agent) = inner.try_take_agent(stale.run.agent_id).await? else { continue };
                    let run = inner.store.get_run(&stale.org, stale.run.id).await?;
                    if run.status == RunStatus::Running {
                        fail_interrupted(inner.store.as_ref(), &stale.org, &run).await?;
                    }
                }
                RunStatus::Queued if inner.store.release_run(&stale.org, stale.run.id, stale.owner).await? => {
                    tracing::info!(run_id = %stale.run.id, "a queued run whose process is gone went back to the queue");
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Claims and starts queued runs until none is ready.
    async fn claim_queued(&self) {
        loop {
            let claimed = {
                let _starting = self.inner.starting.read().await;
                match self.inner.store.claim_queued_run().await {
                    Ok(Some((org, run))) => {
                        let cancel = self.inner.register_cancel(run.id);
                        Some((org, run, cancel))
                    }
                    Ok(None) => None,
                    Err(error) => {
                        tracing::warn!(%error, "could not look for queued runs");
                        None
                    }
                }
            };
            let Some((org, run, cancel)) = claimed else { return };
            self.resume_queued(org, run, cancel).await;
        }
    }

    async fn resume_queued(&self, org: OrgId, run: Run, cancel: Arc<AtomicBool>) {
        let inner = &self.inner;
        let fail = |error: String| RunOutcome { status: RunStatus::Failed, stop_reason: None, error: Some(error) };
        let agent = match inner.store.get_agent(&org, run.agent_id).await {
            Ok(agent) => agent,
            Err(error) => {
                let _ = inner.store.finish_run(&org, run.id, fail(error.to_string())).await;
                inner.unregister_cancel(run.id);
                return;
            }
        };
        let model = match inner.chat_model(&agent) {
            Ok(model) => model,
            Err(error) => {
                let _ = inner.store.finish_run(&org, run.id, fail(error.to_string())).await;
                inner.unregister_cancel(run.id);
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
            cancel,
            model,
        };
        tokio::spawn(run_when_free(job, None));
    }
}

/// User messages to append for a run.
pub(crate) fn user_messages(texts: &[String]) -> Vec<NewMessage> {
    texts.iter().map(|text| NewMessage::text(Role::User, text.clone())).collect()
}

/// Waits for the agent (unless it is already taken), then runs the job; wakes the queue worker when it ends.
async fn run_when_free(job: RunJob, held: Option<AgentGuard>) {
    let inner = job.inner.clone();
    let run_id = job.run_id;
    let guard = match held {
        Some(guard) => Some(guard),
        None => {
            let guard = inner.take_agent(job.agent, Some((&job.org, run_id))).await;
            if guard.is_some()
                && let Err(error) = inner.recover_agent(job.agent).await
            {
                tracing::warn!(agent_id = %job.agent, %error, "could not recover the agent's interrupted runs");
            }
            guard
        }
    };
    // Without the agent (the run stopped being queued while it waited) the run ends at its start.
    run_loop::execute(job).await;
    drop(guard);
    inner.unregister_cancel(run_id);
    inner.queue.notify_one();
}

/// The queue worker: claims queued runs when a run ends here and, on a shared database, every [`CLAIM_EVERY`]
/// (sweeping for runs other processes left behind every [`SWEEP_EVERY`]); stops when the runtime is dropped.
async fn work_the_queue(runtime: Weak<Inner>, queue: Arc<Notify>, shared: bool) {
    let idle = if shared { CLAIM_EVERY } else { Duration::from_secs(60) };
    let mut last_sweep = Instant::now();
    loop {
        tokio::select! {
            () = queue.notified() => {}
            () = tokio::time::sleep(idle) => {}
        }
        let Some(inner) = runtime.upgrade() else { return };
        let runtime = Runtime { inner };
        if shared && last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = Instant::now();
            if let Err(error) = runtime.sweep().await {
                tracing::warn!(%error, "could not look for runs other processes left behind");
            }
        }
        runtime.claim_queued().await;
    }
}

/// Ends a run that a process which is gone left `running`: an error result for every call it left unanswered,
/// then `failed`.
async fn fail_interrupted(store: &dyn Store, org: &OrgId, run: &Run) -> Result<(), StoreError> {
    close_interrupted_calls(store, org, run).await?;
    let outcome = RunOutcome {
        status: RunStatus::Failed,
        stop_reason: None,
        error: Some("interrupted: the engram process running it stopped before it finished".to_owned()),
    };
    store.finish_run(org, run.id, outcome).await?;
    tracing::warn!(run_id = %run.id, agent_id = %run.agent_id, "marked a run interrupted by a stopped process as failed");
    Ok(())
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
