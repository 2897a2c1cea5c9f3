//! Conformance checks for agents: create/get, patching, listing with filters and pagination, rejected creations,
//! and deletion that keeps shared and standalone blocks.

use std::sync::Arc;

use serde_json::json;

use engram_core::agent::{AgentFilter, AgentPatch, Metadata, ModelRef, ToolName};
use engram_core::block::BlockPatch;
use engram_core::page::PageRequest;
use engram_store::Store;

use super::fixtures::*;

pub async fn create_and_get(store: Arc<dyn Store>) {
    let org = org("acme");
    let mut new = new_agent("Ada");
    new.config.tools = vec![ToolName::parse("tools", "archival_memory_search").must("tool")];
    new.config.tags = vec![tag("alpha"), tag("beta")];
    new.config.metadata = Metadata::parse("metadata", json!({"team": "core", "n": 1})).must("metadata");
    new.config.model = None;
    let agent = store.create_agent(&ctx(&org), new.clone()).await.must("create agent");

    assert_eq!(agent.config, new.config);
    assert_eq!(agent.version, 1);
    assert_eq!(agent.created_at, agent.updated_at);
    let labels: Vec<&str> = agent.blocks.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["persona", "human"], "blocks keep their creation order");
    for block in &agent.blocks {
        assert_eq!(block.agent_ids, vec![agent.id]);
        assert_eq!(block.version, 1);
        assert!(!block.standalone);
    }
    assert_eq!(agent.blocks[0].value, "I am a test agent.");

    let got = store.get_agent(&org, agent.id).await.must("get agent");
    assert_eq!(got, agent, "a read returns what the create returned");
    assert_not_found(store.get_agent(&org, unknown_agent()).await, "agent");
    assert_eq!(store.list_agent_blocks(&org, agent.id).await.must("list blocks"), agent.blocks);
}

pub async fn update_and_noop_patch(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, new_agent("Ada")).await.must("create agent");
    let events_before = all_events(store.as_ref(), &org).await.len();

    let patch = AgentPatch {
        name: Some(engram_core::agent::AgentName::parse("name", "Ada Lovelace").must("name")),
        model: Some(Some(ModelRef::parse("model", "anthropic/claude-test").must("model"))),
        tags: Some(vec![tag("x")]),
        ..AgentPatch::default()
    };
    let updated = store.update_agent(&ctx, agent.id, patch).await.must("update agent");
    assert_eq!(updated.config.name.as_str(), "Ada Lovelace");
    assert_eq!(updated.config.model.as_ref().map(ToString::to_string).as_deref(), Some("anthropic/claude-test"));
    assert_eq!(updated.config.system, agent.config.system, "fields not in the patch stay");
    assert_eq!(updated.version, 2);
    assert_eq!(updated.blocks, agent.blocks);
    assert_eq!(store.get_agent(&org, agent.id).await.must("get"), updated);

    // Removing the model makes a memory-only agent.
    let patch = AgentPatch { model: Some(None), ..AgentPatch::default() };
    let memory_only = store.update_agent(&ctx, agent.id, patch).await.must("remove model");
    assert_eq!(memory_only.config.model, None);
    assert_eq!(memory_only.version, 3);

    // A patch that changes nothing records nothing and keeps the version.
    let same = AgentPatch { tags: Some(vec![tag("x")]), ..AgentPatch::default() };
    let unchanged = store.update_agent(&ctx, agent.id, same).await.must("no-op patch");
    assert_eq!(unchanged.version, 3);
    let unchanged = store.update_agent(&ctx, agent.id, AgentPatch::default()).await.must("empty patch");
    assert_eq!(unchanged, memory_only);
    let events = all_events(store.as_ref(), &org).await;
    assert_eq!(events.len(), events_before + 2, "two changes, two events");

    assert_not_found(store.update_agent(&ctx, unknown_agent(), AgentPatch::default()).await, "agent");
}

pub async fn list_filters(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let mut ids = Vec::new();
    for (name, tags) in [("Ada", vec!["red"]), ("Bob", vec!["red", "blue"]), ("Ada", vec![]), ("Cy", vec!["blue"])] {
        let mut new = bare_agent(name);
        new.config.tags = tags.into_iter().map(tag).collect();
        ids.push(store.create_agent(&ctx, new).await.must("create agent").id);
    }
    let list = |filter: AgentFilter| {
        let store = store.clone();
        let org = org.clone();
        async move {
            let page = store.list_agents(&org, &filter, &PageRequest::default()).await.must("list agents");
            assert_eq!(page.next_cursor, None);
            page.items.into_iter().map(|a| a.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(list(AgentFilter::default()).await, ids, "oldest first");
    let by_name = AgentFilter { name: Some("Ada".into()), tag: None };
    assert_eq!(list(by_name).await, vec![ids[0], ids[2]]);
    let by_tag = AgentFilter { name: None, tag: Some(tag("red")) };
    assert_eq!(list(by_tag).await, vec![ids[0], ids[1]]);
    let both = AgentFilter { name: Some("Bob".into()), tag: Some(tag("blue")) };
    assert_eq!(list(both).await, vec![ids[1]]);
    let none = AgentFilter { name: Some("ada".into()), tag: None };
    assert!(list(none).await.is_empty(), "names match exactly");
    let listed = store.list_agents(&org, &AgentFilter::default(), &PageRequest::default()).await.must("list");
    assert_eq!(listed.items[1].blocks, Vec::new());
}

pub async fn list_pagination(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let mut created = Vec::new();
    for i in 0..23 {
        created.push(store.create_agent(&ctx, new_agent(&format!("agent {i}"))).await.must("create").id);
    }
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let got = store.list_agents(&org, &AgentFilter::default(), &page(5, after)).await.must("list page");
        pages += 1;
        assert!(got.items.len() <= 5);
        seen.extend(got.items.iter().map(|a| a.id));
        match got.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, created, "every agent exactly once, in creation order");
    let exact = store.list_agents(&org, &AgentFilter::default(), &page(23, None)).await.must("one page");
    assert_eq!((exact.items.len(), exact.next_cursor), (23, None));

    let bad = page(5, Some("not-a-cursor".into()));
    assert_invalid(store.list_agents(&org, &AgentFilter::default(), &bad).await, "after");
    let wrong_kind = page(5, Some(unknown_block().to_string()));
    assert_invalid(store.list_agents(&org, &AgentFilter::default(), &wrong_kind).await, "after");
}

pub async fn create_rejects_bad_blocks(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let mut twice = bare_agent("Ada");
    twice.blocks = vec![block("notes", "a"), block("notes", "b")];
    assert_already_exists(store.create_agent(&ctx, twice).await);

    let standalone = store.create_block(&ctx, block("persona", "shared persona")).await.must("create block");
    let mut clash = new_agent("Ada");
    clash.block_ids = vec![standalone.id];
    assert_already_exists(store.create_agent(&ctx, clash).await);

    let mut same_twice = bare_agent("Ada");
    same_twice.block_ids = vec![standalone.id, standalone.id];
    assert_already_exists(store.create_agent(&ctx, same_twice).await);

    let mut unknown = bare_agent("Ada");
    unknown.block_ids = vec![unknown_block()];
    assert_not_found(store.create_agent(&ctx, unknown).await, "block");

    let agents = store.list_agents(&org, &AgentFilter::default(), &PageRequest::default()).await.must("list");
    assert!(agents.items.is_empty(), "failed creations leave nothing behind");
    let blocks = store.list_blocks(&org, &PageRequest::default()).await.must("list blocks");
    assert_eq!(blocks.items.len(), 1);
    assert_eq!(actions(&all_events(store.as_ref(), &org).await), ["block.create"]);
}

pub async fn create_attaches_existing_blocks(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let shared = store.create_block(&ctx, block("team", "We ship on Fridays.")).await.must("create block");
    let mut new = new_agent("Ada");
    new.block_ids = vec![shared.id];
    let agent = store.create_agent(&ctx, new).await.must("create agent");
    let labels: Vec<&str> = agent.blocks.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["persona", "human", "team"], "new blocks first, then attached ones");
    assert_eq!(agent.blocks[2].id, shared.id);
    assert_eq!(agent.blocks[2].agent_ids, vec![agent.id]);
    assert!(agent.blocks[2].standalone);
    assert_eq!(agent.blocks[2].version, 1, "attaching does not change the block");
    let block = store.get_block(&org, shared.id).await.must("get block");
    assert_eq!(block.agent_ids, vec![agent.id]);
}

pub async fn delete_keeps_shared_blocks(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let standalone = store.create_block(&ctx, block("style", "Be brief.")).await.must("standalone");
    let mut new = new_agent("Ada");
    new.blocks.push(block("team", "shared notes"));
    new.block_ids = vec![standalone.id];
    let ada = store.create_agent(&ctx, new).await.must("create ada");
    let team = ada.blocks.iter().find(|b| b.label.as_str() == "team").must("team block").clone();
    let persona = ada.blocks[0].clone();
    let bob = store.create_agent(&ctx, bare_agent("Bob")).await.must("create bob");
    store.attach_block(&ctx, bob.id, team.id).await.must("attach team to bob");
    store.insert_passages(&ctx, ada.id, vec![passage("a memory", &["t"], None)]).await.must("insert passage");
    store.append_messages(&ctx, ada.id, vec![message(engram_core::message::Role::User, "hi")]).await.must("append");
    let events_before = all_events(store.as_ref(), &org).await.len();

    store.delete_agent(&ctx, ada.id).await.must("delete ada");
    assert_not_found(store.get_agent(&org, ada.id).await, "agent");
    assert_not_found(store.delete_agent(&ctx, ada.id).await, "agent");
    assert_not_found(store.list_passages(&org, ada.id, &PageRequest::default()).await, "agent");
    assert_not_found(store.list_messages(&org, ada.id, &all_messages()).await, "agent");
    assert_not_found(store.get_block(&org, persona.id).await, "block");
    assert_not_found(store.get_block(&org, ada.blocks[1].id).await, "block");
    let team_now = store.get_block(&org, team.id).await.must("team block stays");
    assert_eq!(team_now.agent_ids, vec![bob.id]);
    let standalone_now = store.get_block(&org, standalone.id).await.must("standalone block stays");
    assert!(standalone_now.agent_ids.is_empty());
    let bob_now = store.get_agent(&org, bob.id).await.must("bob stays");
    assert_eq!(bob_now.blocks, vec![team_now.clone()]);

    let events = all_events(store.as_ref(), &org).await;
    let new_events = &events[events_before..];
    assert_eq!(actions(new_events), ["agent.delete", "block.delete", "block.delete"]);
    assert!(new_events.iter().all(|e| e.agent_id == Some(ada.id)));
    let deleted: Vec<&str> = new_events[1..].iter().map(|e| e.target.id.as_str()).collect();
    assert_eq!(deleted, [persona.id.to_string(), ada.blocks[1].id.to_string()]);

    // A later edit of the surviving shared block still works through Bob.
    let patch = BlockPatch { value: Some("still here".into()), ..BlockPatch::default() };
    store.update_agent_block(&ctx, bob.id, &label("team"), patch, None).await.must("edit via bob");
    // Bob did not make the block, so deleting Bob only detaches it.
    store.delete_agent(&ctx, bob.id).await.must("delete bob");
    let team_last = store.get_block(&org, team.id).await.must("team block outlives agents that did not make it");
    assert!(team_last.agent_ids.is_empty());
}
