//! Export → import: an exported agent imports back to an equal agent (configuration and metadata, blocks, history,
//! window), the export keeps the format's structure, and exporting the re-imported agent gives the same file.

use engram_agentfile::{ExportAgent, render_export};
use engram_core::agent::Agent;
use engram_core::message::Message;
use serde_json::Value;

use crate::support::{at, builtins, import, samples, store};

fn export(stored: &[(Agent, Vec<Message>)]) -> Value {
    let agents: Vec<ExportAgent<'_>> =
        stored.iter().map(|(agent, messages)| ExportAgent { agent, messages: messages.as_slice() }).collect();
    render_export(&agents, &builtins(), at())
}

/// What must survive a round trip, with store-made ids and times left out.
fn essence(stored: &[(Agent, Vec<Message>)]) -> Vec<Value> {
    stored
        .iter()
        .map(|(agent, messages)| {
            let c = &agent.config;
            serde_json::json!({
                "name": c.name.as_str(),
                "system": c.system,
                "model": c.model.as_ref().map(ToString::to_string),
                "embedding": c.embedding.to_string(),
                "context_window": c.context_window,
                "tools": c.tools.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                "tags": c.tags.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                "metadata": c.metadata.as_map(),
                "blocks": agent.blocks.iter().map(|b| serde_json::json!([
                    b.label.as_str(), b.value, b.limit.get(), b.description, b.read_only
                ])).collect::<Vec<_>>(),
                "messages": messages.iter().map(|m| serde_json::json!([
                    m.role.as_str(), m.content, m.reasoning,
                    m.tool_calls.iter().map(|t| serde_json::json!([t.id, t.name, t.arguments])).collect::<Vec<_>>(),
                    m.tool_call_id, m.tool_status.map(|s| s.as_str()), m.in_context, m.created_at.to_rfc3339()
                ])).collect::<Vec<_>>(),
            })
        })
        .collect()
}

#[track_caller]
fn assert_structure(name: &str, file: &Value) {
    for key in ["agents", "blocks", "tools", "groups", "files", "sources", "mcp_servers", "metadata", "created_at"] {
        assert!(file.get(key).is_some(), "{name}: the export lacks `{key}`");
    }
    let ids = |list: &str| -> Vec<Value> { file[list].as_array().unwrap().iter().map(|x| x["id"].clone()).collect() };
    let (block_ids, tool_ids) = (ids("blocks"), ids("tools"));
    for agent in file["agents"].as_array().unwrap() {
        assert_eq!(agent["secrets"], Value::Null, "{name}: secrets are null");
        assert!(agent["block_ids"].as_array().unwrap().iter().all(|id| block_ids.contains(id)), "{name}");
        assert!(agent["tool_ids"].as_array().unwrap().iter().all(|id| tool_ids.contains(id)), "{name}");
        let messages = agent["messages"].as_array().unwrap();
        let window = agent["in_context_message_ids"].as_array().unwrap();
        assert!(window.iter().all(|id| messages.iter().any(|m| m["id"] == *id)), "{name}");
        let first = messages.iter().find(|m| m["id"] == window[0]).unwrap();
        assert_eq!(first["role"], "system", "{name}: the window opens with the system prompt");
        assert!(first["content"][0]["text"].as_str().unwrap().starts_with(agent["system"].as_str().unwrap()));
    }
}

#[test]
fn every_sample_exports_and_imports_back_to_an_equal_agent() {
    for (name, bytes) in samples() {
        let first = store(&import(&bytes).unwrap().import);
        let exported = export(&first);
        assert_structure(&name, &exported);
        let again = import(&serde_json::to_vec(&exported).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let second = store(&again.import);
        assert_eq!(essence(&second), essence(&first), "{name}");
        assert_eq!(again.import.shared_blocks.len(), store_shared(&first), "{name}: shared blocks stay shared");
        assert_eq!(export(&second), exported, "{name}: the export is a fixed point");
    }
}

/// How many blocks several of the stored agents use.
fn store_shared(stored: &[(Agent, Vec<Message>)]) -> usize {
    let mut ids: Vec<_> = stored.iter().flat_map(|(a, _)| a.blocks.iter().map(|b| b.id)).collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    let distinct = ids.len();
    let mut shared = 0;
    for id in ids {
        if stored.iter().filter(|(a, _)| a.blocks.iter().any(|b| b.id == id)).count() > 1 {
            shared += 1;
        }
    }
    assert!(all >= distinct);
    shared
}

#[test]
fn custom_tools_come_back_whole_with_new_ids() {
    let (_, bytes) = samples().into_iter().find(|(name, _)| name == "customer_service.af").unwrap();
    let original = crate::support::document(&bytes);
    let exported = export(&store(&import(&bytes).unwrap().import));
    let by_name = |file: &Value, tool: &str| {
        file["tools"].as_array().unwrap().iter().find(|t| t["name"] == tool).cloned().unwrap()
    };
    for tool in ["cancel_order", "check_order_status", "escalate", "terminate_chat"] {
        let (before, after) = (by_name(&original, tool), by_name(&exported, tool));
        for key in ["source_code", "json_schema", "tool_type", "description", "return_char_limit"] {
            assert_eq!(after[key], before[key], "{tool}.{key}");
        }
    }
    let search = by_name(&exported, "conversation_search");
    assert_eq!(search["tool_type"], "engram_builtin");
    assert_eq!(search["json_schema"]["name"], "conversation_search");
    let agent = &exported["agents"][0];
    assert_eq!(agent["llm_config"]["temperature"], original["agents"][0]["llm_config"]["temperature"]);
    assert_eq!(agent["llm_config"]["handle"], "openai/gpt-4o-mini");
    assert_eq!(agent["agent_type"], "letta_v1_agent");
}
