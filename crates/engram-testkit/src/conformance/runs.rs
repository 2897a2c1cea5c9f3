//! Conformance checks for runs and steps: the queued → running → ended lifecycle with steps and summed usage,
//! claiming a run only once, cancellation in each state, ending only once, finding runs by status across
//! organisations, tenant isolation, steps appending their messages with run and step ids in messages and audit, and
//! the queue: runs owned by the store's process, released when their owner is gone, claimed oldest first and only
//! when next in their agent's line.

use std::sync::Arc;

use serde_json::json;

use engram_core::audit::WriteContext;
use engram_core::id::{AgentId, RunId, StepId};
use engram_core::message::Role;
use engram_core::org::OrgId;
use engram_core::run::{NewStep, Run, RunOutcome, RunStatus, StopReason, Usage};
use engram_store::{Store, StoreError};

use super::fixtures::*;

/// A step id the runtime would have chosen (`n` < 100).
fn step_id(n: u32) -> StepId {
    StepId::parse("step_id", &format!("step_01ARZ3NDEKTSV4RRFFQ69G5F{n:02}")).must("step id")
}

fn unknown_run() -> RunId {
    RunId::parse("run_id", "run_01ARZ3NDEKTSV4RRFFQ69G5FAV").must("run id")
}

fn step(run: RunId, n: u32, prompt_tokens: u64, completion_tokens: u64) -> NewStep {
    NewStep {
        id: step_id(n),
        run_id: run,
        model: "openai/gpt-4o-mini".into(),
        usage: Usage { prompt_tokens, completion_tokens },
        duration_ms: 100 + u64::from(n),
    }
}

fn outcome(status: RunStatus, stop_reason: Option<StopReason>, error: Option<&str>) -> RunOutcome {
    RunOutcome { status, stop_reason, error: error.map(str::to_owned) }
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::VersionConflict { .. }) => {}
        other => panic!("expected a version conflict, got {other:?}"),
    }
}

async fn queued(store: &dyn Store, ctx: &WriteContext, agent: AgentId) -> Run {
    store.create_run(ctx, agent, RunStatus::Queued, json!({"messages": ["hi"]}), Vec::new()).await.must("create run").0
}

pub async fn lifecycle(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let input = json!({"messages": [{"role": "user", "content": "hi"}], "max_steps": 5});
    let run = store.create_run(&ctx, agent.id, RunStatus::Queued, input.clone(), Vec::new()).await.must("create run").0;
    assert_eq!((run.status, run.agent_id, &run.input), (RunStatus::Queued, agent.id, &input));
    assert_eq!((run.stop_reason, run.error.as_deref(), run.cancel_requested), (None, None, false));
    assert!(run.steps.is_empty() && run.usage == Usage::default() && run.completed_at.is_none());
    assert_eq!(store.get_run(&org, run.id).await.must("get run"), run, "a read returns what the create returned");

    let started = store.start_run(&ctx, run.id, Vec::new()).await.must("start run").0;
    assert_eq!(started.status, RunStatus::Running);
    assert_eq!(Run { status: RunStatus::Queued, ..started.clone() }, run, "starting changes only the status");
    assert_conflict(store.start_run(&ctx, run.id, Vec::new()).await);

    for (n, (prompt, completion)) in [(1, (10, 5)), (2, (20, 7))] {
        let msgs = vec![message(Role::Assistant, &format!("step {n}"))];
        store.record_step(&ctx, agent.id, step(run.id, n, prompt, completion), msgs, None).await.must("record step");
    }
    let stepped = store.get_run(&org, run.id).await.must("get run with steps");
    let ids: Vec<StepId> = stepped.steps.iter().map(|s| s.id).collect();
    assert_eq!(ids, [step_id(1), step_id(2)], "steps oldest first");
    assert_eq!(
        stepped.steps[0],
        engram_core::run::Step {
            id: step_id(1),
            run_id: run.id,
            model: "openai/gpt-4o-mini".into(),
            usage: Usage { prompt_tokens: 10, completion_tokens: 5 },
            duration_ms: 101,
        }
    );
    assert_eq!(stepped.usage, Usage { prompt_tokens: 30, completion_tokens: 12 }, "usage is the steps' sum");
    let dup = store.record_step(&ctx, agent.id, step(run.id, 2, 1, 1), Vec::new(), None).await;
    assert!(dup.is_err(), "a step is recorded once: {dup:?}");
    let msgs = store.list_messages(&org, agent.id, &all_messages()).await.must("list").items;
    assert_eq!(msgs.len(), 2, "a failed step records no messages");

    let done = outcome(RunStatus::Completed, Some(StopReason::EndTurn), None);
    let finished = store.finish_run(&org, run.id, done).await.must("finish run");
    assert_eq!((finished.status, finished.stop_reason), (RunStatus::Completed, Some(StopReason::EndTurn)));
    assert!(finished.completed_at.is_some_and(|t| t >= run.created_at));
    assert_eq!((finished.usage, finished.steps.len()), (stepped.usage, 2));
    assert_eq!(store.get_run(&org, run.id).await.must("get finished"), finished);

    // Ending again, cancelling or starting a finished run changes nothing.
    let failed = outcome(RunStatus::Failed, Some(StopReason::LlmError), Some("boom"));
    assert_eq!(store.finish_run(&org, run.id, failed).await.must("finish twice"), finished);
    assert_eq!(store.request_run_cancel(&org, run.id).await.must("cancel finished"), finished);
    assert_conflict(store.start_run(&ctx, run.id, Vec::new()).await);
    assert_eq!(store.get_run(&org, run.id).await.must("get again"), finished);

    // A run can also be created running, and fail with an error.
    let direct =
        store.create_run(&ctx, agent.id, RunStatus::Running, json!(null), Vec::new()).await.must("create running").0;
    assert_eq!((direct.status, &direct.input), (RunStatus::Running, &json!(null)));
    let failed = outcome(RunStatus::Failed, Some(StopReason::LlmError), Some("provider said no"));
    let ended = store.finish_run(&org, direct.id, failed).await.must("fail run");
    assert_eq!((ended.status, ended.error.as_deref()), (RunStatus::Failed, Some("provider said no")));
    assert!(ended.steps.is_empty() && ended.usage == Usage::default());
    assert_not_found(store.create_run(&ctx, unknown_agent(), RunStatus::Queued, json!({}), Vec::new()).await, "agent");
    assert_not_found(store.get_run(&org, unknown_run()).await, "run");
}

pub async fn cancel(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");

    // Queued: cancelled at once, and can no longer be claimed.
    let waiting = queued(store.as_ref(), &ctx, agent.id).await;
    let cancelled = store.request_run_cancel(&org, waiting.id).await.must("cancel queued");
    assert_eq!((cancelled.status, cancelled.stop_reason), (RunStatus::Cancelled, Some(StopReason::Cancelled)));
    assert!(cancelled.completed_at.is_some());
    assert_conflict(store.start_run(&ctx, waiting.id, Vec::new()).await);
    assert_eq!(store.request_run_cancel(&org, waiting.id).await.must("cancel again"), cancelled);
    assert_eq!(store.get_run(&org, waiting.id).await.must("get cancelled"), cancelled);

    // Running: flagged, and the runtime ends it as cancelled before its next step.
    let busy = queued(store.as_ref(), &ctx, agent.id).await;
    store.start_run(&ctx, busy.id, Vec::new()).await.must("start");
    let flagged = store.request_run_cancel(&org, busy.id).await.must("cancel running");
    assert_eq!((flagged.status, flagged.cancel_requested, flagged.completed_at), (RunStatus::Running, true, None));
    assert_eq!(store.request_run_cancel(&org, busy.id).await.must("cancel running again"), flagged);
    assert!(store.get_run(&org, busy.id).await.must("get flagged").cancel_requested);
    let stop = outcome(RunStatus::Cancelled, Some(StopReason::Cancelled), None);
    let ended = store.finish_run(&org, busy.id, stop).await.must("finish cancelled");
    assert_eq!((ended.status, ended.stop_reason), (RunStatus::Cancelled, Some(StopReason::Cancelled)));
    assert!(ended.completed_at.is_some());
    assert_not_found(store.request_run_cancel(&org, unknown_run()).await, "run");
}

pub async fn status_and_isolation(store: Arc<dyn Store>) {
    let (acme, globex) = (org("acme"), org("globex"));
    let (acme_ctx, globex_ctx) = (ctx(&acme), ctx(&globex));
    let ada = store.create_agent(&acme_ctx, bare_agent("Ada")).await.must("acme agent");
    let bob = store.create_agent(&globex_ctx, bare_agent("Bob")).await.must("globex agent");
    let first = queued(store.as_ref(), &acme_ctx, ada.id).await;
    let second = queued(store.as_ref(), &globex_ctx, bob.id).await;
    let third = queued(store.as_ref(), &acme_ctx, ada.id).await;
    let running =
        store.create_run(&acme_ctx, ada.id, RunStatus::Running, json!({}), Vec::new()).await.must("running run").0;

    let ids = |runs: Vec<(OrgId, Run)>| -> Vec<(String, RunId)> {
        runs.into_iter().map(|(org, run)| (org.as_str().to_owned(), run.id)).collect()
    };
    let all_queued = store.runs_with_status(RunStatus::Queued, 10).await.must("queued runs");
    assert_eq!(all_queued[1].1, second, "runs come whole");
    assert_eq!(
        ids(all_queued),
        [("acme".to_owned(), first.id), ("globex".to_owned(), second.id), ("acme".to_owned(), third.id)],
        "every organisation's queued runs, oldest first"
    );
    let one = store.runs_with_status(RunStatus::Queued, 1).await.must("limited");
    assert_eq!(ids(one), [("acme".to_owned(), first.id)]);
    let busy = store.runs_with_status(RunStatus::Running, 10).await.must("running runs");
    assert_eq!(ids(busy), [("acme".to_owned(), running.id)]);
    assert!(store.runs_with_status(RunStatus::Completed, 10).await.must("completed runs").is_empty());

    // Globex can neither see nor change acme's runs.
    assert_not_found(store.get_run(&globex, first.id).await, "run");
    assert_not_found(store.start_run(&globex_ctx, first.id, Vec::new()).await, "run");
    assert_not_found(store.request_run_cancel(&globex, first.id).await, "run");
    let done = outcome(RunStatus::Completed, Some(StopReason::EndTurn), None);
    assert_not_found(store.finish_run(&globex, first.id, done).await, "run");
    assert_not_found(store.create_run(&globex_ctx, ada.id, RunStatus::Queued, json!({}), Vec::new()).await, "agent");
    assert_not_found(store.record_step(&globex_ctx, ada.id, step(first.id, 1, 1, 1), Vec::new(), None).await, "agent");
    // Nor record a step of acme's run on its own agent.
    let foreign = store.record_step(&globex_ctx, bob.id, step(first.id, 2, 1, 1), vec![message(Role::User, "x")], None);
    assert_not_found(foreign.await, "run");
    assert_eq!(store.get_run(&acme, first.id).await.must("acme run"), first, "acme's run is unchanged");
    let globex_msgs = store.list_messages(&globex, bob.id, &all_messages()).await.must("globex messages");
    assert!(globex_msgs.items.is_empty());
    assert!(all_events(store.as_ref(), &globex).await.iter().all(|e| e.action.as_str() == "agent.create"));
}

pub async fn step_messages(store: Arc<dyn Store>) {
    let org = org("acme");
    let mut ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let other = store.create_agent(&ctx, bare_agent("Bob")).await.must("other agent");
    let history = vec![message(Role::User, "hello"), message(Role::Assistant, "hi")];
    store.append_messages(&ctx, agent.id, history).await.must("append history");
    let run = store.create_run(&ctx, agent.id, RunStatus::Running, json!({}), Vec::new()).await.must("create run").0;
    let events_before = all_events(store.as_ref(), &org).await.len();

    ctx.run_id = Some(run.id);
    ctx.step_id = Some(step_id(1));
    let mut result = message(Role::Tool, "42");
    result.tool_call_id = Some("call_1".into());
    let produced = vec![message(Role::Assistant, "let me check"), result];
    let recorded = store.record_step(&ctx, agent.id, step(run.id, 1, 3, 4), produced, None).await.must("record step");
    let positions: Vec<i64> = recorded.iter().map(|m| m.position).collect();
    assert_eq!(positions, [3, 4], "a step's messages continue the history");
    assert!(recorded.iter().all(|m| m.run_id == Some(run.id) && m.step_id == Some(step_id(1))));
    assert_eq!(recorded[1].tool_call_id.as_deref(), Some("call_1"));
    let listed = store.list_messages(&org, agent.id, &all_messages()).await.must("list").items;
    assert_eq!(listed[2..], recorded[..], "a read returns exactly what the step recorded");

    let events = all_events(store.as_ref(), &org).await;
    assert_gap_free(&events);
    let new_events = &events[events_before..];
    assert_eq!(actions(new_events), ["message.append", "message.append"], "one event per message, no more");
    for (event, message) in new_events.iter().zip(&recorded) {
        assert_eq!(event.target.id, message.id.to_string());
        assert_eq!((event.run_id, event.step_id), (Some(run.id), Some(step_id(1))));
        assert_eq!(event.agent_id, Some(agent.id));
    }

    // A step names a run of the agent it is recorded for.
    assert_not_found(store.record_step(&ctx, other.id, step(run.id, 2, 1, 1), Vec::new(), None).await, "run");
    assert_not_found(store.record_step(&ctx, agent.id, step(unknown_run(), 3, 1, 1), Vec::new(), None).await, "run");
    assert_not_found(store.record_step(&ctx, unknown_agent(), step(run.id, 4, 1, 1), Vec::new(), None).await, "agent");
    let run = store.get_run(&org, run.id).await.must("get run");
    assert_eq!((run.steps.len(), run.usage), (1, Usage { prompt_tokens: 3, completion_tokens: 4 }));
    assert_eq!(all_events(store.as_ref(), &org).await.len(), events.len(), "failed steps record nothing");
}

/// The combined writes the runtime relies on to keep a turn at two commits: a run created running with its input
/// messages, a queued run started with them, and a last step that ends the run.
pub async fn combined_writes(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");

    let inputs = vec![message(Role::User, "first"), message(Role::User, "second")];
    let (run, appended) =
        store.create_run(&ctx, agent.id, RunStatus::Running, json!({}), inputs).await.must("create with inputs");
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(appended.iter().map(|m| m.position).collect::<Vec<_>>(), [1, 2]);
    assert!(appended.iter().all(|m| m.run_id == Some(run.id) && m.role == Role::User));
    let events = all_events(store.as_ref(), &org).await;
    assert!(events.iter().rev().take(2).all(|e| e.run_id == Some(run.id)), "the inputs' events name the run");

    // A queued run cannot carry messages yet; nothing is created.
    let queued_inputs = vec![message(Role::User, "too early")];
    let refused = store.create_run(&ctx, agent.id, RunStatus::Queued, json!({}), queued_inputs).await;
    assert!(matches!(refused, Err(StoreError::Invalid(_))), "{refused:?}");

    // The last step and the run's end commit together.
    let done = outcome(RunStatus::Completed, Some(StopReason::EndTurn), None);
    let reply = vec![message(Role::Assistant, "hello")];
    store.record_step(&ctx, agent.id, step(run.id, 1, 5, 1), reply, Some(done)).await.must("final step");
    let ended = store.get_run(&org, run.id).await.must("get ended");
    assert_eq!(
        (ended.status, ended.stop_reason, ended.steps.len()),
        (RunStatus::Completed, Some(StopReason::EndTurn), 1)
    );
    assert!(ended.completed_at.is_some());
    let not_final = outcome(RunStatus::Running, None, None);
    let bad =
        store.record_step(&ctx, agent.id, step(run.id, 2, 1, 1), vec![message(Role::Assistant, "x")], Some(not_final));
    assert!(matches!(bad.await, Err(StoreError::Invalid(_))));

    // A queued run appends its inputs when it starts, after whatever happened meanwhile.
    let later = queued(store.as_ref(), &ctx, agent.id).await;
    store.append_messages(&ctx, agent.id, vec![message(Role::User, "meanwhile")]).await.must("append");
    let (started, appended) =
        store.start_run(&ctx, later.id, vec![message(Role::User, "third")]).await.must("start with inputs");
    assert_eq!(started.status, RunStatus::Running);
    assert_eq!((appended[0].position, appended[0].run_id), (5, Some(later.id)));
    let listed = store.list_messages(&org, agent.id, &all_messages()).await.must("list").items;
    let contents: Vec<&str> = listed.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, ["first", "second", "hello", "meanwhile", "third"]);
}

pub async fn queue(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let me = store.instance();
    assert!(me > 0, "instance keys are positive");
    let ada = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let bob = store.create_agent(&ctx, bare_agent("Bob")).await.must("create agent");
    assert!(store.try_lock_agent(ada.id).await.must("lock"), "a free agent can be taken");
    store.unlock_agent(ada.id).await.must("unlock");

    // A new queued run is this process's: nobody else may claim it, and it is listed as its own to tell apart.
    let first = queued(store.as_ref(), &ctx, ada.id).await;
    assert_eq!(store.claim_queued_run().await.must("claim"), None, "an owned run is not in the queue");
    let stale = store.stale_runs(None, 10).await.must("stale runs");
    assert_eq!(stale.iter().map(|s| (s.run.id, s.owner)).collect::<Vec<_>>(), [(first.id, Some(me))]);
    assert_eq!(stale[0].org, org);

    // Released only by a caller that knows its owner; then claimed (once) and started by the claimer.
    assert!(!store.release_run(&org, first.id, Some(me.wrapping_add(1))).await.must("release"), "wrong owner");
    assert!(store.release_run(&org, first.id, Some(me)).await.must("release"));
    assert!(!store.release_run(&org, first.id, Some(me)).await.must("release again"), "already released");
    assert!(store.stale_runs(None, 10).await.must("stale").is_empty(), "an unowned queued run is not stale");
    assert_conflict(store.start_run(&ctx, first.id, Vec::new()).await);
    let (claimed_org, claimed) = store.claim_queued_run().await.must("claim").expect("the released run");
    assert_eq!((claimed_org, claimed.id, claimed.status), (org.clone(), first.id, RunStatus::Queued));
    assert_eq!(store.claim_queued_run().await.must("claim again"), None, "claimed once");
    store.start_run(&ctx, first.id, Vec::new()).await.must("the claimer starts it");

    // A queued run waits its turn behind its agent's earlier runs; another agent's does not.
    let second = queued(store.as_ref(), &ctx, ada.id).await;
    let third = queued(store.as_ref(), &ctx, ada.id).await;
    let other = queued(store.as_ref(), &ctx, bob.id).await;
    for run in [&second, &third, &other] {
        assert!(store.release_run(&org, run.id, Some(me)).await.must("release"));
    }
    let next = store.claim_queued_run().await.must("claim").expect("Bob's run");
    assert_eq!(next.1.id, other.id, "Ada's runs wait for her running one");
    assert_eq!(store.claim_queued_run().await.must("claim"), None);
    let done = outcome(RunStatus::Completed, Some(StopReason::EndTurn), None);
    store.finish_run(&org, first.id, done.clone()).await.must("finish");
    assert_eq!(store.claim_queued_run().await.must("claim").map(|(_, r)| r.id), Some(second.id), "oldest first");
    assert_eq!(store.claim_queued_run().await.must("claim"), None, "the third waits for the second");
    store.request_run_cancel(&org, second.id).await.must("cancel the second");
    assert_eq!(store.claim_queued_run().await.must("claim").map(|(_, r)| r.id), Some(third.id));

    // A running run is stale once the process that owns it is gone; here it is this process's own.
    let running =
        store.create_run(&ctx, bob.id, RunStatus::Running, json!({}), Vec::new()).await.must("create running").0;
    let stale = store.stale_runs(Some(bob.id), 10).await.must("stale of Bob");
    assert!(stale.iter().any(|s| s.run.id == running.id && s.owner == Some(me)), "{stale:?}");
    assert!(stale.iter().all(|s| s.run.agent_id == bob.id), "only Bob's: {stale:?}");
    store.finish_run(&org, running.id, done).await.must("finish");
    assert!(!store.stale_runs(Some(bob.id), 10).await.must("stale").iter().any(|s| s.run.id == running.id));
}
