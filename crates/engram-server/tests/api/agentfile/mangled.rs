//! Mangled agent files over HTTP: each is refused with 400, 413 or 422 and a stable code (422s name the field), and
//! leaves no trace: the agent list and the audit log are as before. Random byte flips over every sample (fixed seed)
//! either import whole or are refused the same way, never a 5xx or a half-imported agent.

use engram_testkit::TestServer;
use serde_json::{Value, json};

use super::{document, import, sample, samples};
use crate::audit_events;

/// The number of agents and of audit events.
async fn footprint(s: &TestServer) -> (usize, usize) {
    (s.list_all("/v1/agents", 1000).await.len(), audit_events(s).await.len())
}

/// Sends `body` and asserts a refusal with `status` and `code` (and `field`, when given) that changed nothing.
async fn refused(s: &TestServer, body: Vec<u8>, status: u16, code: &str, field: Option<&str>) {
    let before = footprint(s).await;
    let r = import(s, body).await;
    assert_eq!((r.status, r.code()), (status, code), "{}", r.text);
    if let Some(field) = field {
        assert_eq!(r.body["error"]["details"]["field"], field, "{}", r.text);
    }
    assert_eq!(footprint(s).await, before, "a refused import left something behind");
}

fn convo() -> Value {
    document(&sample("memgpt_agent_with_convo.af"))
}

fn bytes(doc: &Value) -> Vec<u8> {
    serde_json::to_vec(doc).unwrap()
}

#[tokio::test]
async fn each_kind_of_damage_is_refused_with_a_code_and_creates_nothing() {
    let s = TestServer::spawn().await;
    s.create_agent("bystander").await;
    let whole = bytes(&convo());

    refused(&s, whole[..whole.len() / 2].to_vec(), 400, "invalid_json", None).await;
    refused(&s, b"not json at all".to_vec(), 400, "invalid_json", None).await;
    refused(&s, b"[1, 2, 3]".to_vec(), 422, "agentfile_invalid", Some("body")).await;

    let mut doc = convo();
    doc["agents"][0]["block_ids"] = json!(["block-0", "block-404"]);
    refused(&s, bytes(&doc), 422, "agentfile_invalid", Some("agents[0].block_ids[1]")).await;

    let mut doc = convo();
    doc["blocks"][1]["label"] = json!("human");
    refused(&s, bytes(&doc), 422, "agentfile_invalid", Some("agents[0].block_ids[1]")).await;

    let mut doc = convo();
    doc["agents"][0]["in_context_message_ids"] = json!(["message-0", "message-9"]);
    refused(&s, bytes(&doc), 422, "agentfile_invalid", Some("agents[0].in_context_message_ids[1]")).await;

    let mut doc = convo();
    doc["agents"][0]["tool_ids"] = json!("tool-0");
    refused(&s, bytes(&doc), 422, "agentfile_invalid", Some("agents[0].tool_ids")).await;

    let mut doc = convo();
    doc["blocks"][0]["limit"] = json!(5);
    refused(&s, bytes(&doc), 422, "agentfile_invalid", Some("blocks[0].value")).await;

    let mut doc = convo();
    doc["agents"][0]["description"] = json!("x".repeat(3 * 1024 * 1024));
    refused(&s, bytes(&doc), 422, "agentfile_invalid", Some("agents[0].description")).await;

    let deep = format!("{{\"agents\": {}{}}}", "[".repeat(5000), "]".repeat(5000));
    refused(&s, deep.into_bytes(), 422, "agentfile_invalid", Some("body")).await;

    // A second agent that is fine does not make it in when the first is refused, nor the other way round.
    let mut doc = convo();
    let mut second = doc["agents"][0].clone();
    second["id"] = json!("agent-1");
    second["name"] = json!("second");
    second["messages"][0]["id"] = json!("message-1");
    second["in_context_message_ids"] = json!(["message-1"]);
    second["messages"][0]["role"] = json!("wizard");
    doc["agents"].as_array_mut().unwrap().push(second);
    refused(&s, bytes(&doc), 422, "agentfile_invalid", Some("agents[1].messages[0].role")).await;

    let huge = format!("\"{}\"", "x".repeat(9 * 1024 * 1024));
    refused(&s, huge.into_bytes(), 413, "payload_too_large", None).await;

    let r = import(&s, whole).await;
    assert_eq!(r.status, 201, "the undamaged file imports: {}", r.text);
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

#[tokio::test]
async fn random_byte_flips_import_whole_or_leave_nothing() {
    let s = TestServer::spawn().await;
    let mut rng = Rng(0x00af_f11e_5eed);
    let (mut imported, mut refused) = (0, 0);
    for (name, original) in samples() {
        let plain = serde_json::to_vec(&document(&original)).unwrap();
        for file in [original, plain] {
            for _ in 0..8 {
                let mut mangled = file.clone();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(mangled.len());
                    mangled[at] = match rng.below(3) {
                        0 => b'"',
                        1 => b'}',
                        _ => rng.next() as u8,
                    };
                }
                let (agents, events) = footprint(&s).await;
                let r = import(&s, mangled).await;
                let (agents_after, events_after) = footprint(&s).await;
                match r.status {
                    201 => {
                        let created = r.body["agent_ids"].as_array().unwrap().len();
                        assert_eq!(agents_after, agents + created, "{name}");
                        for id in r.body["agent_ids"].as_array().unwrap() {
                            let agent = s.get(&format!("/v1/agents/{}", id.as_str().unwrap())).await;
                            assert_eq!(agent.status, 200, "{name}");
                        }
                        imported += 1;
                    }
                    400 | 422 => {
                        assert!(!r.code().is_empty(), "{name}: {}", r.text);
                        assert_eq!((agents_after, events_after), (agents, events), "{name}: {}", r.text);
                        refused += 1;
                    }
                    other => panic!("{name}: a mangled file got {other}: {}", r.text),
                }
            }
        }
    }
    assert!(imported > 0 && refused > 0, "imported {imported}, refused {refused}");
}
