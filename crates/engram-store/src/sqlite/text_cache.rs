//! The in-memory full-text indexes behind text search: one BM25 index ([`TextIndex`]) per agent and kind (passages,
//! messages), built from the database on the agent's first text search and kept in step with it afterwards.
//!
//! Per agent rather than one shared FTS5 index: a search scores only its own agent's rows, with its own agent's
//! statistics, so its cost does not grow with the other agents' data, and every matching row is scored (no cutoff of
//! common words is needed to bound the work).
//!
//! The database stays the truth; an index is derived from it and rebuilt after a restart. Keeping it in step:
//! - **Passages** change only through this store's insert and delete, which apply their committed change to a loaded
//!   index in the same order as the vector indexes (`vectors`): a loader holds the entry's `gate` while it reads the
//!   rows and installs the index; a writer commits first, then takes the `gate` and applies its change (an insert
//!   replaces by key and a removal of an absent key does nothing, so applying a change the loader already saw is
//!   harmless).
//! - **Messages** are only ever appended, each with its agent's next gap-free `position`: compaction only flips
//!   `in_context`, nothing rewrites their text, and they go only with their agent. So a search first reads, under the
//!   `gate`, the agent's messages past the last position its index holds, and the writes need not know about it. The
//!   single writer commits positions in order, so a read sees a prefix of them and none can be skipped.
//!
//! Loading streams the rows and indexes them in chunks (`extend`) on blocking threads; searches run on blocking threads too,
//! never on the async workers.

use std::sync::{Arc, PoisonError};

use futures::TryStreamExt;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use engram_core::text_index::TextIndex;

use super::rows;
use super::shelf::{Entry, Shelf};
use super::vectors::{Kind, RowAttr};
use crate::error::StoreError;

/// Rows indexed per trip to a blocking thread while loading (`TextIndex::extend` lays a large chunk out at once).
const LOAD_CHUNK: usize = 16_384;

/// One agent's loaded index and, for messages, the last position it holds (0: none).
struct Loaded {
    index: TextIndex<RowAttr>,
    position: i64,
}

/// A committed passage to add to a loaded index.
pub(super) struct NewText {
    pub key: i64,
    pub text: String,
    pub attr: RowAttr,
}

/// The text indexes of one store.
#[derive(Default)]
pub(super) struct TextCache {
    passages: Shelf<Loaded>,
    messages: Shelf<Loaded>,
}

impl TextCache {
    fn shelf(&self, kind: Kind) -> &Shelf<Loaded> {
        match kind {
            Kind::Passages => &self.passages,
            Kind::Messages => &self.messages,
        }
    }

    /// The best `k` rows of the agent (in `org`) for the free text `query` among those `accept` lets through, as
    /// (key, BM25 score) pairs, best first. Loads or catches the agent's index up from `conn` first.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn search(
        &self,
        conn: &mut SqliteConnection,
        kind: Kind,
        org: &str,
        agent_id: &str,
        query: &str,
        k: usize,
        accept: impl Fn(i64, &RowAttr) -> bool + Send + Sync + 'static,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        let entry = self.shelf(kind).entry(agent_id);
        match kind {
            Kind::Passages => load_passages(conn, agent_id, &entry).await?,
            Kind::Messages => catch_up_messages(conn, org, agent_id, &entry).await?,
        }
        let query = query.to_owned();
        let search = move || {
            let data = entry.data.read().unwrap_or_else(PoisonError::into_inner);
            let Some(loaded) = data.as_ref() else { return Vec::new() };
            loaded.index.search(&query, k, accept).into_iter().map(|hit| (hit.key, hit.score)).collect()
        };
        tokio::task::spawn_blocking(search).await.map_err(|e| StoreError::Corrupt(format!("text search failed: {e}")))
    }

    /// Adds committed passages to the agent's index if it is loaded (an unloaded one will read them).
    pub(super) async fn after_insert(&self, agent_id: &str, rows: Vec<NewText>) {
        if rows.is_empty() {
            return;
        }
        let Some(entry) = self.passages.existing(agent_id) else { return };
        let _gate = entry.gate.lock().await;
        let apply = {
            let entry = entry.clone();
            move || {
                let mut data = entry.data.write().unwrap_or_else(PoisonError::into_inner);
                if let Some(loaded) = data.as_mut() {
                    for row in rows {
                        loaded.index.insert(row.key, &row.text, row.attr);
                    }
                }
            }
        };
        if let Err(e) = tokio::task::spawn_blocking(apply).await {
            tracing::error!(error = %e, "updating a text index failed; it is dropped and reloads on next use");
            self.passages.forget(agent_id);
        }
    }

    /// Removes a committed passage deletion from the agent's index if it is loaded.
    pub(super) async fn after_delete(&self, agent_id: &str, key: i64) {
        let Some(entry) = self.passages.existing(agent_id) else { return };
        let _gate = entry.gate.lock().await;
        let mut data = entry.data.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(loaded) = data.as_mut() {
            loaded.index.remove(key);
        }
    }

    /// Drops an agent's indexes (the agent was deleted).
    pub(super) fn forget_agent(&self, agent_id: &str) {
        self.passages.forget(agent_id);
        self.messages.forget(agent_id);
    }
}

/// Builds the agent's passage index unless it is loaded.
async fn load_passages(
    conn: &mut SqliteConnection,
    agent_id: &str,
    entry: &Arc<Entry<Loaded>>,
) -> Result<(), StoreError> {
    let Some(_gate) = entry.gate_unloaded().await else { return Ok(()) };
    let rows = sqlx::query("SELECT pk, text, created_at FROM passages WHERE agent_id = ?1").bind(agent_id).fetch(conn);
    let (index, _) = index_rows(TextIndex::new(), rows, Kind::Passages).await?;
    *entry.data.write().unwrap_or_else(PoisonError::into_inner) = Some(Loaded { index, position: 0 });
    Ok(())
}

/// Adds the agent's messages past the index's last position (all of them the first time).
async fn catch_up_messages(
    conn: &mut SqliteConnection,
    org: &str,
    agent_id: &str,
    entry: &Arc<Entry<Loaded>>,
) -> Result<(), StoreError> {
    let _gate = entry.gate.lock().await;
    let after = entry.data.read().unwrap_or_else(PoisonError::into_inner).as_ref().map(|loaded| loaded.position);
    let sql = format!(
        "SELECT pk, content AS text, created_at, {role} AS role, position FROM messages \
         WHERE org_id = ?1 AND agent_id = ?2 AND position > ?3 ORDER BY position",
        role = Kind::Messages.role_sql(),
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org).bind(agent_id).bind(after.unwrap_or(0)).fetch(conn);
    let Some(after) = after else {
        // The first search: build the whole index, then install it.
        let (index, last) = index_rows(TextIndex::new(), rows, Kind::Messages).await?;
        *entry.data.write().unwrap_or_else(PoisonError::into_inner) =
            Some(Loaded { index, position: last.unwrap_or(0) });
        return Ok(());
    };
    // Later searches: the few messages written since, added in place (searches in flight keep the index meanwhile).
    let (fresh, last) = collect_rows(rows, Kind::Messages).await?;
    if fresh.is_empty() {
        return Ok(());
    }
    let apply = {
        let entry = entry.clone();
        move || {
            let mut data = entry.data.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(loaded) = data.as_mut() {
                for row in fresh {
                    loaded.index.insert(row.key, &row.text, row.attr);
                }
                loaded.position = last.unwrap_or(after);
            }
        }
    };
    tokio::task::spawn_blocking(apply)
        .await
        .map_err(|e| StoreError::Corrupt(format!("updating a text index failed: {e}")))
}

/// Indexes the streamed rows into `index`, a chunk at a time on a blocking thread. Returns the index and, for
/// messages, the last row's position.
async fn index_rows(
    mut index: TextIndex<RowAttr>,
    mut rows: RowStream<'_>,
    kind: Kind,
) -> Result<(TextIndex<RowAttr>, Option<i64>), StoreError> {
    let mut last = None;
    loop {
        let mut chunk = Vec::with_capacity(LOAD_CHUNK);
        while chunk.len() < LOAD_CHUNK
            && let Some(row) = rows.try_next().await?
        {
            let (text, position) = decode(&row, kind)?;
            last = position.or(last);
            chunk.push(text);
        }
        if chunk.is_empty() {
            return Ok((index, last));
        }
        index = tokio::task::spawn_blocking(move || {
            index.extend(chunk.into_iter().map(|row| (row.key, row.text, row.attr)));
            index
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("building a text index failed: {e}")))?;
    }
}

/// The streamed rows, decoded, and (for messages) the last one's position.
async fn collect_rows(mut rows: RowStream<'_>, kind: Kind) -> Result<(Vec<NewText>, Option<i64>), StoreError> {
    let mut collected = Vec::new();
    let mut last = None;
    while let Some(row) = rows.try_next().await? {
        let (text, position) = decode(&row, kind)?;
        last = position.or(last);
        collected.push(text);
    }
    Ok((collected, last))
}

type RowStream<'c> = futures::stream::BoxStream<'c, Result<SqliteRow, sqlx::Error>>;

/// A loaded row: its key, text and filter attributes, and (messages) its position.
fn decode(row: &SqliteRow, kind: Kind) -> Result<(NewText, Option<i64>), StoreError> {
    let (role, position) = match kind {
        Kind::Passages => (0, None),
        Kind::Messages => (
            row.try_get::<i64, _>("role").map_err(|e| rows::corrupt("role", e))?,
            Some(row.try_get::<i64, _>("position").map_err(|e| rows::corrupt("position", e))?),
        ),
    };
    let text = NewText {
        key: row.try_get("pk").map_err(|e| rows::corrupt("pk", e))?,
        text: row.try_get("text").map_err(|e| rows::corrupt("text", e))?,
        attr: RowAttr {
            time: row.try_get("created_at").map_err(|e| rows::corrupt("created_at", e))?,
            role: u8::try_from(role).unwrap_or(0),
        },
    };
    Ok((text, position))
}
