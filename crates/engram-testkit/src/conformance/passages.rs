//! Conformance checks for archival passages: insert/get/list/delete, batch limits, pagination and embeddings.

use std::sync::Arc;

use serde_json::json;

use engram_core::agent::Metadata;
use engram_core::page::PageRequest;
use engram_core::passage::{Embedding, MAX_BATCH};
use engram_store::Store;

use super::fixtures::*;

pub async fn insert_get_list_delete(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, new_agent("Ada")).await.must("create agent");
    let mut first = passage("The cat sat on the mat.", &["pets", "home"], Some(day(3)));
    first.metadata = Metadata::parse("metadata", json!({"source": "chat"})).must("metadata");
    let batch = vec![first, passage("Second passage.", &[], None), passage("Third.", &["pets"], Some(day(1)))];
    let inserted = store.insert_passages(&ctx, agent.id, batch.clone()).await.must("insert");
    assert_eq!(inserted.len(), 3);
    for (got, want) in inserted.iter().zip(&batch) {
        assert_eq!(got.text, want.text);
        assert_eq!(got.tags, want.tags);
        assert_eq!(got.metadata, want.metadata);
        assert_eq!(got.agent_id, agent.id);
        assert_eq!(got.embedding, None);
    }
    assert_eq!(inserted[0].created_at, day(3), "a given time is kept");
    assert!(inserted[1].created_at > day(1000), "a missing time defaults to now");
    assert!(inserted[0].id < inserted[1].id && inserted[1].id < inserted[2].id, "ids sort by insertion");

    for want in &inserted {
        let got = store.get_passage(&org, agent.id, want.id, false).await.must("get passage");
        assert_eq!(&got, want);
    }
    let listed = store.list_passages(&org, agent.id, &PageRequest::default()).await.must("list");
    assert_eq!(listed.items, inserted, "listed in insertion order, whatever their created_at");
    assert_eq!(listed.next_cursor, None);
    assert_eq!(store.count_passages(&org, agent.id).await.must("count"), 3);

    store.delete_passage(&ctx, agent.id, inserted[0].id).await.must("delete");
    assert_not_found(store.get_passage(&org, agent.id, inserted[0].id, false).await, "passage");
    assert_not_found(store.delete_passage(&ctx, agent.id, inserted[0].id).await, "passage");
    assert_not_found(store.get_passage(&org, agent.id, unknown_passage(), false).await, "passage");
    let listed = store.list_passages(&org, agent.id, &PageRequest::default()).await.must("list");
    assert_eq!(listed.items, inserted[1..].to_vec());
    assert_eq!(store.count_passages(&org, agent.id).await.must("count"), 2);

    // A passage belongs to its agent: another agent of the same organisation does not see it.
    let bob = store.create_agent(&ctx, new_agent("Bob")).await.must("bob");
    assert_not_found(store.get_passage(&org, bob.id, inserted[1].id, false).await, "passage");
    assert_not_found(store.delete_passage(&ctx, bob.id, inserted[1].id).await, "passage");
    assert_eq!(store.count_passages(&org, bob.id).await.must("count"), 0);
    assert_not_found(store.insert_passages(&ctx, unknown_agent(), vec![passage("x", &[], None)]).await, "agent");
    assert_not_found(store.count_passages(&org, unknown_agent()).await, "agent");
}

pub async fn batches_and_pagination(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let too_many: Vec<_> = (0..=MAX_BATCH).map(|i| passage(&format!("p{i}"), &[], None)).collect();
    assert_invalid(store.insert_passages(&ctx, agent.id, too_many).await, "items");
    assert_eq!(store.count_passages(&org, agent.id).await.must("count"), 0, "a rejected batch inserts nothing");
    assert!(store.insert_passages(&ctx, agent.id, Vec::new()).await.must("empty batch").is_empty());

    let full: Vec<_> = (0..MAX_BATCH).map(|i| passage(&format!("passage number {i}"), &["bulk"], None)).collect();
    let inserted = store.insert_passages(&ctx, agent.id, full).await.must("a full batch");
    assert_eq!(inserted.len(), MAX_BATCH);
    assert_eq!(inserted[999].text, "passage number 999", "returned in input order");
    let events = all_events(store.as_ref(), &org).await;
    assert_eq!(events.iter().filter(|e| e.action.as_str() == "passage.insert").count(), MAX_BATCH);

    let ids = all_passage_ids(store.as_ref(), &org, agent.id, 7).await;
    let want: Vec<String> = inserted.iter().map(|p| p.id.to_string()).collect();
    assert_eq!(ids, want, "pages hold every passage exactly once");
    assert_invalid(store.list_passages(&org, agent.id, &page(5, Some("agent_x".into()))).await, "after");
}

pub async fn embeddings(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let vector = vec![0.25_f32, -1.5, 3.0e-7, f32::MAX];
    let mut with = passage("embedded", &[], None);
    with.embedding = Some(Embedding { model: "local/all-minilm-l6-v2".into(), vector: vector.clone() });
    let inserted = store.insert_passages(&ctx, agent.id, vec![with, passage("plain", &[], None)]).await.must("insert");

    let hidden = store.get_passage(&org, agent.id, inserted[0].id, false).await.must("get");
    assert_eq!(hidden.embedding, None, "embeddings only when asked for");
    let shown = store.get_passage(&org, agent.id, inserted[0].id, true).await.must("get with embedding");
    let embedding = shown.embedding.must("the stored embedding");
    assert_eq!(embedding.model, "local/all-minilm-l6-v2");
    assert_eq!(embedding.vector, vector, "vectors round-trip bit for bit");
    let plain = store.get_passage(&org, agent.id, inserted[1].id, true).await.must("get plain");
    assert_eq!(plain.embedding, None);
}
