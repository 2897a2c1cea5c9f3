//! Conformance check for tenant isolation: another organisation can neither see nor change an organisation's
//! agents, blocks, passages or messages, and gets `NotFound` as if they did not exist.

use std::sync::Arc;

use engram_core::agent::{AgentFilter, AgentPatch};
use engram_core::block::BlockPatch;
use engram_core::message::Role;
use engram_core::page::PageRequest;
use engram_core::search::PassageQuery;
use engram_store::Store;

use super::fixtures::*;

pub async fn org_isolation(store: Arc<dyn Store>) {
    let acme = org("acme");
    let globex = org("globex");
    let acme_ctx = ctx(&acme);
    let globex_ctx = ctx(&globex);
    let agent = store.create_agent(&acme_ctx, new_agent("Ada")).await.must("create agent");
    let shared = store.create_block(&acme_ctx, block("team", "acme secrets")).await.must("create block");
    let passages = store
        .insert_passages(&acme_ctx, agent.id, vec![passage("acme secret plan", &["s"], None)])
        .await
        .must("insert");
    store.append_messages(&acme_ctx, agent.id, vec![message(Role::User, "acme hello")]).await.must("append");
    let persona = label("persona");
    let patch = BlockPatch { value: Some("pwned".into()), ..BlockPatch::default() };

    // Reads.
    assert_not_found(store.get_agent(&globex, agent.id).await, "agent");
    assert_not_found(store.list_agent_blocks(&globex, agent.id).await, "agent");
    assert_not_found(store.get_agent_block(&globex, agent.id, &persona).await, "agent");
    assert_not_found(store.get_block(&globex, shared.id).await, "block");
    assert_not_found(store.get_block(&globex, agent.blocks[0].id).await, "block");
    assert_not_found(store.get_passage(&globex, agent.id, passages[0].id, false).await, "agent");
    assert_not_found(store.list_passages(&globex, agent.id, &PageRequest::default()).await, "agent");
    assert_not_found(store.count_passages(&globex, agent.id).await, "agent");
    assert_not_found(store.list_messages(&globex, agent.id, &all_messages()).await, "agent");
    let q = PassageQuery { text: "secret".into(), k: 10, filter: Default::default() };
    assert_not_found(store.search_passages_text(&globex, agent.id, &q).await, "agent");
    let agents = store.list_agents(&globex, &AgentFilter::default(), &PageRequest::default()).await.must("list");
    assert!(agents.items.is_empty());
    assert!(store.list_blocks(&globex, &PageRequest::default()).await.must("list blocks").items.is_empty());
    assert!(all_events(store.as_ref(), &globex).await.is_empty(), "another org's audit log is not visible");

    // Writes.
    assert_not_found(store.update_agent(&globex_ctx, agent.id, AgentPatch::default()).await, "agent");
    assert_not_found(store.delete_agent(&globex_ctx, agent.id).await, "agent");
    assert_not_found(store.update_agent_block(&globex_ctx, agent.id, &persona, patch.clone(), None).await, "agent");
    assert_not_found(store.update_block(&globex_ctx, shared.id, patch.clone(), None).await, "block");
    assert_not_found(store.update_block(&globex_ctx, agent.blocks[0].id, patch, None).await, "block");
    assert_not_found(store.delete_block(&globex_ctx, shared.id, true).await, "block");
    assert_not_found(store.attach_block(&globex_ctx, agent.id, shared.id).await, "agent");
    assert_not_found(store.detach_block(&globex_ctx, agent.id, &persona).await, "agent");
    assert_not_found(store.delete_passage(&globex_ctx, agent.id, passages[0].id).await, "agent");
    assert_not_found(store.insert_passages(&globex_ctx, agent.id, vec![passage("x", &[], None)]).await, "agent");
    assert_not_found(store.append_messages(&globex_ctx, agent.id, vec![message(Role::User, "x")]).await, "agent");

    // Globex's own agent cannot use acme's block either.
    let theirs = store.create_agent(&globex_ctx, bare_agent("Mallory")).await.must("globex agent");
    assert_not_found(store.attach_block(&globex_ctx, theirs.id, shared.id).await, "block");
    let mut stealing = bare_agent("Mallory 2");
    stealing.block_ids = vec![shared.id];
    assert_not_found(store.create_agent(&globex_ctx, stealing).await, "block");
    assert_not_found(store.get_passage(&globex, theirs.id, passages[0].id, false).await, "passage");
    assert_not_found(store.delete_passage(&globex_ctx, theirs.id, passages[0].id).await, "passage");

    // Nothing of acme's changed.
    assert_eq!(store.get_agent(&acme, agent.id).await.must("acme agent"), agent);
    assert_eq!(store.get_block(&acme, shared.id).await.must("acme block"), shared);
    assert_eq!(store.count_passages(&acme, agent.id).await.must("count"), 1);
    let globex_events = all_events(store.as_ref(), &globex).await;
    assert_eq!(actions(&globex_events), ["agent.create"], "failed writes record nothing");
}
