//! Mangled files: truncated, wrong types, dangling ids, duplicate labels and ids, values over their limit, huge strings,
//! deep nesting, and random byte flips over every sample. Each is refused with the field it is about (or, for a flip
//! that leaves a valid file, imported); none panics.

use engram_agentfile::{AgentFileError, Limits};
use serde_json::{Value, json};

use crate::support::{document, import, import_with, samples};

/// memgpt_agent_with_convo.af as plain JSON, for editing.
fn base() -> Value {
    let (_, bytes) = samples().into_iter().find(|(name, _)| name == "memgpt_agent_with_convo.af").unwrap();
    document(&bytes)
}

#[track_caller]
fn refused(doc: &Value, field: &str) -> String {
    match import(&serde_json::to_vec(doc).unwrap()) {
        Err(AgentFileError::Invalid { field: got, message }) => {
            assert_eq!(got, field, "{message}");
            message
        }
        other => panic!("expected `{field}` to be refused, got {other:?}"),
    }
}

#[test]
fn each_kind_of_damage_names_its_field() {
    let mut doc = base();
    doc["agents"][0]["block_ids"][1] = json!("block-9");
    assert!(refused(&doc, "agents[0].block_ids[1]").contains("`block-9`"));

    let mut doc = base();
    doc["blocks"][1]["label"] = json!("human");
    assert!(refused(&doc, "agents[0].block_ids[1]").contains("already has a block labelled `human`"));

    let mut doc = base();
    doc["blocks"][1]["id"] = json!("block-0");
    refused(&doc, "blocks[1].id");

    let mut doc = base();
    doc["blocks"][0]["limit"] = json!(10);
    assert!(refused(&doc, "blocks[0].value").contains("holds at most 10 characters"));

    let mut doc = base();
    doc["agents"][0]["tool_ids"][0] = json!("tool-7");
    refused(&doc, "agents[0].tool_ids[0]");

    let mut doc = base();
    doc["agents"][0]["in_context_message_ids"] = json!(["message-0", "message-404"]);
    refused(&doc, "agents[0].in_context_message_ids[1]");

    let mut doc = base();
    doc["agents"][0]["in_context_message_ids"] = json!(["message-0", "message-0"]);
    refused(&doc, "agents[0].in_context_message_ids[1]");

    let mut doc = base();
    doc["agents"][0]["messages"][0]["role"] = json!("wizard");
    refused(&doc, "agents[0].messages[0].role");

    let mut doc = base();
    doc["agents"][0]["messages"][0]["content"] = json!(42);
    refused(&doc, "agents[0].messages[0].content");

    let mut doc = base();
    doc["agents"][0]["name"] = json!(["not", "a", "name"]);
    refused(&doc, "agents[0].name");

    let mut doc = base();
    doc["agents"][0]["llm_config"]["context_window"] = json!(10);
    refused(&doc, "agents[0].llm_config.context_window");

    let mut doc = base();
    doc["agents"][0]["metadata"] = json!({"agentfile": {}});
    refused(&doc, "agents[0].metadata.agentfile");

    let mut doc = base();
    doc["agents"] = json!([]);
    refused(&doc, "agents");

    let mut doc = base();
    doc["agents"][0]["system"] = json!("x".repeat(100_001));
    refused(&doc, "agents[0].system");

    let mut doc = base();
    let assistant = json!({"id": "m-1", "role": "assistant", "tool_calls": [{"function": {"name": "send_message"}}]});
    doc["agents"][0]["messages"].as_array_mut().unwrap().push(assistant);
    refused(&doc, "agents[0].messages[1].tool_calls[0].id");

    let mut doc = base();
    doc["agents"][0]["messages"].as_array_mut().unwrap().push(json!({"id": "m-1", "role": "tool", "content": "ok"}));
    refused(&doc, "agents[0].messages[1].tool_call_id");
}

#[test]
fn limits_refuse_huge_and_deep_files() {
    let bytes = serde_json::to_vec(&base()).unwrap();
    let small = Limits { max_bytes: bytes.len() - 1, ..Limits::default() };
    assert_eq!(import_with(&bytes, small), Err(AgentFileError::TooLarge { size: bytes.len(), limit: bytes.len() - 1 }));

    let mut doc = base();
    doc["agents"][0]["description"] = json!("x".repeat(3 * 1024 * 1024));
    assert_eq!(import(&serde_json::to_vec(&doc).unwrap()).unwrap_err().field(), Some("agents[0].description"));

    let deep = format!("{{\"agents\": {}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(import(deep.as_bytes()).unwrap_err().field(), Some("body"));

    let mut doc = base();
    let messages: Vec<Value> =
        (0..101).map(|i| json!({"id": format!("m-{i}"), "role": "user", "content": "hi"})).collect();
    doc["agents"][0]["messages"] = Value::Array(messages);
    doc["agents"][0]["in_context_message_ids"] = json!([]);
    let few = Limits { max_messages: 100, ..Limits::default() };
    assert_eq!(import_with(&serde_json::to_vec(&doc).unwrap(), few).unwrap_err().field(), Some("agents[0].messages"));
}

#[test]
fn truncated_files_are_syntax_errors() {
    for (name, bytes) in samples() {
        let bytes = bytes.trim_ascii_end();
        for cut in [1, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
            let result = import(&bytes[..cut]);
            assert!(matches!(result, Err(AgentFileError::Syntax { .. })), "{name} cut at {cut}: {result:?}");
        }
    }
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_byte_flips_never_panic_and_refusals_name_a_field() {
    let mut rng = Rng(0x5eed_a9e7_f11e);
    let (mut refused, mut imported) = (0, 0);
    for (name, bytes) in samples() {
        // Plain JSON too, so flips land in the document and not only in the outer string of a double encoding.
        let plain = serde_json::to_vec(&document(&bytes)).unwrap();
        for original in [&bytes, &plain] {
            for _ in 0..60 {
                let mut mangled = original.clone();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(mangled.len());
                    mangled[at] = match rng.below(4) {
                        0 => b'"',
                        1 => b'{',
                        2 => b'0',
                        _ => rng.next() as u8,
                    };
                }
                match import(&mangled) {
                    Ok(_) => imported += 1,
                    Err(AgentFileError::Invalid { field, message }) => {
                        assert!(!field.is_empty() && !message.is_empty(), "{name}");
                        refused += 1;
                    }
                    Err(AgentFileError::Syntax { message }) => {
                        assert!(!message.is_empty(), "{name}");
                        refused += 1;
                    }
                    Err(AgentFileError::TooLarge { .. }) => panic!("{name}: a flip cannot make a file larger"),
                }
            }
        }
    }
    assert!(refused > 0 && imported > 0, "refused {refused}, imported {imported}");
}
