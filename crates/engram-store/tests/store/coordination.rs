//! Several processes on one PostgreSQL database, played by several `PostgresStore`s (each has its own lock
//! connection, as each process would): an agent taken by one cannot be taken by another until it is let go or its
//! holder goes away; a process's runs are stale to the others exactly when it is gone; its queued runs go back to
//! the queue when it closes; and stores claiming at once never get the same run.

use std::collections::HashSet;
use std::sync::Arc;

use engram_core::run::RunStatus;
use engram_store::{PostgresOptions, PostgresStore, Store};
use engram_testkit::conformance::fixtures::{Must, bare_agent, ctx, org};
use engram_testkit::postgres::{PgVersion, TestDatabase};
use serde_json::json;

async fn open(database: &TestDatabase) -> Arc<PostgresStore> {
    Arc::new(PostgresStore::open(database.url(), PostgresOptions::default()).await.must("open postgres store"))
}

#[tokio::test]
async fn an_agent_is_taken_by_one_process_at_a_time() {
    let database = TestDatabase::create(PgVersion::Pg16).await;
    let (a, b) = (open(&database).await, open(&database).await);
    assert_ne!(a.instance(), b.instance(), "each process has its own key");
    let acme = org("acme");
    let agent = a.create_agent(&ctx(&acme), bare_agent("Ada")).await.must("agent");

    assert!(a.try_lock_agent(agent.id).await.must("a takes"));
    assert!(!b.try_lock_agent(agent.id).await.must("b tries"), "held by a");
    assert!(a.try_lock_agent(agent.id).await.must("a again"), "a process may take its own agent again");
    a.unlock_agent(agent.id).await.must("a lets go once");
    assert!(!b.try_lock_agent(agent.id).await.must("b tries"), "still held once by a");
    a.unlock_agent(agent.id).await.must("a lets go");
    assert!(b.try_lock_agent(agent.id).await.must("b takes"), "free once a let go as often as it took");
    assert!(!a.try_lock_agent(agent.id).await.must("a tries"), "held by b");

    // A process that goes away lets its agents go.
    b.close().await;
    assert!(a.try_lock_agent(agent.id).await.must("a takes"), "b is gone");
}

#[tokio::test]
async fn runs_of_a_process_that_is_gone_are_stale_and_its_queued_runs_go_back_to_the_queue() {
    for version in [PgVersion::Pg16, PgVersion::Pg15] {
        let database = TestDatabase::create(version).await;
        let (a, b) = (open(&database).await, open(&database).await);
        let acme = org("acme");
        let ctx = ctx(&acme);
        let ada = a.create_agent(&ctx, bare_agent("Ada")).await.must("agent");
        let running = a.create_run(&ctx, ada.id, RunStatus::Running, json!({}), Vec::new()).await.must("run").0;
        let waiting = a.create_run(&ctx, ada.id, RunStatus::Queued, json!({}), Vec::new()).await.must("run").0;

        assert!(b.stale_runs(None, 10).await.must("stale").is_empty(), "{version:?}: a is alive");
        assert_eq!(b.claim_queued_run().await.must("claim"), None, "a owns its queued run");
        assert_eq!(a.stale_runs(None, 10).await.must("own").len(), 2, "a sees its own, to tell them apart");

        a.close().await;
        let stale = b.stale_runs(None, 10).await.must("stale");
        assert_eq!(
            stale.iter().map(|s| (s.run.id, s.run.status)).collect::<Vec<_>>(),
            [(running.id, RunStatus::Running)],
            "{version:?}: a's running run is stale; its queued run was released when it closed"
        );
        assert_eq!(stale[0].owner, Some(a.instance()));
        assert_eq!(b.claim_queued_run().await.must("claim"), None, "the queued run waits behind the stale one");
        b.finish_run(
            &acme,
            running.id,
            engram_core::run::RunOutcome { status: RunStatus::Failed, stop_reason: None, error: Some("gone".into()) },
        )
        .await
        .must("fail the stale run");
        let (_, claimed) = b.claim_queued_run().await.must("claim").expect("a's queued run");
        assert_eq!(claimed.id, waiting.id, "{version:?}");
        b.start_run(&ctx, waiting.id, Vec::new()).await.must("b runs it");
    }
}

#[tokio::test]
async fn processes_claiming_at_once_never_get_the_same_run() {
    let database = TestDatabase::create(PgVersion::Pg16).await;
    let stores = [open(&database).await, open(&database).await, open(&database).await];
    let acme = org("acme");
    let ctx = ctx(&acme);
    let mut queued = HashSet::new();
    for n in 0..30 {
        let agent = stores[0].create_agent(&ctx, bare_agent(&format!("agent {n}"))).await.must("agent");
        let run = stores[0].create_run(&ctx, agent.id, RunStatus::Queued, json!({}), Vec::new()).await.must("run").0;
        assert!(stores[0].release_run(&acme, run.id, Some(stores[0].instance())).await.must("release"));
        queued.insert(run.id);
    }
    let mut tasks = Vec::new();
    for store in &stores {
        for _ in 0..2 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some((_, run)) = store.claim_queued_run().await.must("claim") {
                    mine.push(run.id);
                }
                mine
            }));
        }
    }
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.must("task"));
    }
    assert_eq!(claimed.len(), queued.len(), "every run claimed exactly once: {claimed:?}");
    assert_eq!(claimed.into_iter().collect::<HashSet<_>>(), queued);
}
