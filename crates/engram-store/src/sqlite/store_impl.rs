//! The [`Store`] trait for [`SqliteStore`]: one line per method, delegating to the module that holds its SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use engram_core::agent::{Agent, AgentFilter, AgentPatch, NewAgent};
use engram_core::audit::{AuditEvent, WriteContext};
use engram_core::block::{Block, BlockLabel, BlockPatch, NewBlock};
use engram_core::id::{AgentId, BlockId, MessageId, PassageId, RunId};
use engram_core::import::AgentsImport;
use engram_core::message::{Message, MessageQuery, NewMessage};
use engram_core::org::OrgId;
use engram_core::page::{Page, PageRequest};
use engram_core::passage::{Embedding, NewPassage, Passage};
use engram_core::run::{NewStep, Run, RunOutcome, RunStatus};
use engram_core::search::{MessageSearch, PassageQuery, Scored};
use serde_json::Value;

use super::{
    SqliteStore, agents, attachments, audit, blocks, compaction, embeddings, idempotency, import, messages, passages,
    queue, runs, text_search, vector_search, window,
};
use crate::error::StoreError;
use crate::idempotency::IdempotencyBegin;
use crate::store::{AuditQuery, EmbeddingTarget, MessageCounts, PendingEmbedding, StaleRun, Store, WindowSnapshot};

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.read().await?;
        sqlx::query("SELECT 1").execute(&mut *conn).await?;
        Ok(())
    }

    async fn close(&self) {
        // Queued writes finish first.
        self.inner.writer.close().await;
        self.inner.reader.close().await;
    }

    async fn create_agent(&self, ctx: &WriteContext, new: NewAgent) -> Result<Agent, StoreError> {
        agents::create(self, ctx, new).await
    }

    async fn get_agent(&self, org: &OrgId, id: AgentId) -> Result<Agent, StoreError> {
        agents::get(self, org, id).await
    }

    async fn list_agents(
        &self,
        org: &OrgId,
        filter: &AgentFilter,
        page: &PageRequest,
    ) -> Result<Page<Agent>, StoreError> {
        agents::list(self, org, filter, page).await
    }

    async fn update_agent(&self, ctx: &WriteContext, id: AgentId, patch: AgentPatch) -> Result<Agent, StoreError> {
        agents::update(self, ctx, id, patch).await
    }

    async fn delete_agent(&self, ctx: &WriteContext, id: AgentId) -> Result<(), StoreError> {
        agents::delete(self, ctx, id).await
    }

    async fn import_agents(&self, ctx: &WriteContext, import: AgentsImport) -> Result<Vec<Agent>, StoreError> {
        import::import(self, ctx, import).await
    }

    async fn list_agent_blocks(&self, org: &OrgId, agent: AgentId) -> Result<Vec<Block>, StoreError> {
        blocks::list_agent_blocks(self, org, agent).await
    }

    async fn get_agent_block(&self, org: &OrgId, agent: AgentId, label: &BlockLabel) -> Result<Block, StoreError> {
        blocks::get_agent_block(self, org, agent, label).await
    }

    async fn update_agent_block(
        &self,
        ctx: &WriteContext,
        agent: AgentId,
        label: &BlockLabel,
        patch: BlockPatch,
        if_version: Option<i64>,
    ) -> Result<Block, StoreError> {
        blocks::update_agent_block(self, ctx, agent, label, patch, if_version).await
    }

    async fn create_block(&self, ctx: &WriteContext, new: NewBlock) -> Result<Block, StoreError> {
        blocks::create_block(self, ctx, new).await
    }

    async fn get_block(&self, org: &OrgId, id: BlockId) -> Result<Block, StoreError> {
        blocks::get_block(self, org, id).await
    }

    async fn list_blocks(&self, org: &OrgId, page: &PageRequest) -> Result<Page<Block>, StoreError> {
        blocks::list_blocks(self, org, page).await
    }

    async fn update_block(
        &self,
        ctx: &WriteContext,
        id: BlockId,
        patch: BlockPatch,
        if_version: Option<i64>,
    ) -> Result<Block, StoreError> {
        blocks::update_block(self, ctx, id, patch, if_version).await
    }

    async fn delete_block(&self, ctx: &WriteContext, id: BlockId, force: bool) -> Result<(), StoreError> {
        attachments::delete_block(self, ctx, id, force).await
    }

    async fn attach_block(&self, ctx: &WriteContext, agent: AgentId, block: BlockId) -> Result<Agent, StoreError> {
        attachments::attach_block(self, ctx, agent, block).await
    }

    async fn detach_block(&self, ctx: &WriteContext, agent: AgentId, label: &BlockLabel) -> Result<Agent, StoreError> {
        attachments::detach_block(self, ctx, agent, label).await
    }

    async fn insert_passages(
        &self,
        ctx: &WriteContext,
        agent: AgentId,
        passages: Vec<NewPassage>,
    ) -> Result<Vec<Passage>, StoreError> {
        passages::insert(self, ctx, agent, passages).await
    }

    async fn get_passage(
        &self,
        org: &OrgId,
        agent: AgentId,
        id: PassageId,
        include_embedding: bool,
    ) -> Result<Passage, StoreError> {
        passages::get(self, org, agent, id, include_embedding).await
    }

    async fn list_passages(
        &self,
        org: &OrgId,
        agent: AgentId,
        page: &PageRequest,
    ) -> Result<Page<Passage>, StoreError> {
        passages::list(self, org, agent, page).await
    }

    async fn delete_passage(&self, ctx: &WriteContext, agent: AgentId, id: PassageId) -> Result<(), StoreError> {
        passages::delete(self, ctx, agent, id).await
    }

    async fn search_passages_text(
        &self,
        org: &OrgId,
        agent: AgentId,
        query: &PassageQuery,
    ) -> Result<Vec<Scored<Passage>>, StoreError> {
        text_search::passages(self, org, agent, query).await
    }

    async fn search_passages_vector(
        &self,
        org: &OrgId,
        agent: AgentId,
        query: &PassageQuery,
        embedding: &Embedding,
    ) -> Result<Vec<Scored<Passage>>, StoreError> {
        vector_search::passages(self, org, agent, query, embedding).await
    }

    async fn count_passages(&self, org: &OrgId, agent: AgentId) -> Result<u64, StoreError> {
        passages::count(self, org, agent).await
    }

    async fn append_messages(
        &self,
        ctx: &WriteContext,
        agent: AgentId,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Message>, StoreError> {
        messages::append(self, ctx, agent, messages).await
    }

    async fn list_messages(
        &self,
        org: &OrgId,
        agent: AgentId,
        query: &MessageQuery,
    ) -> Result<Page<Message>, StoreError> {
        messages::list(self, org, agent, query).await
    }

    async fn list_context_messages(&self, org: &OrgId, agent: AgentId) -> Result<Vec<Message>, StoreError> {
        messages::list_context(self, org, agent).await
    }

    async fn count_messages(&self, org: &OrgId, agent: AgentId) -> Result<MessageCounts, StoreError> {
        messages::count(self, org, agent).await
    }

    async fn compact_messages(
        &self,
        ctx: &WriteContext,
        agent: AgentId,
        evict: &[MessageId],
        summary: NewMessage,
    ) -> Result<Message, StoreError> {
        compaction::compact(self, ctx, agent, evict, summary).await
    }

    async fn search_messages_text(
        &self,
        org: &OrgId,
        agent: AgentId,
        query: &MessageSearch,
    ) -> Result<Vec<Scored<Message>>, StoreError> {
        text_search::messages(self, org, agent, query).await
    }

    async fn load_window(&self, org: &OrgId, agent: AgentId, tag_limit: u32) -> Result<WindowSnapshot, StoreError> {
        window::load(self, org, agent, tag_limit).await
    }

    async fn search_messages_vector(
        &self,
        org: &OrgId,
        agent: AgentId,
        query: &MessageSearch,
        embedding: &Embedding,
    ) -> Result<Vec<Scored<Message>>, StoreError> {
        vector_search::messages(self, org, agent, query, embedding).await
    }

    async fn pending_embeddings(
        &self,
        agent: Option<(&OrgId, AgentId)>,
        limit: u32,
    ) -> Result<Vec<PendingEmbedding>, StoreError> {
        embeddings::pending(self, agent, limit).await
    }

    async fn set_embeddings(&self, items: Vec<(EmbeddingTarget, Embedding)>) -> Result<u64, StoreError> {
        embeddings::set(self, items).await
    }

    async fn list_passage_tags(&self, org: &OrgId, agent: AgentId, limit: u32) -> Result<Vec<String>, StoreError> {
        passages::tags(self, org, agent, limit).await
    }

    async fn create_run(
        &self,
        ctx: &WriteContext,
        agent: AgentId,
        status: RunStatus,
        input: Value,
        inputs: Vec<NewMessage>,
    ) -> Result<(Run, Vec<Message>), StoreError> {
        runs::create(self, ctx, agent, status, input, inputs).await
    }

    async fn get_run(&self, org: &OrgId, id: RunId) -> Result<Run, StoreError> {
        runs::get(self, org, id).await
    }

    async fn start_run(
        &self,
        ctx: &WriteContext,
        id: RunId,
        inputs: Vec<NewMessage>,
    ) -> Result<(Run, Vec<Message>), StoreError> {
        runs::start(self, ctx, id, inputs).await
    }

    async fn record_step(
        &self,
        ctx: &WriteContext,
        agent: AgentId,
        step: NewStep,
        messages: Vec<NewMessage>,
        finish: Option<RunOutcome>,
    ) -> Result<Vec<Message>, StoreError> {
        runs::record_step(self, ctx, agent, step, messages, finish).await
    }

    async fn finish_run(&self, org: &OrgId, id: RunId, outcome: RunOutcome) -> Result<Run, StoreError> {
        runs::finish(self, org, id, outcome).await
    }

    async fn request_run_cancel(&self, org: &OrgId, id: RunId) -> Result<Run, StoreError> {
        runs::request_cancel(self, org, id).await
    }

    async fn runs_with_status(&self, status: RunStatus, limit: u32) -> Result<Vec<(OrgId, Run)>, StoreError> {
        runs::with_status(self, status, limit).await
    }

    fn instance(&self) -> i32 {
        SqliteStore::instance(self)
    }

    /// One process owns the database: the caller's own serialisation is all there is to do.
    async fn try_lock_agent(&self, _agent: AgentId) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn unlock_agent(&self, _agent: AgentId) -> Result<(), StoreError> {
        Ok(())
    }

    async fn stale_runs(&self, agent: Option<AgentId>, limit: u32) -> Result<Vec<StaleRun>, StoreError> {
        queue::stale(self, agent, limit).await
    }

    async fn release_run(&self, org: &OrgId, id: RunId, owner: Option<i32>) -> Result<bool, StoreError> {
        queue::release(self, org, id, owner).await
    }

    async fn claim_queued_run(&self) -> Result<Option<(OrgId, Run)>, StoreError> {
        queue::claim(self).await
    }

    async fn list_audit_events(&self, org: &OrgId, query: &AuditQuery) -> Result<Page<AuditEvent>, StoreError> {
        audit::list(self, org, query).await
    }

    async fn idempotency_begin(
        &self,
        org: &OrgId,
        key: &str,
        fingerprint: &str,
        expired_before: DateTime<Utc>,
    ) -> Result<IdempotencyBegin, StoreError> {
        idempotency::begin(self, org, key, fingerprint, expired_before).await
    }

    async fn idempotency_finish(&self, org: &OrgId, key: &str, status: u16, body: &[u8]) -> Result<(), StoreError> {
        idempotency::finish(self, org, key, status, body).await
    }

    async fn idempotency_release(&self, org: &OrgId, key: &str) -> Result<(), StoreError> {
        idempotency::release(self, org, key).await
    }
}
