//! Conformance checks for importing agents at once (`Store::import_agents`, an Agent File import): blocks shared by
//! several agents are created once and attached to each, every agent gets its blocks in order and its history with
//! roles, tool calls, results, timestamps and in-context flags; the audit log records the same events the
//! single-object paths do; and an import the store refuses creates nothing at all.

use std::sync::Arc;

use engram_core::agent::{Metadata, ToolName};
use engram_core::import::{AgentImport, AgentsImport, ImportedBlock};
use engram_core::message::{NewMessage, Role, ToolCall, ToolStatus};
use engram_core::page::PageRequest;
use engram_store::Store;
use serde_json::json;

use super::fixtures::*;

fn at_day(days: i64, in_context: bool, mut message: NewMessage) -> NewMessage {
    message.created_at = Some(day(days));
    message.in_context = in_context;
    message
}

/// Two agents sharing `team`; Ada has her own `persona` and a history with a tool exchange and a summary.
fn two_agents() -> AgentsImport {
    let mut ada = config("Ada");
    ada.tools = vec![
        ToolName::parse("tools", "conversation_search").must("tool"),
        ToolName::parse("tools", "note").must("tool"),
    ];
    ada.metadata = Metadata::parse("metadata", json!({"agentfile": {"tools": [{"name": "note"}]}})).must("metadata");
    let call = ToolCall { id: "call_1".into(), name: "conversation_search".into(), arguments: json!({"query": "x"}) };
    let mut assistant = message(Role::Assistant, "");
    assistant.tool_calls = vec![call];
    assistant.reasoning = Some("I should look.".into());
    let mut result = message(Role::Tool, "nothing found");
    result.tool_call_id = Some("call_1".into());
    result.tool_status = Some(ToolStatus::Error);
    let history = vec![
        at_day(1, false, message(Role::User, "old question")),
        at_day(1, false, message(Role::Assistant, "old answer")),
        at_day(2, true, message(Role::Summary, "They talked about x.")),
        at_day(3, true, message(Role::User, "search please")),
        at_day(3, true, assistant),
        at_day(3, true, result),
    ];
    AgentsImport {
        shared_blocks: vec![block("team", "We build engram.")],
        agents: vec![
            AgentImport {
                config: ada,
                blocks: vec![ImportedBlock::New(block("persona", "I am Ada.")), ImportedBlock::Shared(0)],
                messages: history,
            },
            AgentImport {
                config: config("Bob"),
                blocks: vec![ImportedBlock::Shared(0), ImportedBlock::New(block("human", "Bob's human."))],
                messages: Vec::new(),
            },
        ],
    }
}

pub async fn agents_blocks_and_history(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    let import = two_agents();
    let created = store.import_agents(&ctx, import.clone()).await.must("import");
    assert_eq!(created.len(), 2);
    let (ada, bob) = (&created[0], &created[1]);
    assert_eq!(ada.config, import.agents[0].config, "the configuration is stored as given");
    assert_eq!(bob.config.name.as_str(), "Bob");
    assert_eq!(store.get_agent(&org, ada.id).await.must("get ada"), *ada);

    let labels = |blocks: &[engram_core::block::Block]| blocks.iter().map(|b| b.label.to_string()).collect::<Vec<_>>();
    assert_eq!(labels(&ada.blocks), ["persona", "team"], "blocks in the order given");
    assert_eq!(labels(&bob.blocks), ["team", "human"]);
    let team = store.get_block(&org, ada.blocks[1].id).await.must("team");
    assert_eq!(team.id, bob.blocks[0].id, "the shared block is one block");
    assert_eq!(team.agent_ids, [ada.id, bob.id]);
    assert!(team.standalone, "a shared block outlives any one agent");
    assert_eq!(team.value, "We build engram.");
    assert!(!ada.blocks[0].standalone);

    let history = store.list_messages(&org, ada.id, &all_messages()).await.must("history").items;
    let expected = &import.agents[0].messages;
    assert_eq!(history.len(), expected.len());
    for (i, (stored, given)) in history.iter().zip(expected).enumerate() {
        assert_eq!(stored.position, i as i64 + 1, "positions from 1");
        assert_eq!(stored.agent_id, ada.id);
        assert_eq!((stored.role, &stored.content, &stored.reasoning), (given.role, &given.content, &given.reasoning));
        assert_eq!((&stored.tool_calls, &stored.tool_call_id), (&given.tool_calls, &given.tool_call_id));
        assert_eq!((stored.tool_status, stored.in_context), (given.tool_status, given.in_context));
        assert_eq!(Some(stored.created_at), given.created_at, "timestamps are kept");
        assert_eq!((stored.run_id, stored.step_id), (None, None));
    }
    let window = store.list_context_messages(&org, ada.id).await.must("window");
    let window: Vec<&str> = window.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(window, ["They talked about x.", "search please", "", "nothing found"]);
    let counts = store.count_messages(&org, bob.id).await.must("bob's count");
    assert_eq!((counts.total, counts.in_context), (0, 0));

    // Appending after an import continues the positions.
    let more = store.append_messages(&ctx, ada.id, vec![message(Role::User, "next")]).await.must("append");
    assert_eq!(more[0].position, 7);

    let events = all_events(store.as_ref(), &org).await;
    assert_gap_free(&events);
    let mut expected_actions = vec!["block.create", "agent.create", "block.create", "block.attach"];
    expected_actions.extend(["message.append"; 6]);
    expected_actions.extend(["agent.create", "block.attach", "block.create", "message.append"]);
    assert_eq!(actions(&events), expected_actions);
    assert_eq!(events[0].target.id, team.id.to_string());
    assert_eq!(events[0].agent_id, None, "the shared block is made on its own");
    assert_eq!(events[1].target.id, ada.id.to_string());
    assert_eq!((events[2].agent_id, events[3].agent_id), (Some(ada.id), Some(ada.id)));
    assert_eq!(events[4].target.id, history[0].id.to_string());
    assert_eq!(events[11].agent_id, Some(bob.id));
    assert!(events.iter().all(|e| e.request_id.as_deref() == Some("req_conformance")));

    // Deleting one agent leaves the shared block with the other.
    store.delete_agent(&ctx, ada.id).await.must("delete ada");
    let team = store.get_block(&org, team.id).await.must("team after delete");
    assert_eq!(team.agent_ids, [bob.id]);
}

pub async fn refused_imports_create_nothing(store: Arc<dyn Store>) {
    let org = org("acme");
    let ctx = ctx(&org);
    store.create_agent(&ctx, new_agent("Existing")).await.must("create");
    let events_before = all_events(store.as_ref(), &org).await;

    let mut clash = two_agents();
    clash.agents[1].blocks.push(ImportedBlock::New(block("team", "a second team")));
    assert_invalid(store.import_agents(&ctx, clash).await, "agents[1].blocks[2]");

    let mut dangling = two_agents();
    dangling.agents[1].blocks[0] = ImportedBlock::Shared(3);
    assert_invalid(store.import_agents(&ctx, dangling).await, "agents[1].blocks[0]");

    let mut lonely = two_agents();
    lonely.agents[1].blocks.remove(0);
    assert_invalid(store.import_agents(&ctx, lonely).await, "shared_blocks[0]");

    let none = AgentsImport { shared_blocks: Vec::new(), agents: Vec::new() };
    assert_invalid(store.import_agents(&ctx, none).await, "agents");

    let page = PageRequest { limit: limit(100), after: None };
    let agents = store.list_agents(&org, &Default::default(), &page).await.must("list agents");
    assert_eq!(agents.items.len(), 1, "no agent from a refused import");
    let blocks = store.list_blocks(&org, &page).await.must("list blocks");
    assert_eq!(blocks.items.len(), 2, "no block from a refused import");
    assert_eq!(all_events(store.as_ref(), &org).await, events_before, "no event from a refused import");

    // Another organisation sees none of an import.
    let created = store.import_agents(&ctx, two_agents()).await.must("import");
    let globex = self::org("globex");
    assert_not_found(store.get_agent(&globex, created[0].id).await, "agent");
    assert_not_found(store.get_block(&globex, created[0].blocks[1].id).await, "block");
}
