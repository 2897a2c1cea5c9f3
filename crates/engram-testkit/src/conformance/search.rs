//! Conformance checks for full-text passage search: BM25 ranking with any-word matching, stemming, query text that
//! looks like search syntax, and tag/time filters applied before ranking and the limit.

use std::sync::Arc;

use engram_core::agent::Tag;
use engram_core::id::AgentId;
use engram_core::org::OrgId;
use engram_core::search::{PassageFilter, PassageQuery, TagMode};
use engram_store::Store;

use super::fixtures::*;

fn query(text: &str, k: u32, filter: PassageFilter) -> PassageQuery {
    PassageQuery { text: text.into(), k, filter }
}

/// The texts of the results, best first, checking that scores do not increase.
async fn texts(store: &dyn Store, org: &OrgId, agent: AgentId, q: PassageQuery) -> Vec<String> {
    let results = store.search_passages_text(org, agent, &q).await.must("search");
    for pair in results.windows(2) {
        assert!(pair[0].score >= pair[1].score, "results come best first: {} then {}", pair[0].score, pair[1].score);
    }
    assert!(results.len() <= q.k as usize);
    results.into_iter().map(|r| r.item.text).collect()
}

pub async fn text_search(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let other = store.create_agent(&ctx, bare_agent("Bob")).await.must("other agent");
    let texts_in = [
        "The cat sat on the mat.",
        "Dogs chase cats in the garden.",
        "Quarterly revenue report for the finance team.",
        "A cat, a cat, and another cat!",
        "Meeting notes from Monday.",
        "The weather was sunny and warm.",
        "Remember to buy milk and bread.",
        "Deployment checklist for the release.",
    ];
    let batch = texts_in.iter().map(|t| passage(t, &[], None)).collect();
    let inserted = store.insert_passages(&ctx, agent.id, batch).await.must("insert");
    store.insert_passages(&ctx, other.id, vec![passage("cat cat cat cat", &[], None)]).await.must("other's passage");
    let all = PassageFilter::default();

    let cats = texts(store.as_ref(), &org, agent.id, query("cat", 10, all.clone())).await;
    assert_eq!(cats.len(), 3, "stemming matches cats too, and only this agent's passages: {cats:?}");
    assert_eq!(cats[0], "A cat, a cat, and another cat!", "more occurrences rank first");
    assert!(cats.contains(&"Dogs chase cats in the garden.".to_owned()));

    let results = store.search_passages_text(&org, agent.id, &query("cat", 10, all.clone())).await.must("search");
    assert!(results.iter().all(|r| r.score > 0.0), "higher is better and matches score above zero");
    let got = store.get_passage(&org, agent.id, results[0].item.id, false).await.must("get");
    assert_eq!(results[0].item, got, "results are whole passages without embeddings");

    let either = texts(store.as_ref(), &org, agent.id, query("revenue garden", 10, all.clone())).await;
    assert_eq!(either.len(), 2, "any of the words matches: {either:?}");
    let limited = texts(store.as_ref(), &org, agent.id, query("cat", 2, all.clone())).await;
    assert_eq!(limited.len(), 2);
    assert_eq!(limited, cats[..2].to_vec());

    for syntax in ["cat\" OR NEAR(", "cat*", "-cat", "cat NOT", "title:cat", "^cat"] {
        let got = texts(store.as_ref(), &org, agent.id, query(syntax, 10, all.clone())).await;
        assert_eq!(got.len(), 3, "`{syntax}` is read as words, not as search syntax");
    }
    assert!(texts(store.as_ref(), &org, agent.id, query("?!  --", 10, all.clone())).await.is_empty());
    assert!(texts(store.as_ref(), &org, agent.id, query("zebra", 10, all.clone())).await.is_empty());

    store.delete_passage(&ctx, agent.id, inserted[3].id).await.must("delete");
    let after_delete = texts(store.as_ref(), &org, agent.id, query("cat", 10, all.clone())).await;
    assert_eq!(after_delete.len(), 2, "deleted passages are never returned");
    assert!(!after_delete.contains(&texts_in[3].to_owned()));
    assert_not_found(store.search_passages_text(&org, unknown_agent(), &query("cat", 10, all)).await, "agent");
}

fn filter(tags: &[&str], mode: TagMode, from: Option<i64>, to: Option<i64>) -> PassageFilter {
    PassageFilter {
        tags: tags.iter().map(|t| tag(t)).collect::<Vec<Tag>>(),
        tag_mode: mode,
        from: from.map(day),
        to: to.map(day),
    }
}

pub async fn filters(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let batch = vec![
        passage("alpha note one", &["x"], Some(day(1))),
        passage("alpha note two", &["y"], Some(day(2))),
        passage("alpha note three", &["x", "y"], Some(day(3))),
        passage("alpha note four", &[], Some(day(4))),
    ];
    store.insert_passages(&ctx, agent.id, batch).await.must("insert");
    // Better matches without the filtered tags: the filters must apply before the limit.
    let noise = (0..6).map(|_| passage("alpha alpha alpha", &["z"], Some(day(2)))).collect();
    store.insert_passages(&ctx, agent.id, noise).await.must("insert noise");

    let run = |f: PassageFilter, k: u32| {
        let store = store.clone();
        let org = org.clone();
        async move {
            let mut got = texts(store.as_ref(), &org, agent.id, query("alpha", k, f)).await;
            got.sort();
            got
        }
    };
    let sorted = |texts: &[&str]| {
        let mut v: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
        v.sort();
        v
    };
    let one = "alpha note one";
    let two = "alpha note two";
    let three = "alpha note three";
    let four = "alpha note four";

    assert_eq!(run(filter(&["x"], TagMode::Any, None, None), 2).await, sorted(&[one, three]));
    assert_eq!(run(filter(&["x", "y"], TagMode::Any, None, None), 3).await, sorted(&[one, two, three]));
    assert_eq!(run(filter(&["x", "y"], TagMode::All, None, None), 1).await, sorted(&[three]));
    assert_eq!(run(filter(&["x", "x"], TagMode::All, None, None), 5).await, sorted(&[one, three]));
    assert_eq!(run(filter(&["x", "z"], TagMode::All, None, None), 5).await, Vec::<String>::new());
    assert_eq!(run(filter(&["nope"], TagMode::Any, None, None), 5).await, Vec::<String>::new());

    let from_two = run(filter(&[], TagMode::Any, Some(2), None), 20).await;
    assert_eq!(from_two.len(), 9, "from is inclusive: {from_two:?}");
    assert!(!from_two.contains(&one.to_owned()));
    assert_eq!(run(filter(&[], TagMode::Any, None, Some(1)), 20).await, sorted(&[one]), "to is inclusive");
    assert_eq!(run(filter(&["x", "y"], TagMode::Any, Some(2), Some(3)), 5).await, sorted(&[two, three]));
    assert_eq!(run(filter(&[], TagMode::Any, Some(4), Some(4)), 5).await, sorted(&[four]));
    assert_eq!(run(filter(&[], TagMode::Any, Some(5), None), 5).await, Vec::<String>::new());
}
