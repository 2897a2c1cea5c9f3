//! The background indexer: embeds passages and messages that were stored without a vector (every message, since
//! turns do not wait for embeddings; passages stored while their model was unavailable), in batches, oldest first.
//!
//! It sleeps until woken by new writes or a timer. Rows whose agent's model cannot be used right now are left for a
//! later round (with a longer sleep, so an uninstalled model does not make it spin). A search of an agent's messages
//! first catches that agent up ([`catch_up`]), so recall search always sees the whole history.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use engram_core::agent::ModelRef;
use engram_core::id::AgentId;
use engram_core::org::OrgId;
use engram_core::passage::Embedding;
use engram_store::{EmbeddingTarget, PendingEmbedding};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::Retrieval;

/// Rows embedded per round.
const BATCH: u32 = 64;
/// Most rows a search embeds for its agent before it runs.
const CATCH_UP_LIMIT: u32 = 256;
/// Sleep between rounds when there is nothing to do (a wake-up ends it early).
const IDLE: Duration = Duration::from_secs(30);
/// Sleep after a round that could not embed everything (model unavailable, provider failing).
const BACKOFF: Duration = Duration::from_secs(60);
/// After such a round, the part of [`BACKOFF`] that no wake-up cuts short. New rows wake the indexer after every
/// run; while some rows cannot be embedded, each such round would read the same pending rows again (every turn of
/// a server without an embedding model), so wake-ups are heeded at most this often. A wake-up meanwhile is kept
/// (a `Notify` permit), so rows that can be embedded wait at most this long.
const STUCK_PAUSE: Duration = Duration::from_secs(1);

/// Wakes the indexer.
#[derive(Debug, Clone, Default)]
pub(super) struct Wake(Arc<Notify>);

impl Wake {
    pub(super) fn wake(&self) {
        self.0.notify_one();
    }
}

/// The running indexer; dropping it stops the task.
#[derive(Debug)]
pub struct IndexerHandle {
    task: JoinHandle<()>,
}

impl IndexerHandle {
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for IndexerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) fn spawn(retrieval: Retrieval) -> IndexerHandle {
    let task = tokio::spawn(async move {
        loop {
            let sleep = match round(&retrieval, None, BATCH).await {
                Round::Full => Duration::ZERO,
                Round::Done => IDLE,
                Round::Stuck => {
                    tokio::time::sleep(STUCK_PAUSE).await;
                    BACKOFF - STUCK_PAUSE
                }
            };
            if !sleep.is_zero() {
                let _ = tokio::time::timeout(sleep, retrieval.indexer.0.notified()).await;
            }
        }
    });
    IndexerHandle { task }
}

/// Embeds the agent's pending rows (up to a bound) before a search of its messages.
pub(super) async fn catch_up(retrieval: &Retrieval, org: &OrgId, agent: AgentId) {
    let mut left = CATCH_UP_LIMIT;
    while left > 0 {
        let batch = BATCH.min(left);
        match round(retrieval, Some((org, agent)), batch).await {
            Round::Full => left -= batch,
            Round::Done | Round::Stuck => return,
        }
    }
}

/// How a round went.
enum Round {
    /// A whole batch was embedded: there may be more.
    Full,
    /// Everything pending was embedded.
    Done,
    /// Some rows could not be embedded now.
    Stuck,
}

async fn round(retrieval: &Retrieval, scope: Option<(&OrgId, AgentId)>, limit: u32) -> Round {
    let pending = match retrieval.store.pending_embeddings(scope, limit).await {
        Ok(pending) => pending,
        Err(e) => {
            tracing::warn!(error = %e, "the embedding indexer could not read pending rows");
            return Round::Stuck;
        }
    };
    let full = pending.len() as u32 == limit;
    let mut stuck = false;
    let mut by_model: HashMap<ModelRef, Vec<PendingEmbedding>> = HashMap::new();
    for row in pending {
        by_model.entry(row.model.clone()).or_default().push(row);
    }
    for (model, rows) in by_model {
        let embedder = match retrieval.embedder(&model) {
            Ok(embedder) => embedder,
            Err(e) => {
                tracing::debug!(model = %model, error = %e, rows = rows.len(), "rows left unembedded for now");
                stuck = true;
                continue;
            }
        };
        let texts: Vec<String> = rows.iter().map(|r| r.text.clone()).collect();
        let vectors = match embedder.embed(&texts).await {
            Ok(vectors) => vectors,
            Err(e) => {
                tracing::warn!(model = %model, error = %e, "the embedding indexer's batch failed; retrying later");
                stuck = true;
                continue;
            }
        };
        let items: Vec<(EmbeddingTarget, Embedding)> = rows
            .iter()
            .zip(vectors)
            .map(|(row, vector)| (row.target, Embedding { model: embedder.model().to_owned(), vector }))
            .collect();
        let expected = items.len() as u64;
        match retrieval.store.set_embeddings(items).await {
            // Fewer stored than sent: rows deleted meanwhile, or vectors of another model (logged by the store).
            Ok(stored) => stuck |= stored < expected,
            Err(e) => {
                tracing::warn!(error = %e, "the embedding indexer could not store vectors; retrying later");
                stuck = true;
            }
        }
    }
    match (stuck, full) {
        (true, _) => Round::Stuck,
        (false, true) => Round::Full,
        (false, false) => Round::Done,
    }
}
