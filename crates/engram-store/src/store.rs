//! The `Store` trait: every read and write of agent state that the server and the runtime perform.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use engram_core::agent::{Agent, AgentFilter, AgentPatch, ModelRef, NewAgent};
use engram_core::audit::{AuditEvent, WriteContext};
use engram_core::block::{Block, BlockLabel, BlockPatch, NewBlock};
use engram_core::id::{AgentId, BlockId, MessageId, PassageId, RunId};
use engram_core::import::AgentsImport;
use engram_core::message::{Message, MessageQuery, NewMessage};
use engram_core::org::OrgId;
use engram_core::page::{Page, PageLimit, PageRequest};
use engram_core::passage::{Embedding, NewPassage, Passage};
use engram_core::run::{NewStep, Run, RunOutcome, RunStatus};
use engram_core::search::{MessageSearch, PassageQuery, Scored};
use serde_json::Value;

use crate::error::StoreError;
use crate::idempotency::IdempotencyBegin;

/// Which audit events to list: those after `after_seq`, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub after_seq: Option<i64>,
    pub limit: PageLimit,
    pub agent_id: Option<AgentId>,
}

/// How many messages an agent has, and how many of them are in its context window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageCounts {
    pub total: u64,
    pub in_context: u64,
}

/// What the context compiler reads about an agent's memory before each model call, in one store call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WindowSnapshot {
    /// The messages in the context window (`in_context`), in position order.
    pub messages: Vec<Message>,
    pub counts: MessageCounts,
    pub archival_passages: u64,
    /// The distinct tags on the agent's passages, most used first.
    pub archival_tags: Vec<String>,
}

/// A row that can carry an embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmbeddingTarget {
    Passage(PassageId),
    Message(MessageId),
}

/// A passage or message whose embedding has not been computed yet, with what is needed to compute it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEmbedding {
    pub org: OrgId,
    pub agent: AgentId,
    /// The agent's embedding model now.
    pub model: ModelRef,
    pub target: EmbeddingTarget,
    pub text: String,
}

/// What a backend offers beyond the trait's methods, for `/v1/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreCapabilities {
    /// How vector search runs where the backend has a choice: `"pgvector"` (PostgreSQL ranks the vectors) or
    /// `"exact"` (PostgreSQL without pgvector: engram scans an agent's vectors). `None` for SQLite, whose per-agent
    /// in-memory indexes are its only way.
    pub vector_path: Option<&'static str>,
    /// Other engram processes may share the database (PostgreSQL): runs they leave behind are found by looking at
    /// who holds which lock, and their queued runs by polling. `false` for SQLite, which one process owns.
    pub shared: bool,
}

/// A `running` run, or a `queued` one some process owns, whose owner is no longer alive or is this process (which
/// tells its own live runs apart): what a crash, a stop or a lost database connection left behind.
#[derive(Debug, Clone, PartialEq)]
pub struct StaleRun {
    pub org: OrgId,
    pub run: Run,
    /// The instance key recorded as the run's owner (`None` for a run written before owners were recorded).
    pub owner: Option<i32>,
}

/// Durable agent state. All reads are scoped by organisation; all writes carry a [`WriteContext`] and record audit
/// events atomically with the change. A returned `Ok` from a write means the change is committed and durable.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// What this backend offers (reported by `/v1/health`).
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::default()
    }

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Flushes and closes connections; called once at shutdown.
    async fn close(&self);

    // ---- agents ----

    /// Creates an agent with its new blocks and attaches existing ones, in one transaction.
    async fn create_agent(&self, ctx: &WriteContext, new: NewAgent) -> Result<Agent, StoreError>;
    async fn get_agent(&self, org: &OrgId, id: AgentId) -> Result<Agent, StoreError>;
    /// Lists agents oldest first; the cursor is the last agent id.
    async fn list_agents(
        &self,
        org: &OrgId,
        filter: &AgentFilter,
        page: &PageRequest,
    ) -> Result<Page<Agent>, StoreError>;
    async fn update_agent(&self, ctx: &WriteContext, id: AgentId, patch: AgentPatch) -> Result<Agent, StoreError>;
    /// Deletes the agent, its messages and passages, and the blocks only it used that were made with it.
    /// Standalone blocks and blocks still attached elsewhere stay.
    async fn delete_agent(&self, ctx: &WriteContext, id: AgentId) -> Result<(), StoreError>;
    /// Creates several agents at once (an Agent File import) in one transaction, recording the same events the
    /// single-object paths do: each shared block is created standalone (`block.create`, no agent); then per agent,
    /// its row (`agent.create`), its blocks in the order given (`block.create` for its own, `block.attach` for shared
    /// ones) and its messages in order, positions from 1, with their `in_context` flags and `created_at` as given
    /// (`message.append` each). Fails with `Invalid` when [`AgentsImport::check`] does, creating nothing. Returns the
    /// agents in input order, read once the whole import is made (a shared block lists every agent it went to).
    async fn import_agents(&self, ctx: &WriteContext, import: AgentsImport) -> Result<Vec<Agent>, StoreError>;

    // ---- blocks ----

    async fn list_agent_blocks(&self, org: &OrgId, agent: AgentId) -> Result<Vec<Block>, StoreError>;
    async fn get_agent_block(&self, org: &OrgId, agent: AgentId, label: &BlockLabel) -> Result<Block, StoreError>;
    /// Updates the block an agent sees under `label`. With `if_version`, fails with `VersionConflict` when stale.
    async fn update_agent_block(
        &self,
        ctx: &WriteContext,
        agent: AgentId,
        label: &BlockLabel,
        patch: BlockPatch,
        if_version: Option<i64>,
    ) -> Result<Block, StoreError>;
    /// Creates a standalone block, attached to no agent.
    async fn create_block(&self, ctx: &WriteContext, new: NewBlock) -> Result<Block, StoreError>;
    async fn get_block(&self, org: &OrgId, id: BlockId) -> Result<Block, StoreError>;
    /// Lists the organisation's blocks oldest first; the cursor is the last block id.
    async fn list_blocks(&self, org: &OrgId, page: &PageRequest) -> Result<Page<Block>, StoreError>;
    async fn update_block(
        &self,
        ctx: &WriteContext,
        id: BlockId,
        patch: BlockPatch,
        if_version: Option<i64>,
    ) -> Result<Block, StoreError>;
    /// Deletes a block; while agents use it this fails with `BlockInUse` unless `force`, which detaches it first.
    async fn delete_block(&self, ctx: &WriteContext, id: BlockId, force: bool) -> Result<(), StoreError>;
    /// Attaches an existing block; fails with `AlreadyExists` if the agent has a block with that label.
    async fn attach_block(&self, ctx: &WriteContext, agent: AgentId, block: BlockId) -> Result<Agent, StoreError>;
    async fn detach_block(&self, ctx: &WriteContext, agent: AgentId, label: &BlockLabel) -> Result<Agent, StoreError>;

    // ---- archival memory ----

    /// Inserts passages in one transaction (one audit event each) and returns them in input order.
    async fn insert_passages(
        &self,
        ctx: &WriteContext,
        agent: AgentId,
        passages: Vec<NewPassage>,
    ) -> Result<Vec<Passage>, StoreError>;
    async fn get_passage(
        &self,
        org: &OrgId,
        agent: AgentId,
        id: PassageId,
        include_embedding: bool,
    ) -> Result<Passage, StoreError>;
    /// Lists passages oldest-inserted first; the cursor is the last passage id.
    async fn list_passages(&self, org: &OrgId, agent: AgentId, page: &PageRequest)
    -> Result<Page<Passage>, StoreError>;
    async fn delete_passage(&self, ctx: &WriteContext, agent: AgentId, id: PassageId) -> Result<(), StoreError>;
    /// Full-text (BM25) search over an agent's passages, filters applied before ranking, best first.
    async fn search_passages_text(
        &self,
        org: &OrgId,
        agent: AgentId,
        query: &PassageQuery,
    ) -> Result<Vec<Scored<Passage>>, StoreError>;
    async fn count_passages(&self, org: &OrgId, agent: AgentId) -> Result<u64, StoreError>;
    /// Vector search over an agent's embedded passages by cosine similarity to `embedding`, best first, filters
    /// applied before ranking. Fails with `EmbeddingMismatch` when the agent's vectors come from another model or
    /// dimension. Passages without an embedding yet are not found (text search finds them).
    async fn search_passages_vector(
        &self,
        org: &OrgId,
        agent: AgentId,
        query: &PassageQuery,
        embedding: &Embedding,
    ) -> Result<Vec<Scored<Passage>>, StoreError>;

    // ---- recall memory ----

    /// Appends messages to an agent's history in order (one audit event each).
    async fn append_messages(
        &self,
        ctx: &WriteContext,
        agent: AgentId,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Message>, StoreError>;
    async fn list_messages(
        &self,
        org: &OrgId,
        agent: AgentId,
        query: &MessageQuery,
    ) -> Result<Page<Message>, StoreError>;

    /// The messages in the agent's context window (`in_context`), in position order.
    async fn list_context_messages(&self, org: &OrgId, agent: AgentId) -> Result<Vec<Message>, StoreError>;
    async fn count_messages(&self, org: &OrgId, agent: AgentId) -> Result<MessageCounts, StoreError>;
    /// The window, the message and passage counts and up to `tag_limit` archival tags, read together: the same as
    /// `list_context_messages`, `count_messages`, `count_passages` and `list_passage_tags`, in one call.
    async fn load_window(&self, org: &OrgId, agent: AgentId, tag_limit: u32) -> Result<WindowSnapshot, StoreError>;
    /// Compaction, in one transaction: moves `evict` and any summary still in context out of the window (one
    /// `message.evict` event each; the messages stay in recall) and appends `summary` (role summary, in context).
    /// Fails with `Invalid` if an id in `evict` is not an in-context message of the agent, changing nothing.
    async fn compact_messages(
        &self,
        ctx: &WriteContext,
        agent: AgentId,
        evict: &[MessageId],
        summary: NewMessage,
    ) -> Result<Message, StoreError>;
    /// Full-text (BM25) search over all of an agent's messages, in or out of the window; filters before ranking.
    async fn search_messages_text(
        &self,
        org: &OrgId,
        agent: AgentId,
        query: &MessageSearch,
    ) -> Result<Vec<Scored<Message>>, StoreError>;
    /// Vector search over all of an agent's embedded messages, as [`Store::search_passages_vector`] does for
    /// passages; role and time filters apply before ranking.
    async fn search_messages_vector(
        &self,
        org: &OrgId,
        agent: AgentId,
        query: &MessageSearch,
        embedding: &Embedding,
    ) -> Result<Vec<Scored<Message>>, StoreError>;
    /// The distinct tags on an agent's passages, most used first, at most `limit`.
    async fn list_passage_tags(&self, org: &OrgId, agent: AgentId, limit: u32) -> Result<Vec<String>, StoreError>;

    // ---- embeddings (derived data: recomputable, so not audited) ----

    /// Passages and messages that have text but no embedding yet, oldest first, at most `limit`: of one agent when
    /// `agent` is given, else of every agent.
    async fn pending_embeddings(
        &self,
        agent: Option<(&OrgId, AgentId)>,
        limit: u32,
    ) -> Result<Vec<PendingEmbedding>, StoreError>;
    /// Stores embeddings computed for [`Store::pending_embeddings`] rows and returns how many were stored. A row that
    /// was deleted or embedded meanwhile is skipped, and so is one whose agent already has vectors of another model
    /// or dimension.
    async fn set_embeddings(&self, items: Vec<(EmbeddingTarget, Embedding)>) -> Result<u64, StoreError>;

    // ---- runs and steps ----

    /// Creates a run in `status` (queued or running) with its opaque `input`, owned by this process. A running run's `inputs` (the user
    /// messages it answers) are appended in the same transaction; a queued run gets them when it starts, so that they
    /// land in the history only once the agent is free.
    ///
    /// Durability: the writes that leave a run running (this one for a running run, `start_run`, and `record_step`
    /// without `finish`) are committed and visible when they return, but a backend may make them safe from a power
    /// cut only with the run's end (`record_step` with `finish`, or `finish_run`), whose own write is durable. So a
    /// caller that must be answered before the run ends creates it queued. (SQLite does this; PostgreSQL makes every
    /// commit durable.)
    async fn create_run(
        &self,
        ctx: &WriteContext,
        agent: AgentId,
        status: RunStatus,
        input: Value,
        inputs: Vec<NewMessage>,
    ) -> Result<(Run, Vec<Message>), StoreError>;
    /// A run with its steps (oldest first) and summed usage.
    async fn get_run(&self, org: &OrgId, id: RunId) -> Result<Run, StoreError>;
    /// Moves a queued run to running and appends its `inputs`, in one transaction. Fails with `VersionConflict`
    /// unless it was queued and owned by this process (it was cancelled, or released to another process).
    async fn start_run(
        &self,
        ctx: &WriteContext,
        id: RunId,
        inputs: Vec<NewMessage>,
    ) -> Result<(Run, Vec<Message>), StoreError>;
    /// Records a step and the messages it produced, in one transaction (one `message.append` event per message);
    /// with `finish`, the run ends in the same transaction.
    async fn record_step(
        &self,
        ctx: &WriteContext,
        agent: AgentId,
        step: NewStep,
        messages: Vec<NewMessage>,
        finish: Option<RunOutcome>,
    ) -> Result<Vec<Message>, StoreError>;
    /// Ends a run. Ending a run that has already ended changes nothing and returns it as it is.
    async fn finish_run(&self, org: &OrgId, id: RunId, outcome: RunOutcome) -> Result<Run, StoreError>;
    /// Asks a run to stop. A queued run is cancelled at once; a running one gets `cancel_requested` and stops before
    /// its next step; a finished run is returned unchanged.
    async fn request_run_cancel(&self, org: &OrgId, id: RunId) -> Result<Run, StoreError>;
    /// Runs in `status` across all organisations, oldest first, with the organisation each belongs to. (Recovery
    /// no longer uses it: it goes by owner, through [`Store::stale_runs`] and [`Store::claim_queued_run`].)
    async fn runs_with_status(&self, status: RunStatus, limit: u32) -> Result<Vec<(OrgId, Run)>, StoreError>;

    // ---- several processes ----

    /// This process's instance key, recorded as the owner of every run it creates or claims.
    fn instance(&self) -> i32;
    /// Takes `agent` for a run across every engram process on the database: `false` when another process holds it.
    /// Within one process the caller serialises runs of an agent itself (a process may take an agent again while it
    /// holds it). Every `true` must be matched by an [`Store::unlock_agent`].
    async fn try_lock_agent(&self, agent: AgentId) -> Result<bool, StoreError>;
    async fn unlock_agent(&self, agent: AgentId) -> Result<(), StoreError>;
    /// Runs left behind (see [`StaleRun`]), oldest first; only `agent`'s when given.
    async fn stale_runs(&self, agent: Option<AgentId>, limit: u32) -> Result<Vec<StaleRun>, StoreError>;
    /// Gives up a queued run whose owner is still `owner`, so that any process may claim it. `false` when it is no
    /// longer queued or someone else owns it now.
    async fn release_run(&self, org: &OrgId, id: RunId, owner: Option<i32>) -> Result<bool, StoreError>;
    /// Claims for this process the oldest queued run that nobody owns and that is next in its agent's line (no
    /// earlier queued or running run of the same agent). Several processes claiming at once get different runs.
    async fn claim_queued_run(&self) -> Result<Option<(OrgId, Run)>, StoreError>;

    // ---- audit ----

    async fn list_audit_events(&self, org: &OrgId, query: &AuditQuery) -> Result<Page<AuditEvent>, StoreError>;

    // ---- idempotency ----

    /// Reserves `key` for a request with `fingerprint`, or reports what happened to an earlier one. Records older than
    /// `expired_before` count as absent.
    async fn idempotency_begin(
        &self,
        org: &OrgId,
        key: &str,
        fingerprint: &str,
        expired_before: DateTime<Utc>,
    ) -> Result<IdempotencyBegin, StoreError>;
    /// Stores the response of a reserved request.
    async fn idempotency_finish(&self, org: &OrgId, key: &str, status: u16, body: &[u8]) -> Result<(), StoreError>;
    /// Frees a reserved key whose request failed without effect, so the client may retry.
    async fn idempotency_release(&self, org: &OrgId, key: &str) -> Result<(), StoreError>;
}
