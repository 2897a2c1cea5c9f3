//! Conformance check for concurrent writers: many tasks writing to one agent at once all succeed, every write is
//! kept, and the audit sequence stays gap-free.

use std::sync::Arc;

use engram_store::Store;

use super::fixtures::*;

const TASKS: usize = 8;
const INSERTS_PER_TASK: usize = 50;

pub async fn concurrent_passage_inserts(store: Arc<dyn Store>) {
    let org = org("acme");
    let agent = store.create_agent(&ctx(&org), bare_agent("Ada")).await.must("create agent");
    let mut tasks = Vec::with_capacity(TASKS);
    for task in 0..TASKS {
        let store = store.clone();
        let org = org.clone();
        tasks.push(tokio::spawn(async move {
            let ctx = ctx(&org);
            for i in 0..INSERTS_PER_TASK {
                let text = format!("task {task} passage {i}");
                store.insert_passages(&ctx, agent.id, vec![passage(&text, &["load"], None)]).await.must("insert");
            }
        }));
    }
    for task in tasks {
        task.await.must("insert task");
    }

    let total = TASKS * INSERTS_PER_TASK;
    assert_eq!(store.count_passages(&org, agent.id).await.must("count"), total as u64);
    let ids = all_passage_ids(store.as_ref(), &org, agent.id, 1000).await;
    assert_eq!(ids.len(), total);
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, ids, "ids are unique and listed in order");
    let paged = all_passage_ids(store.as_ref(), &org, agent.id, 37).await;
    assert_eq!(paged, ids, "small pages see every passage once");

    let events = all_events(store.as_ref(), &org).await;
    assert_eq!(events.len(), total + 1);
    assert_gap_free(&events);
}
