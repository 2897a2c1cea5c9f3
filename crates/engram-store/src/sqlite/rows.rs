//! Decoding SQLite rows into domain types, and the column lists the queries select.
//!
//! Stored data was valid when written, so anything that does not parse back is reported as
//! [`StoreError::Corrupt`], never as a client error and never as a panic.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Row, Sqlite, Type};

use engram_core::ValidationError;
use engram_core::agent::{Agent, AgentConfig, AgentName, Metadata, ModelRef, Tag, ToolName};
use engram_core::audit::{Action, Actor, ActorKind, AuditEvent, Target, TargetKind, VersionHash};
use engram_core::block::{Block, BlockLabel, BlockLimit};
use engram_core::commitment::Salt;
use engram_core::id::{AgentId, BlockId, MessageId, PassageId, RunId, StepId};
use engram_core::message::{Message, Role, ToolStatus};
use engram_core::org::OrgId;
use engram_core::passage::{Embedding, Passage};

use crate::codec;
use crate::error::StoreError;

/// Agent columns, in the order [`agent`] reads them by name.
pub(super) const AGENT_COLUMNS: &str = "id, name, system, model, embedding, context_window, tools, tags, metadata, \
     version, salt, created_at, updated_at";

/// Block columns with the block's agents as a JSON array in attachment order; the table is aliased `b`.
pub(super) const BLOCK_SELECT: &str = "SELECT b.id, b.label, b.value, b.char_limit, b.description, b.read_only, \
     b.version, b.standalone, b.owner_agent_id, b.salt, b.created_at, b.updated_at, \
     (SELECT json_group_array(x.agent_id ORDER BY x.rowid) FROM agent_blocks x WHERE x.block_id = b.id) AS agent_ids \
     FROM blocks b";

/// Passage columns without the embedding; the table is aliased `p`.
pub(super) const PASSAGE_COLUMNS: &str = "p.pk, p.id, p.agent_id, p.text, p.tags, p.metadata, p.salt, p.created_at";

/// Message columns.
pub(super) const MESSAGE_COLUMNS: &str = "id, agent_id, position, run_id, step_id, role, content, reasoning, \
     tool_calls, tool_call_id, tool_status, in_context, created_at";

/// Audit event columns.
pub(super) const AUDIT_COLUMNS: &str = "org_id, seq, at, actor_kind, actor_id, action, target_kind, target_id, \
     agent_id, run_id, step_id, request_id, before_version, before_hash, after_version, after_hash";

/// A stored value together with the salt its content commitments use.
#[derive(Debug, Clone)]
pub(super) struct Salted<T> {
    pub item: T,
    pub salt: Salt,
}

/// A block row with what only the write paths need.
#[derive(Debug, Clone)]
pub(super) struct BlockRow {
    pub block: Block,
    pub salt: Salt,
    /// The agent the block was created with, if any.
    pub owner: Option<String>,
}

pub(super) use crate::codec::corrupt;

/// Reads one column, reporting a type mismatch as corruption.
pub(super) fn col<'r, T>(row: &'r SqliteRow, name: &str) -> Result<T, StoreError>
where
    T: Decode<'r, Sqlite> + Type<Sqlite>,
{
    row.try_get(name).map_err(|e| corrupt(name, e))
}

/// Microseconds since the epoch, the stored form of every timestamp.
pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// `t` at the precision it is stored with, so what a write returns equals what a later read returns.
pub(super) fn stored_time(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros(t)).unwrap_or(t)
}

pub(super) fn time_col(row: &SqliteRow, name: &str) -> Result<DateTime<Utc>, StoreError> {
    let v: i64 = col(row, name)?;
    DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt(name, format!("{v} is not a timestamp")))
}

/// Parses a column with a domain parser (`AgentId::parse`, `BlockLabel::parse`, …).
pub(super) fn parsed<T>(
    row: &SqliteRow,
    name: &str,
    parse: impl Fn(&str, &str) -> Result<T, ValidationError>,
) -> Result<T, StoreError> {
    let text: String = col(row, name)?;
    parse(name, &text).map_err(|e| corrupt(name, e))
}

pub(super) fn parsed_opt<T>(
    row: &SqliteRow,
    name: &str,
    parse: impl Fn(&str, &str) -> Result<T, ValidationError>,
) -> Result<Option<T>, StoreError> {
    let text: Option<String> = col(row, name)?;
    text.map(|t| parse(name, &t).map_err(|e| corrupt(name, e))).transpose()
}

fn json_col(row: &SqliteRow, name: &str) -> Result<Value, StoreError> {
    let text: String = col(row, name)?;
    serde_json::from_str(&text).map_err(|e| corrupt(name, e))
}

/// A JSON array of strings, each parsed with a domain parser.
fn string_list<T>(
    row: &SqliteRow,
    name: &str,
    parse: impl Fn(&str, &str) -> Result<T, ValidationError>,
) -> Result<Vec<T>, StoreError> {
    let texts: Vec<String> = serde_json::from_value(json_col(row, name)?).map_err(|e| corrupt(name, e))?;
    texts.iter().map(|t| parse(name, t).map_err(|e| corrupt(name, e))).collect()
}

pub(super) fn salt_col(row: &SqliteRow) -> Result<Salt, StoreError> {
    let bytes: Vec<u8> = col(row, "salt")?;
    Salt::from_slice(&bytes).ok_or_else(|| corrupt("salt", format!("{} bytes", bytes.len())))
}

pub(super) fn int_as<T: TryFrom<i64>>(row: &SqliteRow, name: &str) -> Result<T, StoreError> {
    let v: i64 = col(row, name)?;
    T::try_from(v).map_err(|_| corrupt(name, format!("{v} is out of range")))
}

/// The JSON text stored for a list of tags.
pub(super) fn tags_json(tags: &[Tag]) -> String {
    Value::from(tags.iter().map(Tag::as_str).collect::<Vec<_>>()).to_string()
}

/// An agent row, without its blocks.
pub(super) fn agent(row: &SqliteRow) -> Result<Salted<Agent>, StoreError> {
    let metadata = Metadata::parse("metadata", json_col(row, "metadata")?).map_err(|e| corrupt("metadata", e))?;
    let context_window: u32 = int_as(row, "context_window")?;
    let config = AgentConfig {
        name: parsed(row, "name", AgentName::parse)?,
        system: col(row, "system")?,
        model: parsed_opt(row, "model", ModelRef::parse)?,
        embedding: parsed(row, "embedding", ModelRef::parse)?,
        context_window,
        tools: string_list(row, "tools", ToolName::parse)?,
        tags: string_list(row, "tags", Tag::parse)?,
        metadata,
    };
    let agent = Agent {
        id: parsed(row, "id", AgentId::parse)?,
        config,
        blocks: Vec::new(),
        version: col(row, "version")?,
        created_at: time_col(row, "created_at")?,
        updated_at: time_col(row, "updated_at")?,
    };
    Ok(Salted { item: agent, salt: salt_col(row)? })
}

/// A block row selected with [`BLOCK_SELECT`].
pub(super) fn block(row: &SqliteRow) -> Result<BlockRow, StoreError> {
    let limit: i64 = col(row, "char_limit")?;
    let block = Block {
        id: parsed(row, "id", BlockId::parse)?,
        label: parsed(row, "label", BlockLabel::parse)?,
        value: col(row, "value")?,
        limit: BlockLimit::parse("char_limit", limit).map_err(|e| corrupt("char_limit", e))?,
        description: col(row, "description")?,
        read_only: col(row, "read_only")?,
        version: col(row, "version")?,
        agent_ids: string_list(row, "agent_ids", AgentId::parse)?,
        standalone: col(row, "standalone")?,
        created_at: time_col(row, "created_at")?,
        updated_at: time_col(row, "updated_at")?,
    };
    Ok(BlockRow { block, salt: salt_col(row)?, owner: col(row, "owner_agent_id")? })
}

/// A passage row selected with [`PASSAGE_COLUMNS`] and, when `with_embedding`, `embedding` and `embedding_model`.
pub(super) fn passage(row: &SqliteRow, with_embedding: bool) -> Result<Salted<Passage>, StoreError> {
    let metadata = Metadata::parse("metadata", json_col(row, "metadata")?).map_err(|e| corrupt("metadata", e))?;
    let embedding = if with_embedding { embedding(row)? } else { None };
    let passage = Passage {
        id: parsed(row, "id", PassageId::parse)?,
        agent_id: parsed(row, "agent_id", AgentId::parse)?,
        text: col(row, "text")?,
        tags: string_list(row, "tags", Tag::parse)?,
        metadata,
        created_at: time_col(row, "created_at")?,
        embedding,
    };
    Ok(Salted { item: passage, salt: salt_col(row)? })
}

fn embedding(row: &SqliteRow) -> Result<Option<Embedding>, StoreError> {
    let bytes: Option<Vec<u8>> = col(row, "embedding")?;
    let model: Option<String> = col(row, "embedding_model")?;
    match (bytes, model) {
        (Some(bytes), Some(model)) => Ok(Some(Embedding { model, vector: decode_vector(&bytes)? })),
        (None, None) => Ok(None),
        _ => Err(corrupt("embedding", "vector and model must be stored together")),
    }
}

pub(super) use crate::codec::{decode_vector, encode_vector};

/// A message row selected with [`MESSAGE_COLUMNS`].
pub(super) fn message(row: &SqliteRow) -> Result<Message, StoreError> {
    let tool_calls = codec::tool_calls_from_json(json_col(row, "tool_calls")?)?;
    Ok(Message {
        id: parsed(row, "id", MessageId::parse)?,
        agent_id: parsed(row, "agent_id", AgentId::parse)?,
        run_id: parsed_opt(row, "run_id", RunId::parse)?,
        step_id: parsed_opt(row, "step_id", StepId::parse)?,
        role: parsed(row, "role", Role::parse)?,
        content: col(row, "content")?,
        reasoning: col(row, "reasoning")?,
        tool_calls,
        tool_call_id: col(row, "tool_call_id")?,
        tool_status: parsed_opt(row, "tool_status", ToolStatus::parse)?,
        in_context: col(row, "in_context")?,
        position: col(row, "position")?,
        created_at: time_col(row, "created_at")?,
    })
}

pub(super) use crate::codec::tool_calls_json;

/// An audit event row selected with [`AUDIT_COLUMNS`].
pub(super) fn audit_event(row: &SqliteRow) -> Result<AuditEvent, StoreError> {
    let actor_kind: String = col(row, "actor_kind")?;
    let action: String = col(row, "action")?;
    let target_kind: String = col(row, "target_kind")?;
    Ok(AuditEvent {
        seq: col(row, "seq")?,
        org_id: parsed(row, "org_id", OrgId::parse)?,
        at: time_col(row, "at")?,
        actor: Actor {
            kind: ActorKind::parse(&actor_kind).ok_or_else(|| corrupt("actor_kind", &actor_kind))?,
            id: col(row, "actor_id")?,
        },
        action: Action::parse(&action).ok_or_else(|| corrupt("action", &action))?,
        target: Target {
            kind: TargetKind::parse(&target_kind).ok_or_else(|| corrupt("target_kind", &target_kind))?,
            id: col(row, "target_id")?,
        },
        agent_id: parsed_opt(row, "agent_id", AgentId::parse)?,
        run_id: parsed_opt(row, "run_id", RunId::parse)?,
        step_id: parsed_opt(row, "step_id", StepId::parse)?,
        request_id: col(row, "request_id")?,
        before: version_hash(row, "before_version", "before_hash")?,
        after: version_hash(row, "after_version", "after_hash")?,
    })
}

fn version_hash(row: &SqliteRow, version: &str, hash: &str) -> Result<Option<VersionHash>, StoreError> {
    codec::stored_version_hash(version, col(row, version)?, col(row, hash)?)
}
