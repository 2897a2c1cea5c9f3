-- Full-text search now ranks with per-agent BM25 indexes held in memory and built from these tables on an agent's
-- first search (engram-store `sqlite/text_cache.rs`), so the FTS5 indexes shared by every agent, and the triggers
-- that fed them on every write, go. Dropping them frees their pages for reuse; nothing else reads them.

DROP TRIGGER IF EXISTS passages_fts_insert;
DROP TRIGGER IF EXISTS passages_fts_delete;
DROP TRIGGER IF EXISTS passages_fts_update;
DROP TABLE IF EXISTS passages_fts;

DROP TRIGGER IF EXISTS messages_fts_insert;
DROP TRIGGER IF EXISTS messages_fts_delete;
DROP TRIGGER IF EXISTS messages_fts_update;
DROP TABLE IF EXISTS messages_fts;
