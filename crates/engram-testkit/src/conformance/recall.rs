//! Conformance checks for the context window and recall search: listing and counting in-context messages,
//! compaction (eviction keeps messages, supersedes the previous summary, and an invalid request changes nothing),
//! full-text search over all of an agent's messages with role and time filters, and the archival tag listing.

use std::sync::Arc;

use engram_core::id::{AgentId, MessageId};
use engram_core::message::{Message, Role};
use engram_core::org::OrgId;
use engram_core::search::MessageSearch;
use engram_store::{MessageCounts, Store};

use super::fixtures::*;

fn contents(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

async fn context(store: &dyn Store, org: &OrgId, agent: AgentId) -> Vec<String> {
    let window = store.list_context_messages(org, agent).await.must("list context");
    assert!(window.iter().all(|m| m.in_context));
    window.into_iter().map(|m| m.content).collect()
}

fn counts(total: u64, in_context: u64) -> MessageCounts {
    MessageCounts { total, in_context }
}

pub async fn context_window(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let other = store.create_agent(&ctx, bare_agent("Bob")).await.must("other agent");
    assert_eq!(store.count_messages(&org, agent.id).await.must("count empty"), counts(0, 0));
    assert!(context(store.as_ref(), &org, agent.id).await.is_empty());

    let mut outside = message(Role::Tool, "m2");
    outside.in_context = false;
    let batch = vec![message(Role::User, "m1"), outside, message(Role::Assistant, "m3")];
    let appended = store.append_messages(&ctx, agent.id, batch).await.must("append");
    store.append_messages(&ctx, other.id, vec![message(Role::User, "b1")]).await.must("append to bob");
    let window = store.list_context_messages(&org, agent.id).await.must("list context");
    assert_eq!(window, [appended[0].clone(), appended[2].clone()], "in-context messages, in position order");
    assert_eq!(store.count_messages(&org, agent.id).await.must("count"), counts(3, 2));
    assert_eq!(store.count_messages(&org, other.id).await.must("count bob"), counts(1, 1));

    let globex = self::org("globex");
    assert_not_found(store.list_context_messages(&globex, agent.id).await, "agent");
    assert_not_found(store.count_messages(&globex, agent.id).await, "agent");
    assert_not_found(store.count_messages(&org, unknown_agent()).await, "agent");
}

pub async fn compaction(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let other = store.create_agent(&ctx, bare_agent("Bob")).await.must("other agent");
    let batch = (1..=6).map(|i| message(Role::User, &format!("m{i}"))).collect();
    let all = store.append_messages(&ctx, agent.id, batch).await.must("append");
    let bobs = store.append_messages(&ctx, other.id, vec![message(Role::User, "b1")]).await.must("append to bob");
    let id = |n: usize| -> MessageId { all[n - 1].id };
    let events_at_start = all_events(store.as_ref(), &org).await.len();

    let first = message(Role::Summary, "S1");
    let summary = store.compact_messages(&ctx, agent.id, &[id(1), id(2)], first).await.must("compact");
    assert_eq!((summary.role, summary.in_context, summary.position), (Role::Summary, true, 7));
    assert_eq!(context(store.as_ref(), &org, agent.id).await, ["m3", "m4", "m5", "m6", "S1"]);
    let listed = store.list_messages(&org, agent.id, &all_messages()).await.must("list").items;
    assert_eq!(contents(&listed), ["m1", "m2", "m3", "m4", "m5", "m6", "S1"], "evicted messages stay in recall");
    let flags: Vec<bool> = listed.iter().map(|m| m.in_context).collect();
    assert_eq!(flags, [false, false, true, true, true, true, true]);
    assert_eq!(listed[6], summary);
    assert_eq!(store.count_messages(&org, agent.id).await.must("count"), counts(7, 5));
    let events = all_events(store.as_ref(), &org).await;
    assert_gap_free(&events);
    let new_events = &events[events_at_start..];
    assert_eq!(actions(new_events), ["message.evict", "message.evict", "message.append"]);
    let targets: Vec<String> = new_events.iter().map(|e| e.target.id.clone()).collect();
    assert_eq!(targets, [id(1).to_string(), id(2).to_string(), summary.id.to_string()]);
    assert!(new_events.iter().all(|e| e.agent_id == Some(agent.id) && e.target.kind.as_str() == "message"));

    // A second compaction moves the first summary out too: the new one covers it.
    let second = message(Role::Summary, "S2");
    let summary2 = store.compact_messages(&ctx, agent.id, &[id(3)], second).await.must("compact again");
    assert_eq!(summary2.position, 8);
    assert_eq!(context(store.as_ref(), &org, agent.id).await, ["m4", "m5", "m6", "S2"]);
    let events = all_events(store.as_ref(), &org).await;
    let evicted: Vec<String> =
        events.iter().filter(|e| e.action.as_str() == "message.evict").map(|e| e.target.id.clone()).collect();
    assert_eq!(evicted[2..], [id(3).to_string(), summary.id.to_string()]);
    assert_eq!(store.count_messages(&org, agent.id).await.must("count"), counts(8, 4));

    // An id that is not an in-context message of this agent fails the whole compaction.
    let window = store.list_context_messages(&org, agent.id).await.must("window");
    let invalid = [
        vec![id(4), id(1)],             // already evicted
        vec![id(4), bobs[0].id],        // another agent's
        vec![unknown_message(), id(5)], // no message at all
    ];
    for evict in invalid {
        let result = store.compact_messages(&ctx, agent.id, &evict, message(Role::Summary, "S3")).await;
        assert_invalid(result, "evict");
    }
    assert_eq!(store.list_context_messages(&org, agent.id).await.must("window after"), window, "nothing changed");
    assert_eq!(store.count_messages(&org, agent.id).await.must("count after"), counts(8, 4));
    assert_eq!(all_events(store.as_ref(), &org).await, events, "failed compactions record nothing");
    assert_eq!(store.count_messages(&org, other.id).await.must("bob's count"), counts(1, 1));

    let globex = self::org("globex");
    let result = store.compact_messages(&self::ctx(&globex), agent.id, &[id(4)], message(Role::Summary, "x")).await;
    assert_not_found(result, "agent");
}

fn search(text: &str, limit: u32) -> MessageSearch {
    MessageSearch { text: text.into(), role: None, from: None, to: None, limit }
}

/// The contents of the results, best first, checking that scores do not increase.
async fn found(store: &dyn Store, org: &OrgId, agent: AgentId, query: MessageSearch) -> Vec<String> {
    let results = store.search_messages_text(org, agent, &query).await.must("search messages");
    for pair in results.windows(2) {
        assert!(pair[0].score >= pair[1].score, "results come best first: {} then {}", pair[0].score, pair[1].score);
    }
    assert!(results.len() <= query.limit as usize);
    assert!(results.iter().all(|r| r.item.agent_id == agent));
    results.into_iter().map(|r| r.item.content).collect()
}

pub async fn text_search(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let other = store.create_agent(&ctx, bare_agent("Bob")).await.must("other agent");
    let dated = |role: Role, content: &str, days: i64| {
        let mut m = message(role, content);
        m.created_at = Some(day(days));
        m
    };
    let batch = vec![
        dated(Role::User, "My cat is called Tom.", 1),
        dated(Role::Assistant, "Tom the cat, noted. Cats are great.", 2),
        dated(Role::User, "Quarterly revenue is up.", 3),
        dated(Role::User, "The cat cat cat sleeps all day.", 4),
        dated(Role::Assistant, "Anything else about the garden?", 5),
    ];
    let all = store.append_messages(&ctx, agent.id, batch).await.must("append");
    store.append_messages(&ctx, other.id, vec![message(Role::User, "cat cat cat cat cat")]).await.must("bob's");
    store
        .compact_messages(&ctx, agent.id, &[all[0].id, all[1].id], message(Role::Summary, "A summary."))
        .await
        .must("compact");

    let cats = found(store.as_ref(), &org, agent.id, search("cat", 10)).await;
    assert_eq!(cats.len(), 3, "stemming, and only this agent's messages: {cats:?}");
    assert_eq!(cats[0], "The cat cat cat sleeps all day.", "more occurrences rank first");
    assert!(cats.contains(&"My cat is called Tom.".to_owned()), "evicted messages are found");
    let results = store.search_messages_text(&org, agent.id, &search("tom", 10)).await.must("search");
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r.score > 0.0 && !r.item.in_context), "higher is better; evicted ones included");
    assert_eq!(results.iter().find(|r| r.item.id == all[0].id).must("m1").item.content, all[0].content);

    let either = found(store.as_ref(), &org, agent.id, search("revenue garden", 10)).await;
    assert_eq!(either.len(), 2, "any of the words matches: {either:?}");
    assert_eq!(found(store.as_ref(), &org, agent.id, search("cat", 1)).await.len(), 1);
    assert!(found(store.as_ref(), &org, agent.id, search("\"*\" -- ()", 10)).await.is_empty(), "no words, no results");
    assert!(found(store.as_ref(), &org, agent.id, search("NEAR(cat tom) OR", 10)).await.len() >= 3, "syntax is text");

    let users = MessageSearch { role: Some(Role::User), ..search("cat tom", 10) };
    let got = found(store.as_ref(), &org, agent.id, users).await;
    assert_eq!(got.len(), 2, "role filter: {got:?}");
    let assistants = MessageSearch { role: Some(Role::Assistant), ..search("cat", 10) };
    assert_eq!(found(store.as_ref(), &org, agent.id, assistants).await, ["Tom the cat, noted. Cats are great."]);
    let window = MessageSearch { from: Some(day(2)), to: Some(day(3)), ..search("cat revenue", 10) };
    let mut got = found(store.as_ref(), &org, agent.id, window).await;
    got.sort();
    assert_eq!(got, ["Quarterly revenue is up.", "Tom the cat, noted. Cats are great."], "time filter, inclusive");
    let later = MessageSearch { from: Some(day(4)), ..search("cat", 1) };
    assert_eq!(found(store.as_ref(), &org, agent.id, later).await, ["The cat cat cat sleeps all day."]);
    let earlier = MessageSearch { to: Some(day(1)), ..search("cat", 10) };
    assert_eq!(found(store.as_ref(), &org, agent.id, earlier).await, ["My cat is called Tom."]);

    let globex = self::org("globex");
    assert_not_found(store.search_messages_text(&globex, agent.id, &search("cat", 10)).await, "agent");
    assert_not_found(store.search_messages_text(&org, unknown_agent(), &search("cat", 10)).await, "agent");
}

pub async fn passage_tags(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let other = store.create_agent(&ctx, bare_agent("Bob")).await.must("other agent");
    assert!(store.list_passage_tags(&org, agent.id, 10).await.must("no tags").is_empty());
    let batch = vec![
        passage("one", &["work", "urgent"], None),
        passage("two", &["work", "home"], None),
        passage("three", &["zoo", "home", "work"], None),
        passage("four", &["apple"], None),
        passage("five", &[], None),
    ];
    store.insert_passages(&ctx, agent.id, batch).await.must("insert");
    store.insert_passages(&ctx, other.id, vec![passage("bob", &["bobs", "work"], None)]).await.must("bob's");

    let tags = store.list_passage_tags(&org, agent.id, 10).await.must("tags");
    assert_eq!(tags, ["work", "home", "apple", "urgent", "zoo"], "most used first, then by tag");
    assert_eq!(store.list_passage_tags(&org, agent.id, 2).await.must("limited"), ["work", "home"]);
    assert_eq!(store.list_passage_tags(&org, other.id, 10).await.must("bob's tags"), ["bobs", "work"]);
    assert_not_found(store.list_passage_tags(&self::org("globex"), agent.id, 10).await, "agent");
}

/// `load_window` reads exactly what the four separate reads return, and only for the caller's organisation.
pub async fn window_snapshot(store: Arc<dyn Store>) {
    let globex = org("globex");
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let history = ["one", "two", "three", "four"].map(|text| message(Role::User, text)).to_vec();
    let appended = store.append_messages(&ctx, agent.id, history).await.must("append");
    let summary = message(Role::Summary, "one and two");
    store.compact_messages(&ctx, agent.id, &[appended[0].id, appended[1].id], summary).await.must("compact");
    let passages = vec![passage("a", &["x", "y"], None), passage("b", &["y"], None), passage("c", &[], None)];
    store.insert_passages(&ctx, agent.id, passages).await.must("insert passages");

    let snapshot = store.load_window(&org, agent.id, 1).await.must("load window");
    assert_eq!(snapshot.messages, store.list_context_messages(&org, agent.id).await.must("list context"));
    assert_eq!(contents(&snapshot.messages), ["three", "four", "one and two"]);
    assert_eq!(snapshot.counts, store.count_messages(&org, agent.id).await.must("count"));
    assert_eq!(snapshot.counts, counts(5, 3));
    assert_eq!(snapshot.archival_passages, 3);
    assert_eq!(snapshot.archival_tags, ["y"], "most used first, at most the limit");
    assert_eq!(store.load_window(&org, agent.id, 10).await.must("all tags").archival_tags, ["y", "x"]);

    assert_not_found(store.load_window(&globex, agent.id, 10).await, "agent");
    assert_not_found(store.load_window(&org, unknown_agent(), 10).await, "agent");
}
