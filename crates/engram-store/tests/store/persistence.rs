//! Durability and decoding: everything survives a reopen, ids sort by creation under a frozen clock, the full-text
//! indexes stay consistent with their tables, and stored data that no longer parses is reported as corrupt.

use engram_core::block::BlockPatch;
use engram_core::id::AgentId;
use engram_core::message::Role;
use engram_core::page::PageRequest;
use engram_core::search::{PassageFilter, PassageQuery};
use engram_store::{Store, StoreError};
use engram_testkit::conformance::fixtures::{
    Must, all_events, all_messages, assert_gap_free, ctx, day, label, message, new_agent, org, passage, tag,
};

use super::support::{FixedClock, check_message_search, open, open_with_clock, raw};

#[tokio::test]
async fn everything_survives_a_reopen() {
    let tmp = tempfile::tempdir().must("temp dir");
    let org = org("acme");
    let ctx = ctx(&org);
    let store = open(tmp.path()).await;
    let agent = store.create_agent(&ctx, new_agent("Ada")).await.must("create agent");
    let patch = BlockPatch { value: Some("I like tea.".into()), ..BlockPatch::default() };
    store.update_agent_block(&ctx, agent.id, &label("persona"), patch, None).await.must("edit block");
    let passages = store
        .insert_passages(&ctx, agent.id, vec![passage("The kettle is blue.", &["home"], Some(day(2)))])
        .await
        .must("insert");
    let messages = store.append_messages(&ctx, agent.id, vec![message(Role::User, "hello")]).await.must("append");
    let agent = store.get_agent(&org, agent.id).await.must("get");
    let events = all_events(&store, &org).await;
    store.close().await;

    let store = open(tmp.path()).await;
    assert_eq!(store.get_agent(&org, agent.id).await.must("get after reopen"), agent);
    let listed = store.list_passages(&org, agent.id, &PageRequest::default()).await.must("passages");
    assert_eq!(listed.items, passages);
    let history = store.list_messages(&org, agent.id, &all_messages()).await.must("messages");
    assert_eq!(history.items, messages);
    assert_eq!(all_events(&store, &org).await, events);
    let query = PassageQuery { text: "kettle".into(), k: 5, filter: Default::default() };
    assert_eq!(store.search_passages_text(&org, agent.id, &query).await.must("search").len(), 1);

    // New writes continue the sequences.
    let more = store.append_messages(&ctx, agent.id, vec![message(Role::Assistant, "hi")]).await.must("append");
    assert_eq!(more[0].position, 2);
    let events = all_events(&store, &org).await;
    assert_gap_free(&events);
    store.close().await;
}

#[tokio::test]
async fn ids_sort_by_creation_under_a_frozen_clock() {
    let tmp = tempfile::tempdir().must("temp dir");
    let store = open_with_clock(tmp.path(), FixedClock(day(10))).await;
    let org = org("acme");
    let ctx = ctx(&org);
    let mut agents = Vec::new();
    for i in 0..20 {
        agents.push(store.create_agent(&ctx, new_agent(&format!("a{i}"))).await.must("create").id);
    }
    assert!(agents.windows(2).all(|w| w[0] < w[1]), "agent ids increase within one millisecond");
    let batch = (0..100).map(|i| passage(&format!("p{i}"), &[], None)).collect();
    let passages = store.insert_passages(&ctx, agents[0], batch).await.must("insert");
    assert!(passages.windows(2).all(|w| w[0].id < w[1].id));
    assert!(passages.iter().all(|p| p.created_at == day(10)), "times come from the configured clock");
    let agent = store.get_agent(&org, agents[0]).await.must("get");
    assert_eq!((agent.created_at, agent.blocks[0].created_at), (day(10), day(10)));
    assert!(all_events(&store, &org).await.iter().all(|e| e.at == day(10)));
    store.close().await;
}

/// The passage ids a text search for `word` finds (at most 1,000), sorted.
async fn found_passages(store: &dyn Store, org: &engram_core::org::OrgId, agent: AgentId, word: &str) -> Vec<String> {
    found_tagged(store, org, agent, word, &[]).await
}

/// [`found_passages`] among the passages holding any of `tags` (all passages when there are none).
async fn found_tagged(
    store: &dyn Store,
    org: &engram_core::org::OrgId,
    agent: AgentId,
    word: &str,
    tags: &[&str],
) -> Vec<String> {
    let filter = PassageFilter { tags: tags.iter().map(|t| tag(t)).collect(), ..Default::default() };
    let query = PassageQuery { text: word.into(), k: 1000, filter };
    let found = store.search_passages_text(org, agent, &query).await.must("search passages");
    let mut ids: Vec<String> = found.iter().map(|s| s.item.id.to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn full_text_indexes_follow_their_tables() {
    let tmp = tempfile::tempdir().must("temp dir");
    let org = org("acme");
    let ctx = ctx(&org);
    let store = open(tmp.path()).await;
    let agent = store.create_agent(&ctx, new_agent("Ada")).await.must("create agent");
    let batch = (0..30).map(|i| passage(&format!("note number {i} about cats"), &["t"], None)).collect();
    let passages = store.insert_passages(&ctx, agent.id, batch).await.must("insert");
    let mut kept: Vec<String> = passages.iter().map(|p| p.id.to_string()).collect();
    kept.sort();
    // The first search builds the agent's index from the table; the first tag filter, its tags.
    assert_eq!(found_passages(&store, &org, agent.id, "cats").await, kept);
    assert_eq!(found_tagged(&store, &org, agent.id, "cats", &["t"]).await, kept);
    assert!(found_tagged(&store, &org, agent.id, "cats", &["u"]).await.is_empty());
    let msgs = (0..10).map(|i| message(Role::User, &format!("message {i}"))).collect();
    store.append_messages(&ctx, agent.id, msgs).await.must("append");
    check_message_search(&store, &org, agent.id, "message").await;

    // Later writes reach the loaded indexes: deletions, inserts, appended messages.
    for p in passages.iter().step_by(3) {
        store.delete_passage(&ctx, agent.id, p.id).await.must("delete passage");
        kept.retain(|id| *id != p.id.to_string());
    }
    let tagged_t = kept.clone();
    let more = (0..5).map(|i| passage(&format!("five more cats, {i}"), &["u"], None)).collect();
    let more = store.insert_passages(&ctx, agent.id, more).await.must("insert more");
    let mut tagged_u: Vec<String> = more.iter().map(|p| p.id.to_string()).collect();
    tagged_u.sort();
    kept.extend(tagged_u.iter().cloned());
    kept.sort();
    assert_eq!(kept.len(), 25);
    assert_eq!(found_passages(&store, &org, agent.id, "cats").await, kept);
    assert_eq!(found_tagged(&store, &org, agent.id, "cats", &["t"]).await, tagged_t);
    assert_eq!(found_tagged(&store, &org, agent.id, "cats", &["u"]).await, tagged_u);
    assert_eq!(found_tagged(&store, &org, agent.id, "cats", &["t", "u"]).await, kept);
    let msgs = (10..15).map(|i| message(Role::User, &format!("message {i}"))).collect();
    store.append_messages(&ctx, agent.id, msgs).await.must("append more");
    check_message_search(&store, &org, agent.id, "message").await;

    // A restart rebuilds them from the tables.
    store.close().await;
    let store = open(tmp.path()).await;
    assert_eq!(found_passages(&store, &org, agent.id, "cats").await, kept);
    assert_eq!(found_tagged(&store, &org, agent.id, "cats", &["u"]).await, tagged_u);
    check_message_search(&store, &org, agent.id, "message").await;

    store.delete_agent(&ctx, agent.id).await.must("delete agent");
    let query = PassageQuery { text: "cats".into(), k: 10, filter: Default::default() };
    let gone = store.search_passages_text(&org, agent.id, &query).await;
    assert!(matches!(gone, Err(StoreError::NotFound { .. })), "{gone:?}");
    let mut conn = raw(tmp.path()).await;
    for table in ["passages", "passage_tags", "messages", "agent_blocks", "blocks", "agents"] {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut conn).await.must(table);
        assert_eq!(n, 0, "{table} is empty after deleting the only agent");
    }
    store.close().await;
}

#[tokio::test]
async fn undecodable_rows_are_reported_as_corrupt() {
    let tmp = tempfile::tempdir().must("temp dir");
    let org = org("acme");
    let store = open(tmp.path()).await;
    let agent = store.create_agent(&ctx(&org), new_agent("Ada")).await.must("create agent");
    let mut conn = raw(tmp.path()).await;
    sqlx::query("UPDATE agents SET tools = 'not json'").execute(&mut conn).await.must("damage tools");
    assert!(matches!(store.get_agent(&org, agent.id).await, Err(StoreError::Corrupt(_))));
    sqlx::query("UPDATE agents SET tools = '[]', model = 'no slash'").execute(&mut conn).await.must("damage model");
    assert!(matches!(store.get_agent(&org, agent.id).await, Err(StoreError::Corrupt(_))));
    sqlx::query("UPDATE agents SET model = NULL").execute(&mut conn).await.must("repair");
    sqlx::query("UPDATE blocks SET salt = X'00'").execute(&mut conn).await.must("damage salt");
    assert!(matches!(store.list_agent_blocks(&org, agent.id).await, Err(StoreError::Corrupt(_))));
    store.close().await;
}
