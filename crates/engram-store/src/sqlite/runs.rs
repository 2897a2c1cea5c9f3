//! Runs and steps: creating a run, claiming it (`queued` → `running`), recording its steps together with the
//! messages they produced, cancelling and finishing it, and finding runs by status at start-up.
//!
//! Status changes are single guarded `UPDATE`s (`… WHERE status = 'queued'`), so two processes cannot both claim a
//! run. A run's version, as reported in [`StoreError::VersionConflict`], is its stage: 1 queued, 2 running, 3 ended.
//! Runs and steps are bookkeeping of the runtime, not agent state, so only the messages of a step are audited.

use serde_json::Value;
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

use engram_core::ValidationError;
use engram_core::audit::WriteContext;
use engram_core::id::{AgentId, RunId, StepId};
use engram_core::message::{Message, NewMessage};
use engram_core::org::OrgId;
use engram_core::run::{NewStep, Run, RunOutcome, RunStatus, Step, StopReason, Usage};

use super::rows::{self, col, int_as, micros, parsed, stored_time, time_col};
use super::writer::Durability;
use super::{SqliteStore, agents, messages};
use crate::error::StoreError;

pub(super) const RUN_COLUMNS: &str =
    "id, org_id, agent_id, status, stop_reason, error, input, cancel_requested, created_at, completed_at";

/// How durable a run's write must be: one that leaves the run in progress is deferred (the run's caller hears of it
/// only when the run ends, and the end's durable commit makes it durable too); any other is durable.
fn in_progress(running_after: bool) -> Durability {
    if running_after { Durability::Deferred } else { Durability::Durable }
}

pub(super) async fn create(
    store: &SqliteStore,
    ctx: &WriteContext,
    agent: AgentId,
    status: RunStatus,
    input: Value,
    inputs: Vec<NewMessage>,
) -> Result<(Run, Vec<Message>), StoreError> {
    if !matches!(status, RunStatus::Queued | RunStatus::Running) {
        return Err(
            ValidationError::new("status", format!("a new run is queued or running, not {}", status.as_str())).into()
        );
    }
    if status == RunStatus::Queued && !inputs.is_empty() {
        return Err(ValidationError::new("inputs", "a queued run gets its input messages when it starts").into());
    }
    let (job_store, ctx) = (store.clone(), ctx.clone());
    store
        .write_with(in_progress(status == RunStatus::Running), move |conn| {
            Box::pin(async move { create_in(conn, &job_store, &ctx, agent, status, input, inputs).await })
        })
        .await
}

/// [`create`]'s work, run by the writer: the run (if the agent is the organisation's) and its input messages.
async fn create_in(
    conn: &mut SqliteConnection,
    store: &SqliteStore,
    ctx: &WriteContext,
    agent: AgentId,
    status: RunStatus,
    input: Value,
    inputs: Vec<NewMessage>,
) -> Result<(Run, Vec<Message>), StoreError> {
    let stamp = store.now();
    let now = stored_time(stamp);
    let agent_id = agent.to_string();
    let id = RunId::from_ulid(store.next_ulid());
    // Inserted only if the agent is the organisation's: the existence check and the insert are one statement.
    let inserted = sqlx::query(
        "INSERT INTO runs (id, org_id, agent_id, status, input, cancel_requested, created_at, owner) \
         SELECT ?1, ?2, ?3, ?4, ?5, 0, ?6, ?7 WHERE EXISTS (SELECT 1 FROM agents WHERE org_id = ?2 AND id = ?3)",
    )
    .bind(id.to_string())
    .bind(ctx.org.as_str())
    .bind(&agent_id)
    .bind(status.as_str())
    .bind(input.to_string())
    .bind(micros(now))
    .bind(store.instance())
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::not_found("agent", &agent_id));
    }
    let appended = append_inputs(conn, store, ctx, stamp, agent, id, inputs).await?;
    let run = Run {
        id,
        agent_id: agent,
        status,
        stop_reason: None,
        error: None,
        usage: Usage::default(),
        steps: Vec::new(),
        input,
        cancel_requested: false,
        created_at: now,
        completed_at: None,
    };
    Ok((run, appended))
}

/// Appends a run's input messages, stamped with the run.
async fn append_inputs(
    conn: &mut SqliteConnection,
    store: &SqliteStore,
    ctx: &WriteContext,
    now: chrono::DateTime<chrono::Utc>,
    agent: AgentId,
    run: RunId,
    inputs: Vec<NewMessage>,
) -> Result<Vec<Message>, StoreError> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let inputs = inputs.into_iter().map(|m| NewMessage { run_id: Some(run), ..m }).collect();
    let run_ctx = WriteContext { run_id: Some(run), ..ctx.clone() };
    messages::append_in(conn, store, &run_ctx, now, agent, inputs).await
}

pub(super) async fn get(store: &SqliteStore, org: &OrgId, id: RunId) -> Result<Run, StoreError> {
    let mut conn = store.read().await?;
    load(&mut conn, org, &id.to_string()).await
}

pub(super) async fn start(
    store: &SqliteStore,
    ctx: &WriteContext,
    id: RunId,
    inputs: Vec<NewMessage>,
) -> Result<(Run, Vec<Message>), StoreError> {
    let (job_store, ctx) = (store.clone(), ctx.clone());
    store
        .write_with(in_progress(true), move |conn| {
            Box::pin(async move { start_in(conn, &job_store, &ctx, id, inputs).await })
        })
        .await
}

/// [`start`]'s work, run by the writer.
async fn start_in(
    conn: &mut SqliteConnection,
    store: &SqliteStore,
    ctx: &WriteContext,
    id: RunId,
    inputs: Vec<NewMessage>,
) -> Result<(Run, Vec<Message>), StoreError> {
    let org = &ctx.org;
    let id_text = id.to_string();
    let run = load(conn, org, &id_text).await?;
    // Only the owner starts a queued run: one released to the queue belongs to whoever claims it.
    let started =
        sqlx::query("UPDATE runs SET status = ?1 WHERE org_id = ?2 AND id = ?3 AND status = 'queued' AND owner = ?4")
            .bind(RunStatus::Running.as_str())
            .bind(org.as_str())
            .bind(&id_text)
            .bind(store.instance())
            .execute(&mut *conn)
            .await?;
    if started.rows_affected() == 0 {
        return Err(StoreError::VersionConflict { expected: stage(RunStatus::Queued), actual: stage(run.status) });
    }
    let appended = append_inputs(conn, store, ctx, store.now(), run.agent_id, id, inputs).await?;
    let run = load(conn, org, &id_text).await?;
    Ok((run, appended))
}

pub(super) async fn record_step(
    store: &SqliteStore,
    ctx: &WriteContext,
    agent: AgentId,
    step: NewStep,
    messages: Vec<NewMessage>,
    finish: Option<RunOutcome>,
) -> Result<Vec<Message>, StoreError> {
    if let Some(outcome) = &finish {
        check_final(outcome)?;
    }
    let (job_store, ctx) = (store.clone(), ctx.clone());
    store
        .write_with(in_progress(finish.is_none()), move |conn| {
            Box::pin(async move { record_step_in(conn, &job_store, &ctx, agent, step, messages, finish).await })
        })
        .await
}

/// [`record_step`]'s work, run by the writer: the step, its messages and, if it is the last, the run's end.
async fn record_step_in(
    conn: &mut SqliteConnection,
    store: &SqliteStore,
    ctx: &WriteContext,
    agent: AgentId,
    step: NewStep,
    messages: Vec<NewMessage>,
    finish: Option<RunOutcome>,
) -> Result<Vec<Message>, StoreError> {
    let now = store.now();
    let agent_id = agent.to_string();
    let run_id = step.run_id.to_string();
    // The step's insert checks the agent and that the run is the agent's (this runs on every step, so the checks
    // cost no round trip of their own); only when it inserts nothing is it asked why.
    let step_id = step.id.to_string();
    let inserted = sqlx::query(
        "INSERT INTO steps (id, run_id, org_id, model, prompt_tokens, completion_tokens, duration_ms, created_at) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 \
         WHERE EXISTS (SELECT 1 FROM agents WHERE org_id = ?3 AND id = ?9) \
           AND (SELECT agent_id FROM runs WHERE org_id = ?3 AND id = ?2) = ?9",
    )
    .bind(&step_id)
    .bind(&run_id)
    .bind(ctx.org.as_str())
    .bind(&step.model)
    .bind(to_i64("prompt_tokens", step.usage.prompt_tokens)?)
    .bind(to_i64("completion_tokens", step.usage.completion_tokens)?)
    .bind(to_i64("duration_ms", step.duration_ms)?)
    .bind(micros(now))
    .bind(&agent_id)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(done) if done.rows_affected() == 1 => {}
        Ok(_) => return Err(missing_step_owner(conn, &ctx.org, &agent_id, &run_id).await),
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            return Err(StoreError::AlreadyExists(format!("step `{step_id}` is already recorded")));
        }
        Err(error) => return Err(error.into()),
    }
    // The messages and their audit events belong to this step whatever the caller filled in.
    let messages =
        messages.into_iter().map(|m| NewMessage { run_id: Some(step.run_id), step_id: Some(step.id), ..m }).collect();
    let mut step_ctx = ctx.clone();
    step_ctx.run_id = step_ctx.run_id.or(Some(step.run_id));
    step_ctx.step_id = step_ctx.step_id.or(Some(step.id));
    let appended = messages::append_in(conn, store, &step_ctx, now, agent, messages).await?;
    if let Some(outcome) = finish {
        end_in(conn, store, &ctx.org, &run_id, &outcome).await?;
    }
    Ok(appended)
}

/// Why a step could not be recorded: the agent is not the organisation's, or the run is not the agent's.
async fn missing_step_owner(conn: &mut SqliteConnection, org: &OrgId, agent_id: &str, run_id: &str) -> StoreError {
    match agents::require_exists(conn, org, agent_id).await {
        Ok(()) => StoreError::not_found("run", run_id),
        Err(error) => error,
    }
}

fn check_final(outcome: &RunOutcome) -> Result<(), StoreError> {
    if outcome.status.is_finished() {
        return Ok(());
    }
    let status = outcome.status.as_str();
    Err(ValidationError::new("status", format!("a run ends completed, failed or cancelled, not {status}")).into())
}

/// Ends the run `id` unless it has ended already.
async fn end_in(
    conn: &mut SqliteConnection,
    store: &SqliteStore,
    org: &OrgId,
    id: &str,
    outcome: &RunOutcome,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE runs SET status = ?1, stop_reason = ?2, error = ?3, completed_at = ?4 \
         WHERE org_id = ?5 AND id = ?6 AND status IN ('queued', 'running')",
    )
    .bind(outcome.status.as_str())
    .bind(outcome.stop_reason.map(StopReason::as_str))
    .bind(outcome.error.as_deref())
    .bind(micros(store.now()))
    .bind(org.as_str())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn finish(
    store: &SqliteStore,
    org: &OrgId,
    id: RunId,
    outcome: RunOutcome,
) -> Result<Run, StoreError> {
    check_final(&outcome)?;
    let (job_store, org) = (store.clone(), org.clone());
    store
        .write(move |conn| {
            Box::pin(async move {
                let id_text = id.to_string();
                let run = load(conn, &org, &id_text).await?;
                if run.status.is_finished() {
                    return Ok(run);
                }
                end_in(conn, &job_store, &org, &id_text, &outcome).await?;
                load(conn, &org, &id_text).await
            })
        })
        .await
}

pub(super) async fn request_cancel(store: &SqliteStore, org: &OrgId, id: RunId) -> Result<Run, StoreError> {
    let (job_store, org) = (store.clone(), org.clone());
    store.write(move |conn| Box::pin(async move { request_cancel_in(conn, &job_store, &org, id).await })).await
}

/// [`request_cancel`]'s work, run by the writer.
async fn request_cancel_in(
    conn: &mut SqliteConnection,
    store: &SqliteStore,
    org: &OrgId,
    id: RunId,
) -> Result<Run, StoreError> {
    let id_text = id.to_string();
    let run = load(conn, org, &id_text).await?;
    match run.status {
        RunStatus::Queued => {
            sqlx::query(
                "UPDATE runs SET status = ?1, stop_reason = ?2, cancel_requested = 1, completed_at = ?3 \
                 WHERE org_id = ?4 AND id = ?5",
            )
            .bind(RunStatus::Cancelled.as_str())
            .bind(StopReason::Cancelled.as_str())
            .bind(micros(store.now()))
            .bind(org.as_str())
            .bind(&id_text)
            .execute(&mut *conn)
            .await?;
        }
        RunStatus::Running if !run.cancel_requested => {
            sqlx::query("UPDATE runs SET cancel_requested = 1 WHERE org_id = ?1 AND id = ?2")
                .bind(org.as_str())
                .bind(&id_text)
                .execute(&mut *conn)
                .await?;
        }
        _ => return Ok(run),
    }
    load(conn, org, &id_text).await
}

pub(super) async fn with_status(
    store: &SqliteStore,
    status: RunStatus,
    limit: u32,
) -> Result<Vec<(OrgId, Run)>, StoreError> {
    let mut conn = store.read().await?;
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE status = ?1 ORDER BY created_at, id LIMIT ?2");
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(status.as_str())
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
    let mut runs = Vec::with_capacity(found.len());
    for row in &found {
        let org = parsed(row, "org_id", OrgId::parse)?;
        let mut run = run_row(row)?;
        add_steps(&mut conn, &org, &mut run).await?;
        runs.push((org, run));
    }
    Ok(runs)
}

/// Where a status is in a run's life, reported as the run's version in conflicts.
fn stage(status: RunStatus) -> i64 {
    match status {
        RunStatus::Queued => 1,
        RunStatus::Running => 2,
        RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled => 3,
    }
}

fn to_i64(field: &str, n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| ValidationError::new(field, format!("{n} is too large")).into())
}

/// The run `id` of `org` with its steps, or `NotFound("run")`.
async fn load(conn: &mut SqliteConnection, org: &OrgId, id: &str) -> Result<Run, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE org_id = ?1 AND id = ?2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str()).bind(id).fetch_optional(&mut *conn).await?;
    let Some(row) = row else {
        return Err(StoreError::not_found("run", id));
    };
    let mut run = run_row(&row)?;
    add_steps(conn, org, &mut run).await?;
    Ok(run)
}

/// Fills in the run's steps, in the order they were recorded, and their summed usage.
pub(super) async fn add_steps(conn: &mut SqliteConnection, org: &OrgId, run: &mut Run) -> Result<(), StoreError> {
    let found = sqlx::query(
        "SELECT id, model, prompt_tokens, completion_tokens, duration_ms FROM steps \
         WHERE org_id = ?1 AND run_id = ?2 ORDER BY rowid",
    )
    .bind(org.as_str())
    .bind(run.id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    for row in &found {
        let step = Step {
            id: parsed(row, "id", StepId::parse)?,
            run_id: run.id,
            model: col(row, "model")?,
            usage: Usage {
                prompt_tokens: int_as(row, "prompt_tokens")?,
                completion_tokens: int_as(row, "completion_tokens")?,
            },
            duration_ms: int_as(row, "duration_ms")?,
        };
        run.usage += step.usage;
        run.steps.push(step);
    }
    Ok(())
}

/// A run row selected with [`RUN_COLUMNS`], without its steps.
pub(super) fn run_row(row: &SqliteRow) -> Result<Run, StoreError> {
    let status: String = col(row, "status")?;
    let stop_reason: Option<String> = col(row, "stop_reason")?;
    let stop_reason = stop_reason
        .map(|text| StopReason::parse(&text).ok_or_else(|| rows::corrupt("stop_reason", &text)))
        .transpose()?;
    let input: String = col(row, "input")?;
    let completed_at: Option<i64> = col(row, "completed_at")?;
    Ok(Run {
        id: parsed(row, "id", RunId::parse)?,
        agent_id: parsed(row, "agent_id", AgentId::parse)?,
        status: RunStatus::parse(&status).ok_or_else(|| rows::corrupt("status", &status))?,
        stop_reason,
        error: col(row, "error")?,
        usage: Usage::default(),
        steps: Vec::new(),
        input: serde_json::from_str(&input).map_err(|e| rows::corrupt("input", e))?,
        cancel_requested: col(row, "cancel_requested")?,
        created_at: time_col(row, "created_at")?,
        completed_at: completed_at.map(|_| time_col(row, "completed_at")).transpose()?,
    })
}
