//! Concurrency on one data dir: writers queue on the single writer connection while readers keep reading, and a
//! second store on the same file (another engram process, a CLI command) waits for the lock instead of failing.

use std::sync::Arc;

use engram_core::message::Role;
use engram_store::Store;
use engram_testkit::conformance::fixtures::{
    Must, all_events, all_messages, assert_gap_free, bare_agent, ctx, message, org,
};

use super::support::open;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_queue_while_readers_read() {
    let tmp = tempfile::tempdir().must("temp dir");
    let store: Arc<dyn Store> = Arc::new(open(tmp.path()).await);
    let org = org("acme");
    let agent = store.create_agent(&ctx(&org), bare_agent("Ada")).await.must("create agent");
    let mut tasks = Vec::new();
    for w in 0..6 {
        let store = store.clone();
        let org = org.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let batch = vec![message(Role::User, &format!("w{w} m{i} a")), message(Role::Assistant, "b")];
                store.append_messages(&ctx(&org), agent.id, batch).await.must("append");
            }
        }));
    }
    for _ in 0..4 {
        let store = store.clone();
        let org = org.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..30 {
                let page = store.list_messages(&org, agent.id, &all_messages()).await.must("read while writing");
                let positions: Vec<i64> = page.items.iter().map(|m| m.position).collect();
                let want: Vec<i64> = (1..=positions.len() as i64).collect();
                assert_eq!(positions, want, "readers only ever see whole, gap-free histories");
            }
        }));
    }
    for task in tasks {
        task.await.must("task");
    }
    let page = store.list_messages(&org, agent.id, &all_messages()).await.must("list");
    assert_eq!(page.items.len(), 240);
    assert!(page.items.iter().enumerate().all(|(i, m)| m.position == i as i64 + 1));
    assert_gap_free(&all_events(store.as_ref(), &org).await);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_both_write() {
    let tmp = tempfile::tempdir().must("temp dir");
    let first: Arc<dyn Store> = Arc::new(open(tmp.path()).await);
    let second: Arc<dyn Store> = Arc::new(open(tmp.path()).await);
    let org = org("acme");
    let agent = first.create_agent(&ctx(&org), bare_agent("Ada")).await.must("create agent");
    let mut tasks = Vec::new();
    for store in [first.clone(), second.clone()] {
        let org = org.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..40 {
                store
                    .append_messages(&ctx(&org), agent.id, vec![message(Role::User, &format!("{i}"))])
                    .await
                    .must("append");
            }
        }));
    }
    for task in tasks {
        task.await.must("task");
    }
    let page = second.list_messages(&org, agent.id, &all_messages()).await.must("list");
    assert_eq!(page.items.len(), 80);
    assert_gap_free(&all_events(first.as_ref(), &org).await);
    first.close().await;
    second.close().await;
}
