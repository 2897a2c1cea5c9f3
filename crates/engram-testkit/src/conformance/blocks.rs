//! Conformance checks for core memory blocks: edits through an agent's label, shared blocks, optimistic
//! concurrency, limits, standalone blocks, attach/detach rules and deletion of blocks in use.

use std::sync::Arc;

use engram_core::block::{BlockLimit, BlockPatch};
use engram_core::page::PageRequest;
use engram_store::{Store, StoreError};

use super::fixtures::*;

fn set_value(value: &str) -> BlockPatch {
    BlockPatch { value: Some(value.into()), ..BlockPatch::default() }
}

pub async fn update_via_label(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, new_agent("Ada")).await.must("create agent");
    let human = label("human");

    let patch = BlockPatch {
        value: Some("The user is Grace.".into()),
        description: Some(Some("who the user is".into())),
        read_only: Some(true),
        ..BlockPatch::default()
    };
    let updated = store.update_agent_block(&ctx, agent.id, &human, patch, None).await.must("update block");
    assert_eq!(updated.value, "The user is Grace.");
    assert_eq!(updated.description.as_deref(), Some("who the user is"));
    assert!(updated.read_only);
    assert_eq!(updated.version, 2);
    assert!(updated.updated_at >= updated.created_at);
    let got = store.get_agent_block(&org, agent.id, &human).await.must("get block");
    assert_eq!(got, updated);
    assert_eq!(store.get_block(&org, updated.id).await.must("get by id"), updated);
    let agent_now = store.get_agent(&org, agent.id).await.must("get agent");
    assert_eq!(agent_now.blocks[1], updated);
    assert_eq!(agent_now.version, 1, "block edits do not change the agent's configuration version");

    let clear = BlockPatch { description: Some(None), ..BlockPatch::default() };
    let cleared = store.update_agent_block(&ctx, agent.id, &human, clear, Some(2)).await.must("clear description");
    assert_eq!((cleared.description, cleared.version), (None, 3));

    assert_not_found(store.get_agent_block(&org, agent.id, &label("nope")).await, "block");
    assert_not_found(store.update_agent_block(&ctx, agent.id, &label("nope"), set_value("x"), None).await, "block");
    assert_not_found(store.get_agent_block(&org, unknown_agent(), &human).await, "agent");
    assert_not_found(store.list_agent_blocks(&org, unknown_agent()).await, "agent");
}

pub async fn shared_between_agents(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let shared = store.create_block(&ctx, block("team", "v1")).await.must("create block");
    let ada = store.create_agent(&ctx, new_agent("Ada")).await.must("ada");
    let bob = store.create_agent(&ctx, new_agent("Bob")).await.must("bob");
    store.attach_block(&ctx, ada.id, shared.id).await.must("attach to ada");
    let bob_now = store.attach_block(&ctx, bob.id, shared.id).await.must("attach to bob");
    assert_eq!(bob_now.blocks.last().map(|b| b.id), Some(shared.id), "attached blocks go last");
    assert_eq!(store.get_block(&org, shared.id).await.must("get").agent_ids, vec![ada.id, bob.id]);

    let edited = store.update_agent_block(&ctx, ada.id, &label("team"), set_value("v2"), Some(1)).await.must("edit");
    assert_eq!(edited.version, 2);
    let seen_by_bob = store.get_agent_block(&org, bob.id, &label("team")).await.must("bob's view");
    assert_eq!(seen_by_bob.value, "v2");
    assert_eq!(seen_by_bob, edited);
    assert_eq!(seen_by_bob.agent_ids, vec![ada.id, bob.id], "attachment order");
    let edited = store.update_block(&ctx, shared.id, set_value("v3"), Some(2)).await.must("edit by id");
    let bob_blocks = store.list_agent_blocks(&org, bob.id).await.must("bob's blocks");
    assert_eq!(bob_blocks.last(), Some(&edited));
}

pub async fn version_conflict(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, new_agent("Ada")).await.must("create agent");
    let persona = label("persona");
    store.update_agent_block(&ctx, agent.id, &persona, set_value("v2"), Some(1)).await.must("first edit");
    let stale = store.update_agent_block(&ctx, agent.id, &persona, set_value("v3"), Some(1)).await;
    match stale {
        Err(StoreError::VersionConflict { expected: 1, actual: 2 }) => {}
        other => panic!("expected a version conflict (1 vs 2), got {other:?}"),
    }
    let block_id = agent.blocks[0].id;
    match store.update_block(&ctx, block_id, set_value("v3"), Some(7)).await {
        Err(StoreError::VersionConflict { expected: 7, actual: 2 }) => {}
        other => panic!("expected a version conflict (7 vs 2), got {other:?}"),
    }
    let block = store.get_block(&org, block_id).await.must("get");
    assert_eq!((block.value.as_str(), block.version), ("v2", 2), "a conflict changes nothing");
    let ok = store.update_block(&ctx, block_id, set_value("v3"), Some(2)).await.must("current version");
    assert_eq!(ok.version, 3);
}

pub async fn limit_exceeded_changes_nothing(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let mut new = bare_agent("Ada");
    new.blocks = vec![small_block("notes", "abc", 5)];
    let agent = store.create_agent(&ctx, new).await.must("create agent");
    let notes = label("notes");
    let events_before = all_events(store.as_ref(), &org).await.len();

    match store.update_agent_block(&ctx, agent.id, &notes, set_value("abcdef"), None).await {
        Err(StoreError::LimitExceeded(e)) => assert_eq!((e.limit, e.requested), (5, 6)),
        other => panic!("expected limit exceeded, got {other:?}"),
    }
    let shrink = BlockPatch { limit: Some(BlockLimit::parse("limit", 2).must("limit")), ..BlockPatch::default() };
    assert!(matches!(
        store.update_block(&ctx, agent.blocks[0].id, shrink, None).await,
        Err(StoreError::LimitExceeded(_))
    ));
    let block = store.get_agent_block(&org, agent.id, &notes).await.must("get");
    assert_eq!(block, agent.blocks[0], "a rejected edit changes nothing");
    assert_eq!(all_events(store.as_ref(), &org).await.len(), events_before, "and records nothing");

    // Raising the limit and the value together fits.
    let both = BlockPatch {
        value: Some("abcdefgh".into()),
        limit: Some(BlockLimit::parse("limit", 10).must("limit")),
        ..BlockPatch::default()
    };
    let grown = store.update_agent_block(&ctx, agent.id, &notes, both, None).await.must("grow");
    assert_eq!((grown.limit.get(), grown.version), (10, 2));
    // Characters, not bytes.
    let wide = store.update_agent_block(&ctx, agent.id, &notes, set_value("éééééééééé"), None).await;
    assert_eq!(wide.must("ten characters fit").value.chars().count(), 10);
}

pub async fn standalone_crud(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let created = store.create_block(&ctx, small_block("style", "Be brief.", 100)).await.must("create");
    assert!(created.standalone);
    assert!(created.agent_ids.is_empty());
    assert_eq!((created.version, created.limit.get()), (1, 100));
    assert_eq!(created.description.as_deref(), Some("a small block"));
    assert_eq!(store.get_block(&org, created.id).await.must("get"), created);

    // A no-op patch keeps the version and records nothing.
    let events_before = all_events(store.as_ref(), &org).await.len();
    let same = store.update_block(&ctx, created.id, set_value("Be brief."), Some(1)).await.must("no-op");
    assert_eq!(same, created);
    assert_eq!(all_events(store.as_ref(), &org).await.len(), events_before);

    let mut ids = vec![created.id];
    for i in 0..6 {
        ids.push(store.create_block(&ctx, block("b", &format!("{i}"))).await.must("create").id);
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let got = store.list_blocks(&org, &page(4, after)).await.must("list blocks");
        seen.extend(got.items.iter().map(|b| b.id));
        match got.next_cursor {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every block once, oldest first");
    assert_invalid(store.list_blocks(&org, &page(4, Some("block_nope".into()))).await, "after");

    store.delete_block(&ctx, created.id, false).await.must("delete unused block");
    assert_not_found(store.get_block(&org, created.id).await, "block");
    assert_not_found(store.delete_block(&ctx, created.id, false).await, "block");
    assert_not_found(store.update_block(&ctx, created.id, set_value("x"), None).await, "block");
}

pub async fn attach_detach_rules(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, new_agent("Ada")).await.must("create agent");
    let other_persona = store.create_block(&ctx, block("persona", "another persona")).await.must("block");
    assert_already_exists(store.attach_block(&ctx, agent.id, other_persona.id).await);
    let notes = store.create_block(&ctx, block("notes", "n")).await.must("block");
    let with_notes = store.attach_block(&ctx, agent.id, notes.id).await.must("attach");
    let labels: Vec<&str> = with_notes.blocks.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["persona", "human", "notes"]);
    assert_already_exists(store.attach_block(&ctx, agent.id, notes.id).await);
    assert_not_found(store.attach_block(&ctx, agent.id, unknown_block()).await, "block");
    assert_not_found(store.attach_block(&ctx, unknown_agent(), notes.id).await, "agent");

    let without_human = store.detach_block(&ctx, agent.id, &label("human")).await.must("detach human");
    let labels: Vec<&str> = without_human.blocks.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["persona", "notes"]);
    let human = store.get_block(&org, agent.blocks[1].id).await.must("a detached block still exists");
    assert!(human.agent_ids.is_empty());
    assert_not_found(store.detach_block(&ctx, agent.id, &label("human")).await, "block");
    assert_not_found(store.get_agent_block(&org, agent.id, &label("human")).await, "block");

    // The label is free again, and re-attaching puts the block last.
    let again = store.attach_block(&ctx, agent.id, human.id).await.must("re-attach");
    let labels: Vec<&str> = again.blocks.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["persona", "notes", "human"]);
}

pub async fn delete_in_use(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let shared = store.create_block(&ctx, block("team", "t")).await.must("block");
    let ada = store.create_agent(&ctx, new_agent("Ada")).await.must("ada");
    let bob = store.create_agent(&ctx, new_agent("Bob")).await.must("bob");
    store.attach_block(&ctx, ada.id, shared.id).await.must("attach");
    store.attach_block(&ctx, bob.id, shared.id).await.must("attach");
    let events_before = all_events(store.as_ref(), &org).await.len();

    match store.delete_block(&ctx, shared.id, false).await {
        Err(StoreError::BlockInUse { block_id, agent_ids }) => {
            assert_eq!(block_id, shared.id.to_string());
            assert_eq!(agent_ids, vec![ada.id.to_string(), bob.id.to_string()]);
        }
        other => panic!("expected block in use, got {other:?}"),
    }
    assert!(store.get_block(&org, shared.id).await.is_ok());
    // An agent's own block is in use too.
    assert!(matches!(store.delete_block(&ctx, ada.blocks[0].id, false).await, Err(StoreError::BlockInUse { .. })));

    store.delete_block(&ctx, shared.id, true).await.must("force delete");
    assert_not_found(store.get_block(&org, shared.id).await, "block");
    for agent in [ada.id, bob.id] {
        let blocks = store.list_agent_blocks(&org, agent).await.must("blocks");
        assert_eq!(blocks.len(), 2);
        assert!(blocks.iter().all(|b| b.id != shared.id));
    }
    let events = all_events(store.as_ref(), &org).await;
    let new_events = &events[events_before..];
    assert_eq!(actions(new_events), ["block.detach", "block.detach", "block.delete"]);
    assert_eq!(new_events[0].agent_id, Some(ada.id));
    assert_eq!(new_events[1].agent_id, Some(bob.id));
    assert_eq!(new_events[2].agent_id, None);
    let listed = store.list_blocks(&org, &PageRequest::default()).await.must("list");
    assert_eq!(listed.items.len(), 4);
}
