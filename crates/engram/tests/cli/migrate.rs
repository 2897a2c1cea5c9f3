//! `engram migrate`: a SQLite data directory of a few thousand rows (three agents with their own and a shared block
//! and block edits, 2,100 passages with embeddings, 1,050 messages, some embedded, a run with steps, idempotency
//! records, two organisations' audit logs), filled through the store API, copied into a fresh PostgreSQL database by
//! the real binary, then read through the store API on both sides: everything listed is equal, text and vector
//! search find the passages, the audit logs are equal and the target takes new writes. A second run changes
//! nothing; a target changed after a copy is refused untouched; failures are one clear line.

use std::path::Path;
use std::str::FromStr;

use serde_json::json;
use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;

use engram_core::agent::{Agent, AgentFilter, NewAgent};
use engram_core::audit::WriteContext;
use engram_core::block::BlockPatch;
use engram_core::id::{AgentId, RunId, StepId};
use engram_core::message::{Message, Role, ToolCall, ToolStatus};
use engram_core::org::OrgId;
use engram_core::passage::{Embedding, Passage};
use engram_core::run::{NewStep, RunOutcome, RunStatus, StopReason, Usage};
use engram_core::search::{MessageSearch, PassageFilter, PassageQuery};
use engram_store::{EmbeddingTarget, PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store};
use engram_testkit::conformance::fixtures::{all_events, all_messages, block, config, ctx, label, org, page, passage};
use engram_testkit::postgres::{PgVersion, TestDatabase};

use crate::support::{Run, engram_run};

const MODEL: &str = "local/all-minilm-l6-v2";
const DIM: usize = 384;
const PASSAGES_PER_AGENT: usize = 700;
const MESSAGES_PER_AGENT: usize = 350;

/// A unit vector that depends on `seed` only (no two seeds alike).
fn vector(seed: usize) -> Vec<f32> {
    let raw: Vec<f32> = (0..DIM).map(|d| ((seed * 7919 + d * 104_729) as f32 * 0.001).sin()).collect();
    let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
    raw.iter().map(|x| x / norm).collect()
}

fn embedding(seed: usize) -> Embedding {
    Embedding { model: MODEL.into(), vector: vector(seed) }
}

/// The passage text with a word of its own (`marker<agent>x<n>`), so a text search can find exactly it.
fn passage_text(agent: usize, n: usize) -> String {
    format!("Note {n} of agent {agent}: the migration keeps marker{agent}x{n} and its embedding.")
}

/// Fills `dir` with a few thousand rows through the store API; returns the agents of the default organisation.
async fn fill(dir: &Path) -> Vec<AgentId> {
    let store = SqliteStore::open(dir, SqliteOptions::default()).await.unwrap();
    let default = OrgId::default_org();
    let write = ctx(&default);
    let shared = store.create_block(&write, block("team", "We ship on Fridays.")).await.unwrap();
    let mut agents = Vec::new();
    for a in 0..3 {
        let mut config = config(&format!("agent-{a}"));
        config.tags = vec![engram_testkit::conformance::fixtures::tag("migrated")];
        let new = NewAgent {
            config,
            blocks: vec![block("persona", "I remember."), block("human", "Someone.")],
            block_ids: vec![shared.id],
        };
        let agent = store.create_agent(&write, new).await.unwrap();
        for edit in 0..3 {
            let patch = BlockPatch { value: Some(format!("Someone, edit {edit}.")), ..BlockPatch::default() };
            store.update_agent_block(&write, agent.id, &label("human"), patch, None).await.unwrap();
        }
        for chunk in 0..PASSAGES_PER_AGENT / 350 {
            let batch = (chunk * 350..(chunk + 1) * 350)
                .map(|n| {
                    let mut new =
                        passage(&passage_text(a, n), &["note", if n % 2 == 0 { "even" } else { "odd" }], None);
                    new.embedding = Some(embedding(a * 10_000 + n));
                    new
                })
                .collect();
            store.insert_passages(&write, agent.id, batch).await.unwrap();
        }
        for chunk in 0..MESSAGES_PER_AGENT / 50 {
            let batch = (chunk * 50..(chunk + 1) * 50)
                .map(|n| {
                    let role = if n % 2 == 0 { Role::User } else { Role::Assistant };
                    engram_core::message::NewMessage::text(role, format!("Message {n} to agent {a} about tea{n}"))
                })
                .collect();
            store.append_messages(&write, agent.id, batch).await.unwrap();
        }
        // Some messages embedded, as the background indexer would.
        let pending = store.pending_embeddings(Some((&default, agent.id)), 100).await.unwrap();
        let items: Vec<(EmbeddingTarget, Embedding)> =
            pending.iter().enumerate().map(|(n, p)| (p.target, embedding(a * 10_000 + 5_000 + n))).collect();
        assert_eq!(store.set_embeddings(items).await.unwrap(), 100);
        agents.push(agent.id);
    }
    run_with_steps(&store, &default, agents[0]).await;
    idempotency_record(&store, &default, "key-1", 201, b"{\"id\":\"agent_x\"}").await;
    idempotency_record(&store, &default, "key-2", 200, b"").await;

    // A second organisation, so there are two audit chains.
    let acme = org("acme");
    let new = NewAgent { config: config("acme-agent"), blocks: vec![block("persona", "Acme.")], block_ids: Vec::new() };
    let other = store.create_agent(&ctx(&acme), new).await.unwrap();
    store.insert_passages(&ctx(&acme), other.id, vec![passage("Acme's only note.", &[], None)]).await.unwrap();
    store.close().await;
    agents
}

/// A run with two steps, a tool call and its result, finished.
async fn run_with_steps(store: &SqliteStore, org: &OrgId, agent: AgentId) {
    let ctx = ctx(org);
    let input = json!({"messages": [{"role": "user", "content": "remember tea"}]});
    let user = engram_core::message::NewMessage::text(Role::User, "remember tea");
    let (run, _) = store.create_run(&ctx, agent, RunStatus::Running, input, vec![user]).await.unwrap();
    for n in 1..=2u32 {
        let step = StepId::parse("step", &format!("step_01ARZ3NDEKTSV4RRFFQ69G5F{n:02}")).unwrap();
        let step_ctx = WriteContext { run_id: Some(run.id), step_id: Some(step), ..ctx.clone() };
        let mut call = engram_core::message::NewMessage::text(Role::Assistant, "");
        call.run_id = Some(run.id);
        call.step_id = Some(step);
        let messages = if n == 1 {
            call.tool_calls = vec![ToolCall {
                id: "call_1".into(),
                name: "archival_memory_insert".into(),
                arguments: json!({"text": "tea"}),
            }];
            let mut result = engram_core::message::NewMessage::text(Role::Tool, "stored");
            result.tool_call_id = Some("call_1".into());
            result.tool_status = Some(ToolStatus::Ok);
            result.run_id = Some(run.id);
            result.step_id = Some(step);
            vec![call, result]
        } else {
            call.content = "Noted: tea.".into();
            vec![call]
        };
        let finish = (n == 2).then_some(RunOutcome {
            status: RunStatus::Completed,
            stop_reason: Some(StopReason::EndTurn),
            error: None,
        });
        let new_step = NewStep {
            id: step,
            run_id: run.id,
            model: "openai/gpt-4o-mini".into(),
            usage: Usage { prompt_tokens: 100 * u64::from(n), completion_tokens: 10 },
            duration_ms: 250,
        };
        store.record_step(&step_ctx, agent, new_step, messages, finish).await.unwrap();
    }
}

/// An idempotency record as the HTTP layer leaves it after a request.
async fn idempotency_record(store: &SqliteStore, org: &OrgId, key: &str, status: u16, body: &[u8]) {
    let long_ago = chrono::DateTime::from_timestamp(0, 0).unwrap();
    store.idempotency_begin(org, key, "fingerprint", long_ago).await.unwrap();
    store.idempotency_finish(org, key, status, body).await.unwrap();
}

/// `engram migrate [--json] --from DIR --to URL`.
fn migrate(dir: &Path, url: &str, json: bool) -> Run {
    let mut args = vec!["migrate", "--from", dir.to_str().unwrap(), "--to", url];
    if json {
        args.push("--json");
    }
    tokio::task::block_in_place(|| engram_run(&args, &[]))
}

/// Every copied table's content, as one fingerprint per table (order-independent).
async fn fingerprints(url: &str) -> Vec<(String, i64, String)> {
    let mut conn = PgConnectOptions::from_str(url).unwrap().connect().await.unwrap();
    let mut out = Vec::new();
    for table in [
        "orgs",
        "agents",
        "blocks",
        "agent_blocks",
        "passages",
        "messages",
        "runs",
        "steps",
        "audit_events",
        "idempotency_keys",
    ] {
        let sql =
            format!("SELECT COUNT(*), COALESCE(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t");
        let (count, hash): (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(&mut conn).await.unwrap();
        out.push((table.to_owned(), count, hash));
    }
    out
}

/// Leaves the target as a copy stopped after its 1,000th passage would: later passages and every table after
/// `passages` are missing. Returns how many rows went.
async fn interrupt(url: &str) -> u64 {
    let mut conn = PgConnectOptions::from_str(url).unwrap().connect().await.unwrap();
    let mut deleted = 0;
    for table in ["idempotency_keys", "audit_events", "steps", "runs", "messages"] {
        let sql = format!("DELETE FROM {table}");
        deleted += sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap().rows_affected();
    }
    let passages = sqlx::query("DELETE FROM passages WHERE pk > 1000").execute(&mut conn).await.unwrap();
    deleted + passages.rows_affected()
}

async fn all_agents(store: &dyn Store, org: &OrgId) -> Vec<Agent> {
    store.list_agents(org, &AgentFilter::default(), &page(1000, None)).await.unwrap().items
}

async fn all_passages(store: &dyn Store, org: &OrgId, agent: AgentId) -> Vec<Passage> {
    let mut passages = Vec::new();
    let mut after = None;
    loop {
        let got = store.list_passages(org, agent, &page(1000, after)).await.unwrap();
        passages.extend(got.items);
        match got.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => return passages,
        }
    }
}

async fn history(store: &dyn Store, org: &OrgId, agent: AgentId) -> Vec<Message> {
    let got = store.list_messages(org, agent, &all_messages()).await.unwrap();
    assert!(got.next_cursor.is_none());
    got.items
}

fn ids<T>(found: &[engram_core::search::Scored<T>], id: impl Fn(&T) -> String) -> Vec<String> {
    found.iter().map(|s| id(&s.item)).collect()
}

/// What a user sees through the store is the same on both sides; search works on the target.
async fn assert_same_view(source: &dyn Store, target: &dyn Store, agents: &[AgentId]) {
    for org in [OrgId::default_org(), org("acme")] {
        assert_eq!(all_agents(target, &org).await, all_agents(source, &org).await, "agents of {org:?}");
        assert_eq!(
            target.list_blocks(&org, &page(1000, None)).await.unwrap().items,
            source.list_blocks(&org, &page(1000, None)).await.unwrap().items
        );
        let target_events = all_events(target, &org).await;
        assert_eq!(target_events, all_events(source, &org).await, "audit events of {org:?}");
        assert!(!target_events.is_empty());
    }
    let org = OrgId::default_org();
    for (a, agent) in agents.iter().enumerate() {
        assert_eq!(
            target.list_agent_blocks(&org, *agent).await.unwrap(),
            source.list_agent_blocks(&org, *agent).await.unwrap()
        );
        assert_eq!(history(target, &org, *agent).await, history(source, &org, *agent).await);
        let passages = all_passages(target, &org, *agent).await;
        assert_eq!(passages.len(), PASSAGES_PER_AGENT);
        assert_eq!(passages, all_passages(source, &org, *agent).await);
        assert_eq!(
            target.load_window(&org, *agent, 10).await.unwrap(),
            source.load_window(&org, *agent, 10).await.unwrap()
        );

        // The embedding arrived whole.
        let sample = passages[123].id;
        let stored = target.get_passage(&org, *agent, sample, true).await.unwrap();
        assert_eq!(stored.embedding, Some(embedding(a * 10_000 + 123)));

        // Text search (tsvector) finds a passage by its own word.
        let query = PassageQuery { text: format!("marker{a}x417"), k: 5, filter: PassageFilter::default() };
        let found = target.search_passages_text(&org, *agent, &query).await.unwrap();
        assert_eq!(found.first().map(|s| s.item.text.clone()), Some(passage_text(a, 417)));

        // Vector search ranks like the source: the passage whose vector is the query first.
        let query = PassageQuery { text: String::new(), k: 5, filter: PassageFilter::default() };
        let near = embedding(a * 10_000 + 42);
        let on_target = target.search_passages_vector(&org, *agent, &query, &near).await.unwrap();
        let on_source = source.search_passages_vector(&org, *agent, &query, &near).await.unwrap();
        assert_eq!(on_target[0].item.text, passage_text(a, 42));
        assert_eq!(ids(&on_target, |p| p.id.to_string()), ids(&on_source, |p| p.id.to_string()));

        // Recall: text and vector search over messages.
        let search = MessageSearch { text: format!("tea{}", 17), role: None, from: None, to: None, limit: 5 };
        let found = target.search_messages_text(&org, *agent, &search).await.unwrap();
        assert!(found.iter().any(|s| s.item.content.ends_with("tea17")), "{found:?}");
        let search = MessageSearch { text: String::new(), role: None, from: None, to: None, limit: 3 };
        let near = embedding(a * 10_000 + 5_000 + 7);
        let on_target = target.search_messages_vector(&org, *agent, &search, &near).await.unwrap();
        let on_source = source.search_messages_vector(&org, *agent, &search, &near).await.unwrap();
        assert_eq!(ids(&on_target, |m| m.id.to_string()), ids(&on_source, |m| m.id.to_string()));
    }
    let runs = source.runs_with_status(RunStatus::Completed, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    let run_id: RunId = runs[0].1.id;
    let on_target = target.get_run(&org, run_id).await.unwrap();
    assert_eq!(on_target, source.get_run(&org, run_id).await.unwrap());
    assert_eq!(on_target.steps.len(), 2);
}

/// The copied database is a working engram database: new rows get fresh keys and the audit chain goes on.
async fn assert_target_takes_writes(target: &dyn Store, agent: AgentId) {
    let org = OrgId::default_org();
    let before = all_events(target, &org).await.len() as i64;
    let mut new = passage("Written after the migration.", &[], None);
    new.embedding = Some(embedding(99_999));
    target.insert_passages(&ctx(&org), agent, vec![new]).await.unwrap();
    let message = engram_core::message::NewMessage::text(Role::User, "after the move");
    let appended = target.append_messages(&ctx(&org), agent, vec![message]).await.unwrap();
    assert_eq!(appended[0].position, MESSAGES_PER_AGENT as i64 + 1, "positions continue");
    let events = all_events(target, &org).await;
    assert_eq!(events.last().map(|e| e.seq), Some(before + 2), "seq continues without a gap");
}

async fn moves_to(version: PgVersion, vector_path: &str) {
    let dir = tempfile::tempdir().unwrap();
    let agents = fill(dir.path()).await;
    let database = TestDatabase::create(version).await;

    let started = std::time::Instant::now();
    let first = migrate(dir.path(), database.url(), true);
    let took = started.elapsed();
    let report = first.json();
    assert_eq!(report["vector_path"], vector_path, "{report:#}");
    assert_eq!(report["verified"], true);
    let tables = report["tables"].as_array().unwrap();
    let rows = |name: &str| {
        tables.iter().find(|t| t["table"] == name).unwrap_or_else(|| panic!("{name}"))["source_rows"].clone()
    };
    // The run added the user's message, a tool call with its result and the reply.
    assert_eq!(rows("passages"), 3 * PASSAGES_PER_AGENT + 1);
    assert_eq!(rows("messages"), 3 * MESSAGES_PER_AGENT + 4);
    assert_eq!(rows("agents"), 4);
    assert_eq!(rows("steps"), 2);
    assert_eq!(rows("idempotency_keys"), 2);
    for table in tables {
        assert_eq!(table["copied"], table["source_rows"], "{table}");
        assert_eq!(table["target_rows"], table["source_rows"], "{table}");
        assert_eq!(table["skipped"], 0, "{table}");
    }
    let total: u64 = tables.iter().map(|t| t["source_rows"].as_u64().unwrap()).sum();
    assert!(total > 5_000, "a few thousand rows: {total}");
    assert_eq!(report["copied"], total);
    eprintln!("{}: copied and verified {total} rows in {took:.2?}", version.name());
    let audit = report["audit"].as_array().unwrap();
    let orgs: Vec<&str> = audit.iter().map(|c| c["org"].as_str().unwrap()).collect();
    assert_eq!(orgs, ["acme", "default"]);
    assert!(audit[1]["events"].as_u64().unwrap() > 3_000, "{audit:?}");
    assert!(!first.stdout.contains("postgres://") && !first.stderr.contains("postgres://"));

    let copied = fingerprints(database.url()).await;
    let second = migrate(dir.path(), database.url(), true).json();
    assert_eq!(second["copied"], 0, "{second:#}");
    assert_eq!(second["skipped"], total);
    assert_eq!(fingerprints(database.url()).await, copied, "a second run changes nothing");

    // A copy interrupted in the middle of the passages (the tables after them not reached yet) is completed.
    let deleted = interrupt(database.url()).await;
    let third = migrate(dir.path(), database.url(), true).json();
    assert_eq!(third["copied"], deleted, "{third:#}");
    assert_eq!(third["skipped"], total - deleted);
    assert_eq!(fingerprints(database.url()).await, copied, "the completed copy is the whole copy");

    let source = SqliteStore::open(dir.path(), SqliteOptions::default()).await.unwrap();
    let target = PostgresStore::open(database.url(), PostgresOptions::default()).await.unwrap();
    assert_same_view(&source, &target, &agents).await;
    assert_target_takes_writes(&target, agents[1]).await;
    source.close().await;
    target.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_moves_to_postgres_and_a_second_run_changes_nothing() {
    moves_to(PgVersion::Pg16, "pgvector").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_moves_to_postgres_without_pgvector() {
    moves_to(PgVersion::Pg15, "exact").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_changed_after_a_copy_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).await.unwrap();
    let org = OrgId::default_org();
    let agent = store
        .create_agent(
            &ctx(&org),
            NewAgent { config: config("kept"), blocks: vec![block("human", "Ada")], block_ids: vec![] },
        )
        .await
        .unwrap();
    store.insert_passages(&ctx(&org), agent.id, vec![passage("First note.", &[], None)]).await.unwrap();
    store.close().await;
    let database = TestDatabase::create(PgVersion::Pg16).await;
    let stdout = migrate(dir.path(), database.url(), false).ok().to_owned();
    assert!(stdout.contains("TABLE") && stdout.contains("passages"), "{stdout}");
    assert!(stdout.contains("audit chain of default: seq 1..3 without gaps"), "{stdout}");

    // Someone writes to the target; the source goes on too.
    let mut conn = PgConnectOptions::from_str(database.url()).unwrap().connect().await.unwrap();
    let block_id: String = sqlx::query_scalar("UPDATE blocks SET value = 'Changed in PostgreSQL' RETURNING id")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).await.unwrap();
    store
        .create_agent(&ctx(&org), NewAgent { config: config("later"), blocks: vec![], block_ids: vec![] })
        .await
        .unwrap();
    store.close().await;

    let before = fingerprints(database.url()).await;
    let run = migrate(dir.path(), database.url(), false);
    let stderr = run.failed();
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(&format!("`blocks` row {block_id}")), "{stderr}");
    assert!(stderr.contains("`value` is `Changed in PostgreSQL` in the target but `Ada` in the source"), "{stderr}");
    assert!(stderr.contains("nothing was copied"), "{stderr}");
    assert_eq!(fingerprints(database.url()).await, before, "the refused run wrote nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_one_clear_line_without_the_password() {
    let missing = tempfile::tempdir().unwrap();
    let url = "postgres://engram:s3cret@127.0.0.1:1/engram";
    let run = migrate(&missing.path().join("nothing-here"), url, false);
    let stderr = run.failed();
    assert!(stderr.contains("no engram data in") && stderr.contains("engram.db does not exist"), "{stderr}");
    assert!(!missing.path().join("nothing-here").exists(), "the source directory is not created");

    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(dir.path(), SqliteOptions::default()).await.unwrap().close().await;
    let run = migrate(dir.path(), url, false);
    let stderr = run.failed();
    assert!(stderr.contains("cannot connect to PostgreSQL at 127.0.0.1:1/engram"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");

    let run = migrate(dir.path(), "mysql://engram:s3cret@127.0.0.1/engram", false);
    let stderr = run.failed();
    assert!(stderr.contains("--to must be a postgres:// URL") && !stderr.contains("s3cret"), "{stderr}");
}
