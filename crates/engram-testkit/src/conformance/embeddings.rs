//! Conformance checks for the embedding backfill and the embedding-model lock: which rows `pending_embeddings` lists
//! (and in what order), what `set_embeddings` stores or skips, and `update_agent` refusing a new embedding model
//! while the agent has vectors. Vector search itself is checked in `vectors`.

use std::sync::Arc;

use engram_core::agent::{AgentName, AgentPatch, NewAgent};
use engram_core::id::AgentId;
use engram_core::message::Role;
use engram_core::org::OrgId;
use engram_core::passage::Embedding;
use engram_core::search::{MessageSearch, PassageFilter};
use engram_store::{EmbeddingTarget, PendingEmbedding, Store, StoreError};

use super::fixtures::*;
use super::vectors::{MODEL, OTHER_MODEL, model_ref, passage_query, ranked, vector};

const NORTH: [f32; 4] = [1.0, 0.0, 0.0, 0.0];
const EAST: [f32; 4] = [0.0, 1.0, 0.0, 0.0];
const UP: [f32; 4] = [0.0, 0.0, 1.0, 0.0];

/// An agent without blocks whose embedding model is `model`.
fn agent_with_model(name: &str, model: &str) -> NewAgent {
    let mut new = bare_agent(name);
    new.config.embedding = model_ref(model);
    new
}

/// What `pending_embeddings` should list for a row.
fn pending(org: &OrgId, agent: AgentId, model: &str, target: EmbeddingTarget, text: &str) -> PendingEmbedding {
    PendingEmbedding { org: org.clone(), agent, model: model_ref(model), target, text: text.into() }
}

/// The stored embedding of a passage.
async fn stored(store: &dyn Store, org: &OrgId, agent: AgentId, target: EmbeddingTarget) -> Option<Embedding> {
    let EmbeddingTarget::Passage(id) = target else { panic!("only passages can be read with their embedding") };
    store.get_passage(org, agent, id, true).await.must("get passage").embedding
}

/// The contents of an agent's messages found for `probe`, best first.
async fn found_messages(store: &dyn Store, org: &OrgId, agent: AgentId, probe: &Embedding) -> Vec<String> {
    let query = MessageSearch { text: "ignored".into(), role: None, from: None, to: None, limit: 10 };
    let results = store.search_messages_vector(org, agent, &query, probe).await.must("message vector search");
    results.into_iter().map(|r| r.item.content).collect()
}

/// The rows of an agent waiting for an embedding.
async fn pending_targets(store: &dyn Store, org: &OrgId, agent: AgentId) -> Vec<EmbeddingTarget> {
    let rows = store.pending_embeddings(Some((org, agent)), 100).await.must("pending");
    assert!(rows.iter().all(|r| r.agent == agent && &r.org == org));
    rows.into_iter().map(|r| r.target).collect()
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| (*t).to_owned()).collect()
}

pub async fn pending_rows(store: Arc<dyn Store>) {
    let acme = org("acme");
    let globex = org("globex");
    let ctx = ctx(&acme);
    let ada = store.create_agent(&ctx, bare_agent("Ada")).await.must("ada");
    let bob = store.create_agent(&ctx, agent_with_model("Bob", OTHER_MODEL)).await.must("bob");
    let eve = store.create_agent(&self::ctx(&globex), bare_agent("Eve")).await.must("eve");

    // Ada's messages come first in time, but passages are listed before messages.
    let ada_messages =
        vec![message(Role::User, "hello"), message(Role::Assistant, ""), message(Role::Tool, "tool output")];
    let ada_messages = store.append_messages(&ctx, ada.id, ada_messages).await.must("ada's messages");
    let mut ada_passages = vec![passage("first note", &[], None), passage("second note", &[], None)];
    ada_passages[1].embedding = Some(vector(MODEL, &NORTH));
    ada_passages.push(passage("third note", &["t"], Some(day(1))));
    let ada_passages = store.insert_passages(&ctx, ada.id, ada_passages).await.must("ada's passages");
    let bob_passage = store.insert_passages(&ctx, bob.id, vec![passage("bob note", &[], None)]).await.must("bob's");
    let bob_message = store.append_messages(&ctx, bob.id, vec![message(Role::User, "bob says hi")]).await.must("bob");
    let eve_passage =
        store.insert_passages(&self::ctx(&globex), eve.id, vec![passage("eve note", &[], None)]).await.must("eve's");

    let psg = |i: usize| EmbeddingTarget::Passage(ada_passages[i].id);
    let msg = |i: usize| EmbeddingTarget::Message(ada_messages[i].id);
    let ada_rows = vec![
        pending(&acme, ada.id, MODEL, psg(0), "first note"),
        pending(&acme, ada.id, MODEL, psg(2), "third note"),
        pending(&acme, ada.id, MODEL, msg(0), "hello"),
        pending(&acme, ada.id, MODEL, msg(2), "tool output"),
    ];
    let of_ada = |limit| store.pending_embeddings(Some((&acme, ada.id)), limit);
    assert_eq!(of_ada(100).await.must("pending"), ada_rows, "unembedded passages, then messages with text");
    assert_eq!(of_ada(3).await.must("pending"), ada_rows[..3].to_vec(), "at most limit, oldest first");
    assert_eq!(of_ada(1).await.must("pending"), ada_rows[..1].to_vec());
    assert!(of_ada(0).await.must("pending").is_empty());

    let everyone = vec![
        ada_rows[0].clone(),
        ada_rows[1].clone(),
        pending(&acme, bob.id, OTHER_MODEL, EmbeddingTarget::Passage(bob_passage[0].id), "bob note"),
        pending(&globex, eve.id, MODEL, EmbeddingTarget::Passage(eve_passage[0].id), "eve note"),
        ada_rows[2].clone(),
        ada_rows[3].clone(),
        pending(&acme, bob.id, OTHER_MODEL, EmbeddingTarget::Message(bob_message[0].id), "bob says hi"),
    ];
    assert_eq!(store.pending_embeddings(None, 100).await.must("all pending"), everyone, "every agent, every org");
    assert_eq!(store.pending_embeddings(None, 5).await.must("all pending"), everyone[..5].to_vec());

    // The model is the agent's model now.
    let patch = AgentPatch { embedding: Some(model_ref(MODEL)), ..AgentPatch::default() };
    store.update_agent(&ctx, bob.id, patch).await.must("bob has no vectors, so his model may change");
    let bobs = store.pending_embeddings(Some((&acme, bob.id)), 100).await.must("bob's pending");
    assert_eq!(bobs.iter().map(|p| p.model.to_string()).collect::<Vec<_>>(), [MODEL, MODEL]);

    // Deleted rows and agents are no longer pending.
    store.delete_passage(&ctx, ada.id, ada_passages[0].id).await.must("delete first note");
    store.delete_agent(&self::ctx(&globex), eve.id).await.must("delete eve");
    let after = store.pending_embeddings(None, 100).await.must("pending after deletes");
    let targets: Vec<EmbeddingTarget> = after.iter().map(|p| p.target).collect();
    let want = [psg(2), EmbeddingTarget::Passage(bob_passage[0].id), msg(0), msg(2)];
    assert_eq!(targets, [want.as_slice(), &[EmbeddingTarget::Message(bob_message[0].id)]].concat());

    assert_not_found(store.pending_embeddings(Some((&globex, ada.id)), 10).await, "agent");
    assert_not_found(store.pending_embeddings(Some((&acme, unknown_agent())), 10).await, "agent");
}

pub async fn set_rows(store: Arc<dyn Store>) {
    let acme = org("acme");
    let ctx = ctx(&acme);
    let ada = store.create_agent(&ctx, bare_agent("Ada")).await.must("ada");
    let texts = ["first", "second", "third"].iter().map(|t| passage(t, &[], None)).collect();
    let passages = store.insert_passages(&ctx, ada.id, texts).await.must("passages");
    let messages = vec![message(Role::User, "hello"), message(Role::Assistant, "hi there")];
    let messages = store.append_messages(&ctx, ada.id, messages).await.must("messages");
    let psg = |i: usize| EmbeddingTarget::Passage(passages[i].id);
    let msg = |i: usize| EmbeddingTarget::Message(messages[i].id);
    let s = store.as_ref();
    let pending_targets = || pending_targets(s, &acme, ada.id);
    assert_eq!(pending_targets().await, [psg(0), psg(1), psg(2), msg(0), msg(1)]);
    assert_eq!(store.set_embeddings(Vec::new()).await.must("nothing to set"), 0);

    // The same row twice in one call: the first embedding is stored, the second finds the row embedded.
    let items = vec![(psg(0), vector(MODEL, &NORTH)), (msg(0), vector(MODEL, &NORTH)), (psg(0), vector(MODEL, &EAST))];
    assert_eq!(store.set_embeddings(items).await.must("set"), 2, "the count excludes skipped rows");
    assert_eq!(stored(s, &acme, ada.id, psg(0)).await, Some(vector(MODEL, &NORTH)));
    assert_eq!(pending_targets().await, [psg(1), psg(2), msg(1)], "embedded rows are no longer pending");

    // Skipped: a row that has an embedding, a deleted row, rows that never existed.
    store.delete_passage(&ctx, ada.id, passages[1].id).await.must("delete second");
    let skipped = vec![
        (psg(0), vector(MODEL, &UP)),
        (msg(0), vector(MODEL, &UP)),
        (psg(1), vector(MODEL, &UP)),
        (EmbeddingTarget::Passage(unknown_passage()), vector(MODEL, &UP)),
        (EmbeddingTarget::Message(unknown_message()), vector(MODEL, &UP)),
    ];
    assert_eq!(store.set_embeddings(skipped).await.must("set skipped"), 0);
    assert_eq!(stored(s, &acme, ada.id, psg(0)).await, Some(vector(MODEL, &NORTH)), "an embedding is never replaced");

    // Skipped: vectors of another model or dimension than the agent's stored ones, for passages and messages.
    let other = vec![
        (psg(2), vector(OTHER_MODEL, &EAST)),
        (psg(2), vector(MODEL, &EAST[..3])),
        (msg(1), vector(OTHER_MODEL, &EAST)),
        (msg(1), vector(MODEL, &EAST[..3])),
    ];
    assert_eq!(store.set_embeddings(other).await.must("set other models"), 0);
    assert_eq!(stored(s, &acme, ada.id, psg(2)).await, None);
    assert_eq!(pending_targets().await, [psg(2), msg(1)]);

    let items = vec![(psg(2), vector(MODEL, &EAST)), (msg(1), vector(MODEL, &EAST))];
    assert_eq!(store.set_embeddings(items).await.must("set the rest"), 2);
    assert!(pending_targets().await.is_empty());
    let all = passage_query(10, PassageFilter::default());
    let probe = vector(MODEL, &[1.0, 0.5, 0.0, 0.0]);
    assert_eq!(ranked(s, &acme, ada.id, &all, &probe).await, strings(&["first", "third"]), "found once embedded");
    assert_eq!(found_messages(s, &acme, ada.id, &probe).await, strings(&["hello", "hi there"]));

    // An agent without vectors takes the first model it is given; a second model in the same call is skipped.
    let bob = store.create_agent(&ctx, bare_agent("Bob")).await.must("bob");
    let bobs = vec![passage("bob one", &[], None), passage("bob two", &[], None)];
    let bobs = store.insert_passages(&ctx, bob.id, bobs).await.must("bob's passages");
    let (b1, b2) = (EmbeddingTarget::Passage(bobs[0].id), EmbeddingTarget::Passage(bobs[1].id));
    let mixed = vec![(b1, vector(MODEL, &NORTH)), (b2, vector(OTHER_MODEL, &EAST))];
    assert_eq!(store.set_embeddings(mixed).await.must("set mixed"), 1);
    assert_eq!(stored(s, &acme, bob.id, b2).await, None);
    let bob_pending = store.pending_embeddings(Some((&acme, bob.id)), 10).await.must("bob's pending");
    assert_eq!(bob_pending.iter().map(|p| p.target).collect::<Vec<_>>(), [b2]);
    assert_eq!(ranked(s, &acme, bob.id, &all, &probe).await, strings(&["bob one"]));

    // A deleted agent's rows are gone: nothing to store.
    let eve = store.create_agent(&ctx, bare_agent("Eve")).await.must("eve");
    let eve_passage = store.insert_passages(&ctx, eve.id, vec![passage("eve", &[], None)]).await.must("eve's");
    let eve_message = store.append_messages(&ctx, eve.id, vec![message(Role::User, "eve")]).await.must("eve's");
    store.delete_agent(&ctx, eve.id).await.must("delete eve");
    let items = vec![
        (EmbeddingTarget::Passage(eve_passage[0].id), vector(MODEL, &NORTH)),
        (EmbeddingTarget::Message(eve_message[0].id), vector(MODEL, &NORTH)),
    ];
    assert_eq!(store.set_embeddings(items).await.must("set a deleted agent's"), 0);
}

#[track_caller]
fn assert_in_use<T: std::fmt::Debug>(result: Result<T, StoreError>, model: &str) {
    match result {
        Err(StoreError::EmbeddingInUse { model: m }) if m == model => {}
        other => panic!("expected the embedding model `{model}` in use, got {other:?}"),
    }
}

pub async fn model_in_use(store: Arc<dyn Store>) {
    let acme = org("acme");
    let ctx = ctx(&acme);
    let ada = store.create_agent(&ctx, bare_agent("Ada")).await.must("ada");
    let to = |model: &str| AgentPatch { embedding: Some(model_ref(model)), ..AgentPatch::default() };

    store.insert_passages(&ctx, ada.id, vec![passage("plain", &[], None)]).await.must("a passage without vector");
    let changed = store.update_agent(&ctx, ada.id, to(OTHER_MODEL)).await.must("no vectors: the model may change");
    assert_eq!((changed.config.embedding.to_string().as_str(), changed.version), (OTHER_MODEL, 2));
    let changed = store.update_agent(&ctx, ada.id, to(MODEL)).await.must("and change back");
    assert_eq!(changed.version, 3);

    let north = vec![{
        let mut new = passage("north", &[], None);
        new.embedding = Some(vector(MODEL, &NORTH));
        new
    }];
    let inserted = store.insert_passages(&ctx, ada.id, north).await.must("an embedded passage");
    let before = store.get_agent(&acme, ada.id).await.must("get");
    let events = all_events(store.as_ref(), &acme).await;
    assert_in_use(store.update_agent(&ctx, ada.id, to(OTHER_MODEL)).await, MODEL);
    let renamed_too = AgentPatch { name: Some(AgentName::parse("name", "Ada II").must("name")), ..to(OTHER_MODEL) };
    assert_in_use(store.update_agent(&ctx, ada.id, renamed_too).await, MODEL);
    assert_eq!(store.get_agent(&acme, ada.id).await.must("get"), before, "a refused update changes nothing");
    assert_eq!(all_events(store.as_ref(), &acme).await, events, "and records nothing");

    // Naming the current model is no change.
    let rename = AgentPatch { name: Some(AgentName::parse("name", "Ada II").must("name")), ..to(MODEL) };
    let renamed = store.update_agent(&ctx, ada.id, rename).await.must("rename, same model");
    assert_eq!((renamed.config.name.as_str(), renamed.version), ("Ada II", 4));

    // Message vectors lock the model too.
    let bob = store.create_agent(&ctx, bare_agent("Bob")).await.must("bob");
    let said = store.append_messages(&ctx, bob.id, vec![message(Role::User, "hello")]).await.must("bob's message");
    let item = (EmbeddingTarget::Message(said[0].id), vector(MODEL, &NORTH));
    assert_eq!(store.set_embeddings(vec![item]).await.must("embed bob's message"), 1);
    let bob_before = store.get_agent(&acme, bob.id).await.must("get bob");
    assert_in_use(store.update_agent(&ctx, bob.id, to(OTHER_MODEL)).await, MODEL);
    assert_eq!(store.get_agent(&acme, bob.id).await.must("get bob"), bob_before);

    // With its last vector deleted, the agent may change models again.
    store.delete_passage(&ctx, ada.id, inserted[0].id).await.must("delete the embedded passage");
    let changed = store.update_agent(&ctx, ada.id, to(OTHER_MODEL)).await.must("no vectors left");
    assert_eq!((changed.config.embedding.to_string().as_str(), changed.version), (OTHER_MODEL, 5));
}
