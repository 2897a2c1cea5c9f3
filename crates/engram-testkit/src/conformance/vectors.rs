//! Conformance checks for vector search over passages and messages: cosine ranking, tag/time/role filters applied
//! before ranking, passages without embeddings left out, vectors of another model or dimension refused, and deleted
//! passages or agents never found again. The embedding backfill (`pending_embeddings`, `set_embeddings`) and the
//! embedding-model lock on agents are in `embeddings`.
//!
//! The vectors are hand-made and four-dimensional, so every expected ranking can be read off the numbers; none of the
//! checks depends on how a backend orders ties.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use engram_core::agent::{AgentPatch, ModelRef, Tag};
use engram_core::id::AgentId;
use engram_core::message::{Message, Role};
use engram_core::org::OrgId;
use engram_core::passage::{Embedding, NewPassage};
use engram_core::search::{MessageSearch, PassageFilter, PassageQuery, TagMode};
use engram_store::{EmbeddingTarget, Store, StoreError};

use super::fixtures::*;

/// The embedding model the fixtures' agents are configured with.
pub(super) const MODEL: &str = "local/all-minilm-l6-v2";
/// Another embedding model.
pub(super) const OTHER_MODEL: &str = "local/other-model";

/// A query direction with four distinct components: its cosine with each axis differs, so there are no ties.
pub(super) const QUERY: [f32; 4] = [0.8, 0.5, 0.3, 0.1];

/// `v` scaled to unit length.
pub(super) fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

/// An embedding of `model` along `v` (normalised).
pub(super) fn vector(model: &str, v: &[f32]) -> Embedding {
    Embedding { model: model.into(), vector: unit(v) }
}

/// Cosine similarity, in `f64`.
pub(super) fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// A passage embedded with [`MODEL`] along `v`.
pub(super) fn embedded(text: &str, tags: &[&str], days: Option<i64>, v: &[f32]) -> NewPassage {
    let mut new = passage(text, tags, days.map(day));
    new.embedding = Some(vector(MODEL, v));
    new
}

pub(super) fn model_ref(text: &str) -> ModelRef {
    ModelRef::parse("embedding", text).must("model reference")
}

/// What an `EmbeddingMismatch` says: the stored model and dimension, then the new (or query) model and dimension.
#[track_caller]
pub(super) fn assert_mismatch<T: Debug>(result: Result<T, StoreError>) -> (String, usize, String, usize) {
    match result {
        Err(StoreError::EmbeddingMismatch { stored_model, stored_dim, model, dim, .. }) => {
            (stored_model, stored_dim, model, dim)
        }
        other => panic!("expected an embedding mismatch, got {other:?}"),
    }
}

pub(super) fn passage_query(k: u32, filter: PassageFilter) -> PassageQuery {
    PassageQuery { text: "words that vector search ignores".into(), k, filter }
}

/// The texts of an agent's passages found for `probe`, best first. Checks on the way that the scores do not increase
/// and are the cosine similarity of `probe` and the passage's stored embedding, and that each result is the whole
/// passage as `get_passage` returns it (without its embedding).
pub(super) async fn ranked(
    store: &dyn Store,
    org: &OrgId,
    agent: AgentId,
    query: &PassageQuery,
    probe: &Embedding,
) -> Vec<String> {
    let what = format!("vector search with `{}` ({} dimensions)", probe.model, probe.vector.len());
    let results = store.search_passages_vector(org, agent, query, probe).await.must(&what);
    assert!(results.len() <= query.k as usize, "at most k results");
    for pair in results.windows(2) {
        assert!(pair[0].score >= pair[1].score, "results come best first: {} then {}", pair[0].score, pair[1].score);
    }
    for result in &results {
        let stored = store.get_passage(org, agent, result.item.id, true).await.must("get a found passage");
        let embedding = stored.embedding.clone().must("a found passage has an embedding");
        let want = cosine(&probe.vector, &embedding.vector);
        assert!((result.score - want).abs() < 1e-4, "`{}` scores {}, its cosine is {want}", stored.text, result.score);
        assert_eq!(result.item, store.get_passage(org, agent, result.item.id, false).await.must("get"));
    }
    results.into_iter().map(|r| r.item.text).collect()
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| (*t).to_owned()).collect()
}

pub async fn passage_search(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let bob = store.create_agent(&ctx, bare_agent("Bob")).await.must("other agent");
    let probe = vector(MODEL, &QUERY);
    let all = |k| passage_query(k, PassageFilter::default());
    let s = store.as_ref();

    assert!(ranked(s, &org, agent.id, &all(10), &probe).await.is_empty(), "an agent without vectors finds nothing");
    let other_probe = vector(OTHER_MODEL, &[1.0, 0.0, 0.0]);
    assert!(ranked(s, &org, agent.id, &all(10), &other_probe).await.is_empty(), "no vectors, nothing to mismatch");

    store.insert_passages(&ctx, agent.id, vec![passage("plain, not embedded", &[], None)]).await.must("plain");
    assert!(ranked(s, &org, agent.id, &all(10), &probe).await.is_empty(), "passages without embeddings are not found");

    // Inserted out of rank order, after the agent's (empty) vectors were first searched.
    let batch = vec![
        embedded("up", &[], None, &[0.0, 0.0, 1.0, 0.0]),
        embedded("south", &[], None, &[-1.0, 0.0, 0.0, 0.0]),
        embedded("north", &[], None, &[1.0, 0.0, 0.0, 0.0]),
        passage("another plain one", &[], None),
        embedded("forward", &[], None, &[0.0, 0.0, 0.0, 1.0]),
        embedded("north-east", &[], None, &[1.0, 1.0, 0.0, 0.0]),
        embedded("east", &[], None, &[0.0, 1.0, 0.0, 0.0]),
    ];
    store.insert_passages(&ctx, agent.id, batch).await.must("insert embedded passages");
    let bobs = vec![embedded("Bob's passage, right on the query", &[], None, &QUERY)];
    store.insert_passages(&ctx, bob.id, bobs).await.must("bob's passage");

    let order = strings(&["north-east", "north", "east", "up", "forward", "south"]);
    assert_eq!(ranked(s, &org, agent.id, &all(10), &probe).await, order, "by cosine, only this agent's");
    assert_eq!(ranked(s, &org, agent.id, &all(2), &probe).await, order[..2].to_vec());
    assert_eq!(ranked(s, &org, agent.id, &all(1), &probe).await, order[..1].to_vec());

    // Cosine ignores length: a longer query ranks and scores the same.
    let long = Embedding { model: MODEL.into(), vector: QUERY.iter().map(|x| x * 3.0).collect() };
    assert_eq!(ranked(s, &org, agent.id, &all(10), &long).await, order);
    let exact = vector(MODEL, &[0.0, 0.0, 1.0, 0.0]);
    let results = store.search_passages_vector(&org, agent.id, &all(1), &exact).await.must("search an axis");
    assert_eq!(results[0].item.text, "up");
    assert!((results[0].score - 1.0).abs() < 1e-4, "a stored vector scores 1 against itself: {}", results[0].score);

    let bob_found = ranked(s, &org, bob.id, &all(10), &probe).await;
    assert_eq!(bob_found, strings(&["Bob's passage, right on the query"]));

    assert_not_found(store.search_passages_vector(&org, unknown_agent(), &all(10), &probe).await, "agent");
    let globex = self::org("globex");
    assert_not_found(store.search_passages_vector(&globex, agent.id, &all(10), &probe).await, "agent");
}

fn filter(tags: &[&str], mode: TagMode, from: Option<i64>, to: Option<i64>) -> PassageFilter {
    PassageFilter {
        tags: tags.iter().map(|t| tag(t)).collect::<Vec<Tag>>(),
        tag_mode: mode,
        from: from.map(day),
        to: to.map(day),
    }
}

pub async fn passage_filters(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    // Against the first axis: four 0.63 > three 0.51 > two 0.37 > one 0.20.
    let batch = vec![
        embedded("one", &["x"], Some(1), &[0.2, 1.0, 0.0, 0.0]),
        embedded("two", &["y"], Some(2), &[0.4, 1.0, 0.0, 0.0]),
        embedded("three", &["x", "y"], Some(3), &[0.6, 1.0, 0.0, 0.0]),
        embedded("four", &[], Some(4), &[0.8, 1.0, 0.0, 0.0]),
        passage("tagged x but not embedded", &["x", "y"], Some(day(3))),
    ];
    store.insert_passages(&ctx, agent.id, batch).await.must("insert");
    // Closer to the query than any of the above, without their tags: the filters must apply before the limit.
    let noise =
        (1..=6).map(|i| embedded(&format!("noise {i}"), &["z"], Some(2), &[1.0, 0.1 * i as f32, 0.0, 0.0])).collect();
    store.insert_passages(&ctx, agent.id, noise).await.must("insert noise");
    let probe = vector(MODEL, &[1.0, 0.0, 0.0, 0.0]);
    let run = |f: PassageFilter, k: u32| {
        let store = store.clone();
        let org = org.clone();
        let probe = probe.clone();
        async move { ranked(store.as_ref(), &org, agent.id, &passage_query(k, f), &probe).await }
    };
    let noise: Vec<String> = (1..=6).map(|i| format!("noise {i}")).collect();
    assert_eq!(run(PassageFilter::default(), 1).await, noise[..1].to_vec());

    assert_eq!(run(filter(&["x"], TagMode::Any, None, None), 1).await, strings(&["three"]), "k=1: the best passing");
    assert_eq!(run(filter(&["x"], TagMode::Any, None, None), 5).await, strings(&["three", "one"]));
    assert_eq!(run(filter(&["x", "y"], TagMode::Any, None, None), 3).await, strings(&["three", "two", "one"]));
    assert_eq!(run(filter(&["x", "y"], TagMode::All, None, None), 1).await, strings(&["three"]));
    assert_eq!(run(filter(&["y", "x"], TagMode::All, None, None), 5).await, strings(&["three"]));
    assert_eq!(run(filter(&["x", "x"], TagMode::All, None, None), 5).await, strings(&["three", "one"]));
    assert_eq!(run(filter(&["x", "z"], TagMode::All, None, None), 5).await, Vec::<String>::new());
    assert_eq!(run(filter(&["nope"], TagMode::Any, None, None), 5).await, Vec::<String>::new());

    let mut from_two = noise.clone();
    from_two.extend(strings(&["four", "three", "two"]));
    assert_eq!(run(filter(&[], TagMode::Any, Some(2), None), 20).await, from_two, "from is inclusive");
    assert_eq!(run(filter(&[], TagMode::Any, None, Some(1)), 5).await, strings(&["one"]), "to is inclusive");
    assert_eq!(run(filter(&[], TagMode::Any, Some(3), None), 1).await, strings(&["four"]));
    assert_eq!(run(filter(&["x", "y"], TagMode::Any, Some(2), Some(3)), 5).await, strings(&["three", "two"]));
    assert_eq!(run(filter(&["y"], TagMode::Any, Some(2), Some(2)), 1).await, strings(&["two"]));
    assert_eq!(run(filter(&[], TagMode::Any, Some(4), Some(4)), 5).await, strings(&["four"]));
    assert_eq!(run(filter(&[], TagMode::Any, Some(5), None), 5).await, Vec::<String>::new());
}

pub async fn passage_model_mismatch(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let batch =
        vec![embedded("north", &[], None, &[1.0, 0.0, 0.0, 0.0]), embedded("east", &[], None, &[0.0, 1.0, 0.0, 0.0])];
    store.insert_passages(&ctx, agent.id, batch).await.must("insert");
    let all = passage_query(10, PassageFilter::default());
    let s = store.as_ref();

    let other_model = vector(OTHER_MODEL, &QUERY);
    let got = assert_mismatch(store.search_passages_vector(&org, agent.id, &all, &other_model).await);
    assert_eq!(got, (MODEL.to_owned(), 4, OTHER_MODEL.to_owned(), 4), "says which model met which");
    let other_dim = vector(MODEL, &QUERY[..3]);
    let got = assert_mismatch(store.search_passages_vector(&org, agent.id, &all, &other_dim).await);
    assert_eq!(got, (MODEL.to_owned(), 4, MODEL.to_owned(), 3), "the same model name with another dimension");
    let nothing_passes = passage_query(10, filter(&["nope"], TagMode::Any, None, None));
    assert_mismatch(store.search_passages_vector(&org, agent.id, &nothing_passes, &other_model).await);

    // Writes that would mix models change nothing at all.
    let listed = all_passage_ids(s, &org, agent.id, 100).await;
    let events = all_events(s, &org).await;
    let with = |text: &str, model: &str, v: &[f32]| {
        let mut new = passage(text, &[], None);
        new.embedding = Some(vector(model, v));
        new
    };
    let refused = [
        vec![with("a", MODEL, &QUERY), with("b", OTHER_MODEL, &QUERY)],
        vec![with("a", MODEL, &QUERY), with("b", MODEL, &QUERY[..3])],
        vec![passage("plain", &[], None), with("b", OTHER_MODEL, &QUERY)],
        vec![with("a", MODEL, &QUERY[..3])],
    ];
    for batch in refused {
        assert_mismatch(store.insert_passages(&ctx, agent.id, batch).await);
        assert_eq!(all_passage_ids(s, &org, agent.id, 100).await, listed, "a refused batch inserts nothing");
        assert_eq!(all_events(s, &org).await, events, "a refused batch records nothing");
    }
    let got = assert_mismatch(store.insert_passages(&ctx, agent.id, vec![with("b", OTHER_MODEL, &QUERY)]).await);
    assert_eq!(got, (MODEL.to_owned(), 4, OTHER_MODEL.to_owned(), 4));
    assert_eq!(
        ranked(s, &org, agent.id, &all, &vector(MODEL, &[1.0, 0.0, 0.0, 0.0])).await,
        strings(&["north", "east"])
    );

    // The rule is per agent: another agent may hold another model's vectors, and a batch mixing two is refused there
    // too, before it has any vectors.
    let mut config = config("Bob");
    config.embedding = model_ref(OTHER_MODEL);
    let new = engram_core::agent::NewAgent { config, blocks: Vec::new(), block_ids: Vec::new() };
    let bob = store.create_agent(&ctx, new).await.must("bob");
    let mixed = vec![with("a", OTHER_MODEL, &[1.0, 0.0, 0.0]), with("b", MODEL, &QUERY)];
    assert_mismatch(store.insert_passages(&ctx, bob.id, mixed).await);
    assert_eq!(store.count_passages(&org, bob.id).await.must("count"), 0);
    let bobs = vec![with("bob west", OTHER_MODEL, &[1.0, 0.0, 0.0]), with("bob east", OTHER_MODEL, &[0.0, 1.0, 0.0])];
    store.insert_passages(&ctx, bob.id, bobs).await.must("bob's own model");
    let bob_probe = vector(OTHER_MODEL, &[1.0, 0.2, 0.0]);
    assert_eq!(ranked(s, &org, bob.id, &all, &bob_probe).await, strings(&["bob west", "bob east"]));
    assert_eq!(
        ranked(s, &org, agent.id, &all, &vector(MODEL, &[0.0, 1.0, 0.0, 0.0])).await,
        strings(&["east", "north"])
    );
}

pub async fn passage_deletes(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let bob = store.create_agent(&ctx, bare_agent("Bob")).await.must("bob");
    let batch = vec![
        embedded("north", &[], None, &[1.0, 0.0, 0.0, 0.0]),
        embedded("north-east", &[], None, &[1.0, 1.0, 0.0, 0.0]),
        embedded("east", &[], None, &[0.0, 1.0, 0.0, 0.0]),
    ];
    let inserted = store.insert_passages(&ctx, agent.id, batch).await.must("insert");
    store
        .insert_passages(&ctx, bob.id, vec![embedded("bob north", &[], None, &[1.0, 0.0, 0.0, 0.0])])
        .await
        .must("bob");
    let probe = vector(MODEL, &[1.0, 0.0, 0.0, 0.0]);
    let all = |k| passage_query(k, PassageFilter::default());
    let s = store.as_ref();
    assert_eq!(ranked(s, &org, agent.id, &all(10), &probe).await, strings(&["north", "north-east", "east"]));
    assert_eq!(ranked(s, &org, bob.id, &all(10), &probe).await, strings(&["bob north"]));

    store.delete_passage(&ctx, agent.id, inserted[0].id).await.must("delete the best match");
    assert_eq!(ranked(s, &org, agent.id, &all(10), &probe).await, strings(&["north-east", "east"]));
    assert_eq!(ranked(s, &org, agent.id, &all(1), &probe).await, strings(&["north-east"]), "never returned again");

    store.delete_agent(&ctx, agent.id).await.must("delete agent");
    assert_not_found(store.search_passages_vector(&org, agent.id, &all(10), &probe).await, "agent");
    assert_eq!(ranked(s, &org, bob.id, &all(10), &probe).await, strings(&["bob north"]), "other agents keep theirs");
    let again = store.create_agent(&ctx, bare_agent("Ada")).await.must("a new agent");
    assert!(ranked(s, &org, again.id, &all(10), &probe).await.is_empty(), "a new agent has no vectors");
    let other = vector(OTHER_MODEL, &[0.0, 1.0, 0.0]);
    assert!(ranked(s, &org, again.id, &all(10), &other).await.is_empty(), "nor a model to mismatch");
    store
        .insert_passages(&ctx, again.id, vec![embedded("new north", &[], None, &[1.0, 0.0, 0.0, 0.0])])
        .await
        .must("new");
    assert_eq!(ranked(s, &org, again.id, &all(10), &probe).await, strings(&["new north"]));
}

/// Once an agent's last vector is deleted it has no vectors: it may switch models, and the new model's vectors are
/// found, even though the old ones were searched (and, in a backend that caches, loaded) before.
pub async fn passage_model_change_after_deletes(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let north = vec![embedded("north", &[], None, &[1.0, 0.0, 0.0, 0.0])];
    let inserted = store.insert_passages(&ctx, agent.id, north).await.must("insert");
    let all = passage_query(10, PassageFilter::default());
    let probe = vector(MODEL, &[1.0, 0.0, 0.0, 0.0]);
    let s = store.as_ref();
    assert_eq!(ranked(s, &org, agent.id, &all, &probe).await, strings(&["north"]));

    store.delete_passage(&ctx, agent.id, inserted[0].id).await.must("delete the only vector");
    assert!(ranked(s, &org, agent.id, &all, &probe).await.is_empty());
    let patch = AgentPatch { embedding: Some(model_ref(OTHER_MODEL)), ..AgentPatch::default() };
    store.update_agent(&ctx, agent.id, patch).await.must("no vectors left, so the model may change");

    let west = store.insert_passages(&ctx, agent.id, vec![passage("west", &[], None)]).await.must("insert west");
    let pending = store.pending_embeddings(Some((&org, agent.id)), 10).await.must("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].model, model_ref(OTHER_MODEL), "pending rows carry the agent's model now");
    let item = (EmbeddingTarget::Passage(west[0].id), vector(OTHER_MODEL, &[1.0, 0.0, 0.0]));
    assert_eq!(store.set_embeddings(vec![item]).await.must("embed west"), 1, "no vectors of another model remain");
    let other_probe = vector(OTHER_MODEL, &[1.0, 0.5, 0.0]);
    assert_eq!(ranked(s, &org, agent.id, &all, &other_probe).await, strings(&["west"]), "the new model's vectors");
    let got = assert_mismatch(store.search_passages_vector(&org, agent.id, &all, &probe).await);
    assert_eq!(got, (OTHER_MODEL.to_owned(), 3, MODEL.to_owned(), 4), "the old model is the one refused now");

    let east = vec![{
        let mut new = passage("east", &[], None);
        new.embedding = Some(vector(OTHER_MODEL, &[0.0, 1.0, 0.0]));
        new
    }];
    store.insert_passages(&ctx, agent.id, east).await.must("insert with the new model");
    assert_eq!(ranked(s, &org, agent.id, &all, &other_probe).await, strings(&["west", "east"]));

    // An agent whose vectors were all deleted has no model left to mismatch a query.
    let bob = store.create_agent(&ctx, bare_agent("Bob")).await.must("bob");
    let north = vec![embedded("bob north", &[], None, &[1.0, 0.0, 0.0, 0.0])];
    let inserted = store.insert_passages(&ctx, bob.id, north).await.must("insert");
    assert_eq!(ranked(s, &org, bob.id, &all, &probe).await, strings(&["bob north"]));
    store.delete_passage(&ctx, bob.id, inserted[0].id).await.must("delete bob's only vector");
    assert!(ranked(s, &org, bob.id, &all, &other_probe).await.is_empty(), "no vectors, nothing to mismatch");
}

/// Dated messages of several roles along hand-made directions: `(role, content, day, direction)`.
const MESSAGES: [(Role, &str, i64, [f32; 4]); 6] = [
    (Role::User, "south", 6, [-1.0, 0.0, 0.0, 0.0]),
    (Role::Assistant, "north reply", 2, [1.0, 0.0, 0.0, 0.0]),
    (Role::Tool, "up", 4, [0.0, 0.0, 1.0, 0.0]),
    (Role::User, "north-east", 1, [1.0, 1.0, 0.0, 0.0]),
    (Role::Assistant, "forward", 5, [0.0, 0.0, 0.0, 1.0]),
    (Role::User, "east", 3, [0.0, 1.0, 0.0, 0.0]),
];

/// The contents of the messages found, best first, checking the scores (cosines of the directions in
/// [`MESSAGES`]), the limit, and that each result is the stored message.
async fn found(store: &dyn Store, org: &OrgId, agent: AgentId, query: MessageSearch, probe: &Embedding) -> Vec<String> {
    let results = store.search_messages_vector(org, agent, &query, probe).await.must("message vector search");
    assert!(results.len() <= query.limit as usize, "at most limit results");
    let directions: HashMap<&str, [f32; 4]> = MESSAGES.iter().map(|(_, c, _, v)| (*c, *v)).collect();
    let listed = store.list_messages(org, agent, &all_messages()).await.must("list").items;
    for (i, result) in results.iter().enumerate() {
        if i > 0 {
            assert!(results[i - 1].score >= result.score, "best first");
        }
        let direction = directions.get(result.item.content.as_str()).must("a message that was embedded");
        let want = cosine(&probe.vector, direction);
        assert!((result.score - want).abs() < 1e-4, "`{}` scores {}, not {want}", result.item.content, result.score);
        let stored: Vec<&Message> = listed.iter().filter(|m| m.id == result.item.id).collect();
        assert_eq!(stored, [&result.item], "results are the agent's stored messages");
    }
    results.into_iter().map(|r| r.item.content).collect()
}

fn search(role: Option<Role>, from: Option<i64>, to: Option<i64>, limit: u32) -> MessageSearch {
    MessageSearch { text: "words that vector search ignores".into(), role, from: from.map(day), to: to.map(day), limit }
}

pub async fn message_search(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let bob = store.create_agent(&ctx, bare_agent("Bob")).await.must("bob");
    let batch = MESSAGES
        .iter()
        .map(|(role, content, days, _)| {
            let mut new = message(*role, content);
            new.created_at = Some(day(*days));
            new
        })
        .collect();
    let appended = store.append_messages(&ctx, agent.id, batch).await.must("append");
    let bobs = store.append_messages(&ctx, bob.id, vec![message(Role::User, "bob")]).await.must("bob's message");
    let probe = vector(MODEL, &QUERY);
    let s = store.as_ref();
    assert!(found(s, &org, agent.id, search(None, None, None, 10), &probe).await.is_empty(), "not embedded yet");

    let mut items: Vec<_> = appended
        .iter()
        .zip(MESSAGES)
        .map(|(m, (_, _, _, v))| (EmbeddingTarget::Message(m.id), vector(MODEL, &v)))
        .collect();
    items.push((EmbeddingTarget::Message(bobs[0].id), vector(MODEL, &QUERY)));
    assert_eq!(store.set_embeddings(items).await.must("embed messages"), 7);
    // Messages out of the window are found too; the summary, not embedded, is not.
    let evict = [appended[1].id, appended[3].id];
    store.compact_messages(&ctx, agent.id, &evict, message(Role::Summary, "The trip so far.")).await.must("compact");

    let order = strings(&["north-east", "north reply", "east", "up", "forward", "south"]);
    assert_eq!(found(s, &org, agent.id, search(None, None, None, 10), &probe).await, order, "only this agent's");
    assert_eq!(found(s, &org, agent.id, search(None, None, None, 2), &probe).await, order[..2].to_vec());
    let run = |role, from, to, limit| found(s, &org, agent.id, search(role, from, to, limit), &probe);
    assert_eq!(run(Some(Role::User), None, None, 10).await, strings(&["north-east", "east", "south"]));
    assert_eq!(run(Some(Role::Assistant), None, None, 1).await, strings(&["north reply"]), "role before the limit");
    assert_eq!(run(Some(Role::Tool), None, None, 10).await, strings(&["up"]));
    assert_eq!(run(Some(Role::Summary), None, None, 10).await, Vec::<String>::new());
    assert_eq!(run(None, Some(3), None, 10).await, strings(&["east", "up", "forward", "south"]), "from is inclusive");
    assert_eq!(run(None, Some(2), None, 1).await, strings(&["north reply"]), "time before the limit");
    assert_eq!(run(None, None, Some(1), 10).await, strings(&["north-east"]), "to is inclusive");
    assert_eq!(run(None, Some(2), Some(4), 10).await, strings(&["north reply", "east", "up"]));
    assert_eq!(run(Some(Role::User), Some(2), None, 1).await, strings(&["east"]));
    assert_eq!(run(Some(Role::Assistant), Some(3), Some(6), 10).await, strings(&["forward"]));
    assert_eq!(run(None, Some(7), None, 10).await, Vec::<String>::new());

    let query = search(None, None, None, 10);
    let got = assert_mismatch(store.search_messages_vector(&org, agent.id, &query, &vector(OTHER_MODEL, &QUERY)).await);
    assert_eq!(got, (MODEL.to_owned(), 4, OTHER_MODEL.to_owned(), 4));
    let got = assert_mismatch(store.search_messages_vector(&org, agent.id, &query, &vector(MODEL, &QUERY[..3])).await);
    assert_eq!(got, (MODEL.to_owned(), 4, MODEL.to_owned(), 3));
    assert_not_found(store.search_messages_vector(&org, unknown_agent(), &query, &probe).await, "agent");
    let globex = self::org("globex");
    assert_not_found(store.search_messages_vector(&globex, agent.id, &query, &probe).await, "agent");
}
