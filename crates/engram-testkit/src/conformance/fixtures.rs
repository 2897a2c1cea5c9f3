//! Builders and assertions shared by the conformance checks: write contexts, agents, blocks, passages, messages,
//! and helpers that page through whole lists or assert on a store error's kind.

use std::fmt::Debug;

use chrono::{DateTime, Utc};

use engram_core::agent::{AgentConfig, AgentName, Metadata, ModelRef, NewAgent, Tag};
use engram_core::audit::{Actor, ActorKind, AuditEvent, WriteContext};
use engram_core::block::{BlockLabel, BlockLimit, NewBlock};
use engram_core::id::{AgentId, BlockId, MessageId, PassageId};
use engram_core::message::{MessageQuery, NewMessage, Role};
use engram_core::org::OrgId;
use engram_core::page::{PageLimit, PageRequest};
use engram_core::passage::NewPassage;
use engram_store::{AuditQuery, Store, StoreError};

/// `Result`/`Option` unwrapping that names what failed (the workspace denies `unwrap`/`expect`).
pub trait Must<T> {
    fn must(self, what: &str) -> T;
}

impl<T, E: Debug> Must<T> for Result<T, E> {
    #[track_caller]
    fn must(self, what: &str) -> T {
        match self {
            Ok(v) => v,
            Err(e) => panic!("{what}: unexpected error {e:?}"),
        }
    }
}

impl<T> Must<T> for Option<T> {
    #[track_caller]
    fn must(self, what: &str) -> T {
        match self {
            Some(v) => v,
            None => panic!("{what}: got nothing"),
        }
    }
}

/// Asserts that `result` failed with `NotFound` of `kind`.
#[track_caller]
pub fn assert_not_found<T: Debug>(result: Result<T, StoreError>, kind: &str) {
    match result {
        Err(StoreError::NotFound { kind: k, .. }) if k == kind => {}
        other => panic!("expected {kind} not found, got {other:?}"),
    }
}

/// Asserts that `result` failed with `Invalid` on `field`.
#[track_caller]
pub fn assert_invalid<T: Debug>(result: Result<T, StoreError>, field: &str) {
    match result {
        Err(StoreError::Invalid(e)) if e.field == field => {}
        other => panic!("expected invalid `{field}`, got {other:?}"),
    }
}

/// Asserts that `result` failed with `AlreadyExists`.
#[track_caller]
pub fn assert_already_exists<T: Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::AlreadyExists(message)) if !message.is_empty() => {}
        other => panic!("expected already exists, got {other:?}"),
    }
}

/// The ULID part of ids that name nothing (its time is 2016, before any store existed).
const UNKNOWN_ULID: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";

pub fn unknown_agent() -> AgentId {
    AgentId::parse("id", &format!("agent_{UNKNOWN_ULID}")).must("agent id")
}

pub fn unknown_block() -> BlockId {
    BlockId::parse("id", &format!("block_{UNKNOWN_ULID}")).must("block id")
}

pub fn unknown_passage() -> PassageId {
    PassageId::parse("id", &format!("psg_{UNKNOWN_ULID}")).must("passage id")
}

pub fn unknown_message() -> MessageId {
    MessageId::parse("id", &format!("msg_{UNKNOWN_ULID}")).must("message id")
}

pub fn org(name: &str) -> OrgId {
    OrgId::parse("org", name).must("org id")
}

/// A write context for `org` acting as an API key, with a request id.
pub fn ctx(org: &OrgId) -> WriteContext {
    WriteContext {
        org: org.clone(),
        actor: Actor { kind: ActorKind::ApiKey, id: "key_conformance".into() },
        run_id: None,
        step_id: None,
        request_id: Some("req_conformance".into()),
    }
}

pub fn label(text: &str) -> BlockLabel {
    BlockLabel::parse("label", text).must("label")
}

pub fn tag(text: &str) -> Tag {
    Tag::parse("tag", text).must("tag")
}

pub fn limit(n: i64) -> PageLimit {
    PageLimit::parse("limit", n).must("page limit")
}

pub fn page(n: i64, after: Option<String>) -> PageRequest {
    PageRequest { limit: limit(n), after }
}

pub fn block(label_text: &str, value: &str) -> NewBlock {
    NewBlock::new(label(label_text), value.into(), BlockLimit::default(), None, false).must("new block")
}

/// A block with a small limit, for limit checks.
pub fn small_block(label_text: &str, value: &str, max: i64) -> NewBlock {
    let limit = BlockLimit::parse("limit", max).must("block limit");
    NewBlock::new(label(label_text), value.into(), limit, Some("a small block".into()), false).must("new block")
}

pub fn config(name: &str) -> AgentConfig {
    AgentConfig {
        name: AgentName::parse("name", name).must("agent name"),
        system: "You are a conformance-test agent.".into(),
        model: Some(ModelRef::parse("model", "openai/gpt-4o-mini").must("model")),
        embedding: ModelRef::parse("embedding", "local/all-minilm-l6-v2").must("embedding"),
        context_window: 32_000,
        tools: Vec::new(),
        tags: Vec::new(),
        metadata: Metadata::default(),
    }
}

/// An agent with `persona` and `human` blocks.
pub fn new_agent(name: &str) -> NewAgent {
    NewAgent {
        config: config(name),
        blocks: vec![block("persona", "I am a test agent."), block("human", "The user is a tester.")],
        block_ids: Vec::new(),
    }
}

/// An agent with no blocks.
pub fn bare_agent(name: &str) -> NewAgent {
    NewAgent { config: config(name), blocks: Vec::new(), block_ids: Vec::new() }
}

/// A fixed point in time `days` days after 2024-01-01.
pub fn day(days: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_067_200 + days * 86_400, 0).must("timestamp")
}

pub fn passage(text: &str, tags: &[&str], created_at: Option<DateTime<Utc>>) -> NewPassage {
    NewPassage {
        text: text.into(),
        tags: tags.iter().map(|t| tag(t)).collect(),
        metadata: Metadata::default(),
        created_at,
        embedding: None,
    }
}

pub fn message(role: Role, content: &str) -> NewMessage {
    NewMessage::text(role, content)
}

/// Every audit event of `org`, oldest first, paging through the whole log.
pub async fn all_events(store: &dyn Store, org: &OrgId) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    let mut after_seq = None;
    loop {
        let query = AuditQuery { after_seq, limit: limit(1000), agent_id: None };
        let page = store.list_audit_events(org, &query).await.must("list audit events");
        events.extend(page.items);
        match page.next_cursor {
            Some(cursor) => after_seq = Some(cursor.parse::<i64>().must("audit cursor is a seq")),
            None => return events,
        }
    }
}

/// The actions of `events`, as strings.
pub fn actions(events: &[AuditEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.action.as_str()).collect()
}

/// Asserts that `events` are numbered 1..=n without gaps.
#[track_caller]
pub fn assert_gap_free(events: &[AuditEvent]) {
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    let expected: Vec<i64> = (1..=events.len() as i64).collect();
    assert_eq!(seqs, expected, "audit seq must be 1..=n without gaps");
}

/// The query listing an agent's whole history in one page.
pub fn all_messages() -> MessageQuery {
    MessageQuery { limit: limit(1000), ..MessageQuery::default() }
}

/// The ids of an agent's passages, paging with `page_size`.
pub async fn all_passage_ids(store: &dyn Store, org: &OrgId, agent: AgentId, page_size: i64) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let got = store.list_passages(org, agent, &page(page_size, after)).await.must("list passages");
        assert!(got.items.len() <= page_size as usize, "a page holds at most `limit` items");
        ids.extend(got.items.iter().map(|p| p.id.to_string()));
        match got.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => return ids,
        }
    }
}
