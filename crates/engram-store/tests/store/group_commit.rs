//! Group commit seen from outside: many concurrent writers all succeed and share commits, the audit log stays
//! gap-free, and a write that fails (a stale `If-Match`, a value over the block's limit) leaves no trace while the
//! writes queued with it commit.

use std::sync::Arc;

use engram_core::agent::NewAgent;
use engram_core::block::BlockPatch;
use engram_core::message::Role;
use engram_store::{SqliteStore, Store, StoreError};
use engram_testkit::conformance::fixtures::{
    Must, all_events, all_messages, assert_gap_free, block, config, ctx, label, message, new_agent, org, small_block,
};

use super::support::{check_message_search, open};

const TASKS: usize = 64;
const ROUNDS: usize = 8;
const AGENTS: usize = 4;

fn set_value(value: &str) -> BlockPatch {
    BlockPatch { value: Some(value.into()), ..BlockPatch::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_all_commit_in_shared_commits_with_a_gap_free_audit_log() {
    let tmp = tempfile::tempdir().must("temp dir");
    let sqlite = open(tmp.path()).await;
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let org = org("acme");
    let mut agents = Vec::new();
    for i in 0..AGENTS {
        agents.push(store.create_agent(&ctx(&org), new_agent(&format!("A{i}"))).await.must("create agent").id);
    }
    let before = sqlite.commit_stats();

    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (store, org, agent) = (store.clone(), org.clone(), agents[t % AGENTS]);
        tasks.push(tokio::spawn(async move {
            let ctx = ctx(&org);
            for i in 0..ROUNDS {
                let text = format!("task {t} message {i}");
                store.append_messages(&ctx, agent, vec![message(Role::User, &text)]).await.must("append");
                if i % 2 == 0 {
                    let patch = set_value(&format!("edited by task {t} in round {i}"));
                    store.update_agent_block(&ctx, agent, &label("human"), patch, None).await.must("edit block");
                }
            }
        }));
    }
    for task in tasks {
        task.await.must("writer task");
    }

    let edits_per_agent = TASKS / AGENTS * ROUNDS / 2;
    for agent in &agents {
        let page = store.list_messages(&org, *agent, &all_messages()).await.must("list messages");
        assert_eq!(page.items.len(), TASKS / AGENTS * ROUNDS);
        assert!(page.items.iter().enumerate().all(|(i, m)| m.position == i as i64 + 1), "positions are gap-free");
        let human = store.get_agent_block(&org, *agent, &label("human")).await.must("human block");
        assert_eq!(human.version, 1 + edits_per_agent as i64, "every edit bumped the version once");
    }
    let writes = TASKS * ROUNDS + TASKS * ROUNDS / 2;
    let events = all_events(store.as_ref(), &org).await;
    assert_eq!(events.len(), AGENTS * 3 + writes, "one agent.create and two block.create per agent, then the writes");
    assert_gap_free(&events);

    let stats = sqlite.commit_stats();
    let (commits, jobs) = (stats.commits - before.commits, stats.jobs - before.jobs);
    assert_eq!(jobs, writes as u64, "every write was committed once");
    assert!(commits < jobs, "concurrent writes share commits: {commits} commits for {jobs} writes");
    for agent in &agents {
        check_message_search(store.as_ref(), &org, *agent, "message").await;
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_write_leaves_no_trace_while_the_writes_queued_with_it_commit() {
    let tmp = tempfile::tempdir().must("temp dir");
    let sqlite = open(tmp.path()).await;
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let org = org("acme");
    let new = NewAgent {
        config: config("Ada"),
        blocks: vec![block("persona", "I am a test agent."), small_block("human", "A tester.", 20)],
        block_ids: Vec::new(),
    };
    let agent = store.create_agent(&ctx(&org), new).await.must("create agent").id;
    let (ctx_first, human_label) = (ctx(&org), label("human"));
    let first = store.update_agent_block(&ctx_first, agent, &human_label, set_value("Ada, a tester."), Some(1));
    let human = first.await.must("first edit");
    assert_eq!(human.version, 2);
    let events_before = all_events(store.as_ref(), &org).await.len();

    // Every third task appends, every third edits `persona`; the others send `human` edits that must fail: with
    // the `If-Match` version it had before the first edit, or with a value over its 20-character limit.
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (store, org) = (store.clone(), org.clone());
        tasks.push(tokio::spawn(async move {
            let ctx = ctx(&org);
            let human = label("human");
            for i in 0..ROUNDS {
                match (t + i) % 4 {
                    0 => {
                        let text = format!("task {t} message {i}");
                        store.append_messages(&ctx, agent, vec![message(Role::User, &text)]).await.must("append");
                    }
                    1 => {
                        let patch = set_value(&format!("persona by task {t} in round {i}"));
                        store.update_agent_block(&ctx, agent, &label("persona"), patch, None).await.must("persona");
                    }
                    2 => {
                        let stale = store.update_agent_block(&ctx, agent, &human, set_value("stale"), Some(1)).await;
                        assert!(
                            matches!(stale, Err(StoreError::VersionConflict { expected: 1, actual: 2 })),
                            "{stale:?}"
                        );
                    }
                    _ => {
                        let long = set_value("far more than twenty characters");
                        let over = store.update_agent_block(&ctx, agent, &human, long, None).await;
                        assert!(matches!(over, Err(StoreError::LimitExceeded(_))), "{over:?}");
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.must("writer task");
    }

    let good = TASKS * ROUNDS / 2;
    let human = store.get_agent_block(&org, agent, &label("human")).await.must("human block");
    assert_eq!((human.value.as_str(), human.version), ("Ada, a tester.", 2), "the failed edits changed nothing");
    let persona = store.get_agent_block(&org, agent, &label("persona")).await.must("persona block");
    assert_eq!(persona.version, 1 + good as i64 / 2);
    let page = store.list_messages(&org, agent, &all_messages()).await.must("list messages");
    assert_eq!(page.items.len(), good / 2);
    let events = all_events(store.as_ref(), &org).await;
    assert_eq!(events.len(), events_before + good, "only the writes that succeeded recorded events");
    assert_gap_free(&events);
    let human_id = human.id.to_string();
    assert!(events[events_before..].iter().all(|e| e.target.id != human_id), "no event about the `human` block");

    let stats = sqlite.commit_stats();
    assert!(stats.commits < stats.jobs, "the writes shared commits: {stats:?}");
    check_message_search(store.as_ref(), &org, agent, "message").await;
    store.close().await;
}

/// A store whose writer is closed answers `Unavailable` to writes, and what was written before is kept.
#[tokio::test]
async fn writes_after_close_are_refused() {
    let tmp = tempfile::tempdir().must("temp dir");
    let store: SqliteStore = open(tmp.path()).await;
    let org = org("acme");
    let agent = store.create_agent(&ctx(&org), new_agent("Ada")).await.must("create agent");
    store.close().await;
    let refused = store.append_messages(&ctx(&org), agent.id, vec![message(Role::User, "late")]).await;
    assert!(matches!(refused, Err(StoreError::Unavailable(_))), "{refused:?}");
    let reopened = open(tmp.path()).await;
    assert_eq!(reopened.get_agent(&org, agent.id).await.must("agent kept").blocks.len(), 2);
    reopened.close().await;
}
