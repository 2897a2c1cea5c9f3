//! Local token counting: exact BPE counts for OpenAI models, and an estimate for everything else that must
//! over-count rather than under-count.

// Test helpers outside `#[test]` functions fail loudly too; clippy's test allowance does not reach them.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use engram_llm::tokens::{MESSAGE_OVERHEAD, TOOL_CALL_OVERHEAD, TOOL_OVERHEAD};
use engram_llm::{ChatMessage, RawToolCall, TokenCounter, ToolSpec};
use serde_json::json;

const ENGLISH: &str = "The agent keeps a small set of core memory blocks in every prompt: a persona that says who it \
is, and a human block that says what it knows about the person it talks to. Older messages are evicted from the \
context window when it fills up, but they are never deleted; the agent can search them later with a tool.";

const CODE: &str = r#"fn evict(messages: &mut Vec<Message>, budget: u64) -> Vec<MessageId> {
    let mut evicted = Vec::new();
    while total_tokens(messages) > budget && messages.len() > 1 {
        let oldest = messages.remove(0);
        evicted.push(oldest.id);
    }
    evicted
}"#;

const JSON_ARGS: &str = r#"{"label":"human","old_text":"likes tea","new_text":"likes green tea, no sugar","request_heartbeat":true,"ids":[17,42,1024],"nested":{"a":null,"b":[{"x":1.5},{"y":"z"}]}}"#;

const SHORT_REPLIES: &str = "ok. Yes! No? Sure - done: 1, 2, 3; (a) [b] {c} <d> 'e' \"f\" #g @h $i %j ^k &l *m";

fn samples() -> Vec<(&'static str, String)> {
    vec![
        ("english", ENGLISH.to_owned()),
        ("code", CODE.to_owned()),
        ("json", JSON_ARGS.to_owned()),
        ("punctuation", SHORT_REPLIES.to_owned()),
        ("markdown", format!("# Notes\n\n- **{ENGLISH}**\n- `{JSON_ARGS}`\n\n```rust\n{CODE}\n```\n")),
        ("numbers", (0..200).map(|n| (n * 7919).to_string()).collect::<Vec<_>>().join(",")),
        ("spaced numbers", (0..200).map(|n| (n * 7919).to_string()).collect::<Vec<_>>().join(", ")),
        ("table", "| id | tokens | ratio |\n|---:|---:|---:|\n| 1 | 2048 | 0.75 |\n| 2 | 512 | 1.5 |\n".repeat(4)),
        ("uuids", "550e8400-e29b-41d4-a716-446655440000 ".repeat(20)),
        ("hashes", "3f7a9c2e1b8d4f6a0c5e7b9d1f3a5c7e9b2d4f6a 9e107d9d372bb6826bd81d3542a419d6 ".repeat(5)),
        (
            "base64",
            "aGVsbG8gd29ybGQgdGhpcyBpcyBhIGJhc2U2NCBibG9iIG9mIHJhbmRvbSBkYXRhIFF3ZXJ0eVVpb3A5ODc2NTQzMjE=".into(),
        ),
        (
            "url",
            "https://example.invalid/v1/agents/agent_01HZX3Q4K5M6N7P8R9S0T1V2W3/messages?limit=50&after=m_01HZ".into(),
        ),
        ("long words", "pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism".into()),
        ("german", "Die Größe der Äpfel überrascht Müller; er wählt schöne, süße Früchte für Jürgen.".to_owned()),
        ("japanese", "エージェントは会話の記憶を保持し、必要に応じて検索します。".to_owned()),
    ]
}

#[test]
fn o200k_counts_known_strings_exactly() {
    let counter = TokenCounter::for_model("openai", "gpt-4o");
    assert_eq!(counter.name(), "o200k_base");
    assert!(counter.is_exact());
    assert_eq!(counter.count("hello world"), 2);
    assert_eq!(counter.count(""), 0);
    assert!(counter.count("<|endoftext|>") > 1, "special markers count as the text they are");

    let cl100k = TokenCounter::for_model("openai", "gpt-4-turbo");
    assert_eq!(cl100k.name(), "cl100k_base");
    assert_eq!(cl100k.count("hello world"), 2);
}

#[test]
fn the_estimate_over_counts_english_code_and_json() {
    let exact = [TokenCounter::for_model("openai", "gpt-4o"), TokenCounter::for_model("openai", "gpt-4")];
    let estimate = TokenCounter::for_model("anthropic", "claude-sonnet-4-5");
    assert_eq!(estimate.name(), "estimate");
    assert!(!estimate.is_exact());
    for (name, text) in samples() {
        let estimated = estimate.count(&text);
        for counter in exact {
            let counted = counter.count(&text);
            println!("{name:12} {:12} exact {counted:5} estimate {estimated:5}", counter.name());
            assert!(estimated >= counted, "{name}: estimate {estimated} < {} {counted}", counter.name());
        }
    }
}

#[test]
fn messages_and_tools_add_their_framing() {
    let counter = TokenCounter::for_model("openai", "gpt-4o");
    assert_eq!(counter.count_system("hello world"), 2 + MESSAGE_OVERHEAD);
    let user = ChatMessage::User { content: "hello world".into() };
    assert_eq!(counter.count_message(&user), 2 + MESSAGE_OVERHEAD);

    let call = RawToolCall { id: "call_1".into(), name: "send".into(), arguments: "{\"a\":1}".into() };
    let expected_call = counter.count("call_1") + counter.count("send") + counter.count("{\"a\":1}");
    let assistant = ChatMessage::Assistant { content: "hello world".into(), tool_calls: vec![call] };
    assert_eq!(counter.count_message(&assistant), 2 + expected_call + TOOL_CALL_OVERHEAD + MESSAGE_OVERHEAD);

    let tool = ChatMessage::Tool {
        tool_call_id: "call_1".into(),
        name: "send".into(),
        content: "sent".into(),
        is_error: false,
    };
    assert_eq!(counter.count_message(&tool), counter.count("call_1") + counter.count("sent") + MESSAGE_OVERHEAD);

    assert_eq!(counter.count_tools(&[]), 0);
    let parameters = json!({ "type": "object", "properties": { "text": { "type": "string" } } });
    let spec = ToolSpec { name: "send".into(), description: "Sends a message.".into(), parameters: parameters.clone() };
    let expected = counter.count("send") + counter.count("Sends a message.") + counter.count(&parameters.to_string());
    assert_eq!(counter.count_tools(&[spec.clone(), spec]), 2 * (expected + TOOL_OVERHEAD));
}

#[test]
fn counting_a_system_prompt_is_cheap() {
    let counter = TokenCounter::for_model("openai", "gpt-4.1");
    let prompt: String = samples().into_iter().map(|(_, text)| text).collect::<Vec<_>>().join("\n").repeat(2);
    let prompt = &prompt[..prompt.char_indices().nth(2048).map_or(prompt.len(), |(i, _)| i)];
    counter.count(prompt); // Builds the encoder.
    let runs = 20;
    let started = Instant::now();
    for _ in 0..runs {
        counter.count_system(prompt);
    }
    let each = started.elapsed() / runs;
    println!("counting 2 KB with o200k_base: {each:?}");
    // Generous, since tests run unoptimised on a busy machine; release builds are far faster.
    assert!(each.as_millis() < 50, "counting 2 KB took {each:?}");
}
