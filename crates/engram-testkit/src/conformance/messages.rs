//! Conformance checks for recall memory: appended messages round-trip with gap-free positions, and listings honour
//! order, role and the after/before cursors.

use std::sync::Arc;

use serde_json::json;

use engram_core::id::{MessageId, RunId, StepId};
use engram_core::message::{Message, MessageQuery, Order, Role, ToolCall, ToolStatus};
use engram_store::Store;

use super::fixtures::*;

pub async fn append_positions(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let run = RunId::parse("run_id", "run_01ARZ3NDEKTSV4RRFFQ69G5FAV").must("run id");
    let step = StepId::parse("step_id", "step_01ARZ3NDEKTSV4RRFFQ69G5FAV").must("step id");

    let mut call = message(Role::Assistant, "");
    call.run_id = Some(run);
    call.step_id = Some(step);
    call.reasoning = Some("I should look this up.".into());
    call.tool_calls = vec![ToolCall {
        id: "call_1".into(),
        name: "archival_memory_search".into(),
        arguments: json!({"query": "cats", "top_k": 3}),
    }];
    let mut result = message(Role::Tool, "no results");
    result.tool_call_id = Some("call_1".into());
    result.tool_status = Some(ToolStatus::Error);
    result.in_context = false;
    result.created_at = Some(day(5));
    let first = vec![message(Role::User, "hello"), call.clone(), result.clone()];
    let appended = store.append_messages(&ctx, agent.id, first).await.must("append");
    let positions: Vec<i64> = appended.iter().map(|m| m.position).collect();
    assert_eq!(positions, [1, 2, 3]);
    assert_eq!(appended[1].tool_calls, call.tool_calls);
    assert_eq!((appended[1].run_id, appended[1].step_id), (Some(run), Some(step)));
    assert_eq!(appended[1].reasoning, call.reasoning);
    assert_eq!(appended[2].tool_call_id.as_deref(), Some("call_1"));
    assert_eq!(appended[2].tool_status, Some(ToolStatus::Error));
    assert!(!appended[2].in_context);
    assert_eq!(appended[2].created_at, day(5));
    assert!(appended.iter().all(|m| m.agent_id == agent.id));

    let more = vec![message(Role::Assistant, "hi there"), message(Role::User, "bye")];
    let appended_more = store.append_messages(&ctx, agent.id, more).await.must("append more");
    let positions: Vec<i64> = appended_more.iter().map(|m| m.position).collect();
    assert_eq!(positions, [4, 5], "positions continue without gaps");

    let listed = store.list_messages(&org, agent.id, &all_messages()).await.must("list");
    let want: Vec<Message> = appended.into_iter().chain(appended_more).collect();
    assert_eq!(listed.items, want, "a read returns exactly what the append returned");
    assert!(store.append_messages(&ctx, agent.id, Vec::new()).await.must("append nothing").is_empty());

    // Positions are per agent.
    let bob = store.create_agent(&ctx, bare_agent("Bob")).await.must("bob");
    let bobs = store.append_messages(&ctx, bob.id, vec![message(Role::User, "hey")]).await.must("append to bob");
    assert_eq!(bobs[0].position, 1);
    assert_not_found(store.append_messages(&ctx, unknown_agent(), vec![message(Role::User, "x")]).await, "agent");
}

fn contents(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

pub async fn list_queries(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let agent = store.create_agent(&ctx, bare_agent("Ada")).await.must("create agent");
    let roles = [Role::User, Role::Assistant, Role::User, Role::Assistant, Role::User, Role::Tool, Role::Summary];
    let batch = roles.iter().enumerate().map(|(i, r)| message(*r, &format!("m{}", i + 1))).collect();
    let all = store.append_messages(&ctx, agent.id, batch).await.must("append");
    let id = |n: usize| -> MessageId { all[n - 1].id };
    let list = |query: MessageQuery| {
        let store = store.clone();
        let org = org.clone();
        async move { store.list_messages(&org, agent.id, &query).await.must("list messages") }
    };

    let asc = list(all_messages()).await;
    assert_eq!(contents(&asc.items), ["m1", "m2", "m3", "m4", "m5", "m6", "m7"]);
    let desc = list(MessageQuery { order: Order::Desc, ..all_messages() }).await;
    assert_eq!(contents(&desc.items), ["m7", "m6", "m5", "m4", "m3", "m2", "m1"]);
    let users = list(MessageQuery { role: Some(Role::User), ..all_messages() }).await;
    assert_eq!(contents(&users.items), ["m1", "m3", "m5"]);

    // `after`/`before` follow the listing's order.
    let after = list(MessageQuery { after: Some(id(3)), ..all_messages() }).await;
    assert_eq!(contents(&after.items), ["m4", "m5", "m6", "m7"]);
    let before = list(MessageQuery { before: Some(id(3)), ..all_messages() }).await;
    assert_eq!(contents(&before.items), ["m1", "m2"]);
    let between = list(MessageQuery { after: Some(id(2)), before: Some(id(6)), ..all_messages() }).await;
    assert_eq!(contents(&between.items), ["m3", "m4", "m5"]);
    let desc_after = list(MessageQuery { after: Some(id(5)), order: Order::Desc, ..all_messages() }).await;
    assert_eq!(contents(&desc_after.items), ["m4", "m3", "m2", "m1"]);
    let desc_before = list(MessageQuery { before: Some(id(5)), order: Order::Desc, ..all_messages() }).await;
    assert_eq!(contents(&desc_before.items), ["m7", "m6"]);
    let user_after = list(MessageQuery { after: Some(id(1)), role: Some(Role::User), ..all_messages() }).await;
    assert_eq!(contents(&user_after.items), ["m3", "m5"]);

    // Paging with the cursor, both ways.
    for (order, want) in [
        (Order::Asc, ["m1", "m2", "m3", "m4", "m5", "m6", "m7"]),
        (Order::Desc, ["m7", "m6", "m5", "m4", "m3", "m2", "m1"]),
    ] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = list(MessageQuery { limit: limit(3), after: cursor, order, ..MessageQuery::default() }).await;
            assert!(page.items.len() <= 3);
            seen.extend(page.items.iter().map(|m| m.content.clone()));
            match page.next_cursor {
                Some(c) => cursor = Some(MessageId::parse("after", &c).must("message cursor is an id")),
                None => break,
            }
        }
        assert_eq!(seen, want, "{order:?}");
    }

    // A cursor must name a message of this agent.
    let bob = store.create_agent(&ctx, bare_agent("Bob")).await.must("bob");
    let bobs = store.append_messages(&ctx, bob.id, vec![message(Role::User, "b1")]).await.must("append to bob");
    let foreign = MessageQuery { after: Some(bobs[0].id), ..all_messages() };
    assert_invalid(store.list_messages(&org, agent.id, &foreign).await, "after");
    let unknown = MessageQuery { before: Some(unknown_message()), ..all_messages() };
    assert_invalid(store.list_messages(&org, agent.id, &unknown).await, "before");
    assert_not_found(store.list_messages(&org, unknown_agent(), &all_messages()).await, "agent");
}
