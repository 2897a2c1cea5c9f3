//! Conformance checks for the audit log: exactly one event per changed object with the documented actions,
//! provenance copied from the write context, commitments that chain from one version to the next, and a gap-free
//! `seq` per organisation that failed writes do not consume.

use std::sync::Arc;

use engram_core::agent::{AgentName, AgentPatch};
use engram_core::audit::{Actor, ActorKind, AuditEvent, TargetKind};
use engram_core::block::BlockPatch;
use engram_core::id::{RunId, StepId};
use engram_core::message::Role;
use engram_store::{AuditQuery, Store};

use super::fixtures::*;

fn set_value(value: &str) -> BlockPatch {
    BlockPatch { value: Some(value.into()), ..BlockPatch::default() }
}

#[track_caller]
fn assert_hash(hash: &str) {
    assert!(hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{hash}");
}

/// Checks the shape every event has: before/after present as the action implies, well-formed hashes.
#[track_caller]
fn assert_well_formed(event: &AuditEvent) {
    let action = event.action.as_str();
    let (has_before, has_after) = match action {
        "agent.create" | "block.create" | "passage.insert" | "message.append" => (false, true),
        "agent.delete" | "block.delete" | "passage.delete" => (true, false),
        _ => (true, true),
    };
    assert_eq!((event.before.is_some(), event.after.is_some()), (has_before, has_after), "{action}");
    for v in event.before.iter().chain(event.after.iter()) {
        assert_hash(&v.content_hash);
        assert!(v.version >= 1);
    }
    let kind = action.split('.').next().unwrap_or_default();
    assert_eq!(event.target.kind.as_str(), kind, "{action} targets a {kind}");
}

pub async fn agent_lifecycle_events(store: Arc<dyn Store>) {
    let org = org("acme");
    let mut ctx = ctx(&org);
    ctx.actor = Actor { kind: ActorKind::Agent, id: "agent_self".into() };
    ctx.run_id = Some(RunId::parse("run_id", "run_01ARZ3NDEKTSV4RRFFQ69G5FAV").must("run id"));
    ctx.step_id = Some(StepId::parse("step_id", "step_01ARZ3NDEKTSV4RRFFQ69G5FAV").must("step id"));
    ctx.request_id = Some("req_42".into());

    let team = store.create_block(&ctx, block("team", "t1")).await.must("create block");
    let mut new = new_agent("Ada");
    new.block_ids = vec![team.id];
    let agent = store.create_agent(&ctx, new).await.must("create agent");
    let name = AgentName::parse("name", "Ada 2").must("name");
    store.update_agent(&ctx, agent.id, AgentPatch { name: Some(name), ..AgentPatch::default() }).await.must("update");
    store.update_agent_block(&ctx, agent.id, &label("persona"), set_value("p2"), None).await.must("edit persona");
    store.update_block(&ctx, team.id, set_value("t2"), None).await.must("edit team");
    store.detach_block(&ctx, agent.id, &label("team")).await.must("detach");
    store.attach_block(&ctx, agent.id, team.id).await.must("attach");
    let batch = vec![passage("one", &[], None), passage("two", &[], None)];
    let passages = store.insert_passages(&ctx, agent.id, batch).await.must("insert");
    store.delete_passage(&ctx, agent.id, passages[0].id).await.must("delete passage");
    let msgs = vec![message(Role::User, "hi"), message(Role::Assistant, "hello")];
    let messages = store.append_messages(&ctx, agent.id, msgs).await.must("append");
    store.delete_agent(&ctx, agent.id).await.must("delete agent");

    let events = all_events(store.as_ref(), &org).await;
    assert_eq!(
        actions(&events),
        [
            "block.create",
            "agent.create",
            "block.create",
            "block.create",
            "block.attach",
            "agent.update",
            "block.update",
            "block.update",
            "block.detach",
            "block.attach",
            "passage.insert",
            "passage.insert",
            "passage.delete",
            "message.append",
            "message.append",
            "agent.delete",
            "block.delete",
            "block.delete",
        ]
    );
    assert_gap_free(&events);
    let a = Some(agent.id);
    let targets: Vec<(TargetKind, String, Option<_>)> =
        events.iter().map(|e| (e.target.kind, e.target.id.clone(), e.agent_id)).collect();
    let (persona, human) = (agent.blocks[0].id.to_string(), agent.blocks[1].id.to_string());
    let (b, ag, p, m) = (TargetKind::Block, TargetKind::Agent, TargetKind::Passage, TargetKind::Message);
    let want = vec![
        (b, team.id.to_string(), None),
        (ag, agent.id.to_string(), a),
        (b, persona.clone(), a),
        (b, human.clone(), a),
        (b, team.id.to_string(), a),
        (ag, agent.id.to_string(), a),
        (b, persona.clone(), a),
        (b, team.id.to_string(), None),
        (b, team.id.to_string(), a),
        (b, team.id.to_string(), a),
        (p, passages[0].id.to_string(), a),
        (p, passages[1].id.to_string(), a),
        (p, passages[0].id.to_string(), a),
        (m, messages[0].id.to_string(), a),
        (m, messages[1].id.to_string(), a),
        (ag, agent.id.to_string(), a),
        (b, persona, a),
        (b, human, a),
    ];
    assert_eq!(targets, want);
    for event in &events {
        assert_well_formed(event);
        assert_eq!(event.org_id, org);
        assert_eq!(event.actor, ctx.actor);
        assert_eq!((event.run_id, event.step_id), (ctx.run_id, ctx.step_id));
        assert_eq!(event.request_id.as_deref(), Some("req_42"));
    }
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at), "event times never go backwards");

    // Listing by agent and paging.
    let query = AuditQuery { after_seq: Some(2), limit: limit(4), agent_id: Some(agent.id) };
    let page = store.list_audit_events(&org, &query).await.must("list by agent");
    let seqs: Vec<i64> = page.items.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [3, 4, 5, 6]);
    assert_eq!(page.next_cursor.as_deref(), Some("6"));
    let query = AuditQuery { after_seq: Some(16), limit: limit(10), agent_id: None };
    let last = store.list_audit_events(&org, &query).await.must("last page");
    assert_eq!((last.items.len(), last.next_cursor), (2, None));
}

pub async fn commitments_chain(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let first = store.create_block(&ctx, block("notes", "same text")).await.must("create");
    let twin = store.create_block(&ctx, block("notes", "same text")).await.must("create twin");
    for value in ["v2", "v3", "same text"] {
        store.update_block(&ctx, first.id, set_value(value), None).await.must("update");
    }
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("agent");
    let patch = AgentPatch { system: Some("New instructions.".into()), ..AgentPatch::default() };
    store.update_agent(&ctx, agent.id, patch).await.must("update agent");
    let inserted = store
        .insert_passages(&ctx, agent.id, vec![passage("alpha", &[], None), passage("beta", &[], None)])
        .await
        .must("insert");

    let events = all_events(store.as_ref(), &org).await;
    let about = |id: String| events.iter().filter(move |e| e.target.id == id).collect::<Vec<_>>();
    let chain = about(first.id.to_string());
    assert_eq!(chain.len(), 4);
    for pair in chain.windows(2) {
        assert_eq!(pair[1].before, pair[0].after, "each update starts where the previous event ended");
    }
    let hashes: Vec<&str> = chain.iter().filter_map(|e| e.after.as_ref()).map(|v| v.content_hash.as_str()).collect();
    let versions: Vec<i64> = chain.iter().filter_map(|e| e.after.as_ref()).map(|v| v.version).collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    assert_ne!(hashes[0], hashes[1], "different content, different commitment");
    assert_ne!(hashes[1], hashes[2]);
    assert_eq!(hashes[0], hashes[3], "the same content of one object commits to the same hash");
    let twin_hash = about(twin.id.to_string())[0].after.clone().must("twin after").content_hash;
    assert_ne!(twin_hash, hashes[0], "equal content in two objects does not reveal itself: salts differ");

    let agent_chain = about(agent.id.to_string());
    assert_eq!(agent_chain[1].before, agent_chain[0].after);
    let (a0, a1) = (agent_chain[0].after.clone().must("after"), agent_chain[1].after.clone().must("after"));
    assert_ne!(a0.content_hash, a1.content_hash);
    assert_eq!((a0.version, a1.version), (1, 2));
    let p0 = about(inserted[0].id.to_string())[0].after.clone().must("passage after");
    let p1 = about(inserted[1].id.to_string())[0].after.clone().must("passage after");
    assert_ne!(p0.content_hash, p1.content_hash);
}

pub async fn seq_per_org(store: Arc<dyn Store>) {
    let acme = org("acme");
    let globex = org("globex");
    let (acme_ctx, globex_ctx) = (ctx(&acme), ctx(&globex));
    let ada = store.create_agent(&acme_ctx, new_agent("Ada")).await.must("acme agent");
    let bob = store.create_agent(&globex_ctx, bare_agent("Bob")).await.must("globex agent");

    // Failed writes consume no sequence numbers.
    let persona = label("persona");
    let conflict = store.update_agent_block(&acme_ctx, ada.id, &persona, set_value("x"), Some(9)).await;
    assert!(conflict.is_err());
    let mut dup = new_agent("Dup");
    dup.blocks.push(block("persona", "again"));
    assert_already_exists(store.create_agent(&acme_ctx, dup).await);
    let mut small = bare_agent("Small");
    small.blocks = vec![small_block("tiny", "ab", 2)];
    let small = store.create_agent(&acme_ctx, small).await.must("small agent");
    assert!(store.update_agent_block(&acme_ctx, small.id, &label("tiny"), set_value("abc"), None).await.is_err());
    assert_not_found(store.insert_passages(&acme_ctx, bob.id, vec![passage("x", &[], None)]).await, "agent");
    let too_long = vec![passage("ok", &[], None); engram_core::passage::MAX_BATCH + 1];
    assert!(store.insert_passages(&acme_ctx, ada.id, too_long).await.is_err());

    store.append_messages(&globex_ctx, bob.id, vec![message(Role::User, "hi")]).await.must("globex write");
    store.append_messages(&acme_ctx, ada.id, vec![message(Role::User, "hi")]).await.must("acme write");

    let acme_events = all_events(store.as_ref(), &acme).await;
    assert_eq!(
        actions(&acme_events),
        ["agent.create", "block.create", "block.create", "agent.create", "block.create", "message.append"]
    );
    assert_gap_free(&acme_events);
    let globex_events = all_events(store.as_ref(), &globex).await;
    assert_eq!(actions(&globex_events), ["agent.create", "message.append"]);
    assert_gap_free(&globex_events);
    assert!(globex_events.iter().all(|e| e.org_id == globex));

    // Paging through the log in small pages sees every event once.
    let mut seen = Vec::new();
    let mut after_seq = None;
    loop {
        let query = AuditQuery { after_seq, limit: limit(4), agent_id: None };
        let page = store.list_audit_events(&acme, &query).await.must("page");
        seen.extend(page.items.iter().map(|e| e.seq));
        match page.next_cursor {
            Some(c) => after_seq = Some(c.parse().must("seq cursor")),
            None => break,
        }
    }
    assert_eq!(seen, (1..=6).collect::<Vec<i64>>());
}
