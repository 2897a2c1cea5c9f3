-- engram's PostgreSQL schema: the SQLite schema (migrations/0001–0004) in PostgreSQL's terms, as one migration.
-- Same tables, columns and meanings; the differences are PostgreSQL's own:
-- - timestamps are `timestamptz` (microsecond precision, like SQLite's integer micros);
-- - ids are text with the "C" collation, so they compare byte by byte (ULIDs sort by creation) whatever the
--   database's locale, and keyset pagination (`id > cursor`) agrees with the index order;
-- - tags and tool names are `text[]` (order and duplicates kept as given, GIN-indexed for filters); metadata,
--   tool calls and run input are `json`, which keeps the text exactly as written (key order included);
-- - full-text search is a generated `tsvector` column with a GIN index, using `engram_english`: English
--   (Snowball) stemming like SQLite's porter tokenizer, without a stop-word list (SQLite's FTS5 has none);
-- - an agent block's attachment order is an identity column (SQLite used the implicit rowid), and so is a step's
--   recording order;
-- - embeddings are `vector` (pgvector) when the extension can be created, else `bytea` (little-endian f32, exactly
--   as in SQLite). `embedding_dim` is stored for messages too, so the dimension is known without reading vectors.
-- Every table carries org_id (directly, or through its agent) and every query filters on it.

CREATE TEXT SEARCH DICTIONARY engram_english_stem (TEMPLATE = snowball, LANGUAGE = english);
CREATE TEXT SEARCH CONFIGURATION engram_english (COPY = english);
ALTER TEXT SEARCH CONFIGURATION engram_english
    ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH engram_english_stem;

-- One row per organisation that has written anything; `audit_seq` is the last audit sequence number handed out.
-- Every audited write locks its organisation's row first and takes `audit_seq + 1` per event, so `seq` stays
-- gap-free per organisation with writers in any number of processes (a rolled-back write takes none).
CREATE TABLE orgs (
    id          text COLLATE "C" PRIMARY KEY,
    audit_seq   bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL
);

CREATE TABLE agents (
    id              text COLLATE "C" PRIMARY KEY,
    org_id          text COLLATE "C" NOT NULL,
    name            text NOT NULL,
    system          text NOT NULL,
    model           text,
    embedding       text NOT NULL,
    context_window  bigint NOT NULL,
    tools           text[] NOT NULL DEFAULT '{}',
    tags            text[] NOT NULL DEFAULT '{}',
    metadata        json NOT NULL DEFAULT '{}',
    version         bigint NOT NULL,
    salt            bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX agents_org_id ON agents (org_id, id);
CREATE INDEX agents_org_name ON agents (org_id, name);
CREATE INDEX agents_tags ON agents USING gin (tags);

-- `owner_agent_id` is the agent a block was created with (NULL for standalone blocks); deleting that agent deletes
-- the block unless another agent still uses it. Deliberately not a foreign key: the block may outlive it.
CREATE TABLE blocks (
    id              text COLLATE "C" PRIMARY KEY,
    org_id          text COLLATE "C" NOT NULL,
    label           text NOT NULL,
    value           text NOT NULL,
    char_limit      bigint NOT NULL,
    description     text,
    read_only       boolean NOT NULL DEFAULT false,
    version         bigint NOT NULL,
    standalone      boolean NOT NULL DEFAULT false,
    owner_agent_id  text COLLATE "C",
    salt            bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX blocks_org_id ON blocks (org_id, id);

-- Which agent sees which block under which label. `position` orders an agent's blocks; `attached` orders a block's
-- agents (attachment order).
CREATE TABLE agent_blocks (
    agent_id    text COLLATE "C" NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    block_id    text COLLATE "C" NOT NULL REFERENCES blocks (id) ON DELETE CASCADE,
    label       text NOT NULL,
    position    bigint NOT NULL,
    attached    bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (agent_id, block_id),
    UNIQUE (agent_id, label)
);
CREATE INDEX agent_blocks_block ON agent_blocks (block_id, attached);

CREATE TABLE passages (
    pk               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               text COLLATE "C" NOT NULL UNIQUE,
    org_id           text COLLATE "C" NOT NULL,
    agent_id         text COLLATE "C" NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    text             text NOT NULL,
    tags             text[] NOT NULL DEFAULT '{}',
    metadata         json NOT NULL DEFAULT '{}',
    salt             bytea NOT NULL,
    embedding_model  text COLLATE "C",
    embedding_dim    bigint,
    created_at       timestamptz NOT NULL,
    search           tsvector GENERATED ALWAYS AS (to_tsvector('engram_english', text)) STORED
);
CREATE INDEX passages_agent ON passages (agent_id, id);
CREATE INDEX passages_agent_time ON passages (agent_id, created_at);
CREATE INDEX passages_search ON passages USING gin (search);
CREATE INDEX passages_tags ON passages USING gin (tags);
-- Which models an agent's vectors were made with, found by seeks; also counts an agent's vectors.
CREATE INDEX passages_embedding_model ON passages (agent_id, embedding_model, embedding_dim)
    WHERE embedding_model IS NOT NULL;
-- Rows still waiting for an embedding.
CREATE INDEX passages_unembedded ON passages (pk) WHERE embedding_model IS NULL;

-- `position` is gap-free per agent, starting at 1. Only the first 200,000 characters of a message are indexed for
-- full-text search: a tsvector holds at most 1 MB.
CREATE TABLE messages (
    pk               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               text COLLATE "C" NOT NULL UNIQUE,
    org_id           text COLLATE "C" NOT NULL,
    agent_id         text COLLATE "C" NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    position         bigint NOT NULL,
    run_id           text COLLATE "C",
    step_id          text COLLATE "C",
    role             text NOT NULL,
    content          text NOT NULL,
    reasoning        text,
    tool_calls       json NOT NULL DEFAULT '[]',
    tool_call_id     text,
    tool_status      text,
    in_context       boolean NOT NULL,
    salt             bytea NOT NULL,
    embedding_model  text COLLATE "C",
    embedding_dim    bigint,
    created_at       timestamptz NOT NULL,
    search           tsvector GENERATED ALWAYS AS (to_tsvector('engram_english', left(content, 200000))) STORED,
    UNIQUE (agent_id, position)
);
CREATE INDEX messages_org_agent ON messages (org_id, agent_id, position);
CREATE INDEX messages_search ON messages USING gin (search);
CREATE INDEX messages_embedding_model ON messages (agent_id, embedding_model, embedding_dim)
    WHERE embedding_model IS NOT NULL;
CREATE INDEX messages_unembedded ON messages (pk) WHERE embedding_model IS NULL AND content <> '';

-- Embeddings: pgvector when it can be had, else bytea searched exactly by engram. The HNSW indexes are partial
-- expression indexes, one per common dimension (pgvector indexes one dimension per index; agents may use different
-- models): a query uses one when it orders by the same expression and filters on the same dimension.
DO $$
DECLARE
    dim integer;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS vector;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'pgvector is not available (%): embeddings are stored as bytea and searched exactly by engram',
            SQLERRM;
    END;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
        EXECUTE 'ALTER TABLE passages ADD COLUMN embedding vector';
        EXECUTE 'ALTER TABLE messages ADD COLUMN embedding vector';
        FOREACH dim IN ARRAY ARRAY[384, 768, 1024, 1536] LOOP
            EXECUTE format('CREATE INDEX passages_embedding_%s ON passages USING hnsw ((embedding::vector(%s)) '
                           'vector_cosine_ops) WHERE embedding_dim = %s', dim, dim, dim);
            EXECUTE format('CREATE INDEX messages_embedding_%s ON messages USING hnsw ((embedding::vector(%s)) '
                           'vector_cosine_ops) WHERE embedding_dim = %s', dim, dim, dim);
        END LOOP;
    ELSE
        EXECUTE 'ALTER TABLE passages ADD COLUMN embedding bytea';
        EXECUTE 'ALTER TABLE messages ADD COLUMN embedding bytea';
    END IF;
END
$$;

-- The audit log: append-only, gap-free `seq` per organisation. Content appears only as salted commitments.
CREATE TABLE audit_events (
    org_id          text COLLATE "C" NOT NULL,
    seq             bigint NOT NULL,
    at              timestamptz NOT NULL,
    actor_kind      text NOT NULL,
    actor_id        text NOT NULL,
    action          text NOT NULL,
    target_kind     text NOT NULL,
    target_id       text NOT NULL,
    agent_id        text COLLATE "C",
    run_id          text,
    step_id         text,
    request_id      text,
    before_version  bigint,
    before_hash     text,
    after_version   bigint,
    after_hash      text,
    PRIMARY KEY (org_id, seq)
);
CREATE INDEX audit_events_agent ON audit_events (org_id, agent_id, seq);

-- A reservation has status NULL; a completed request has its status and body.
CREATE TABLE idempotency_keys (
    org_id       text COLLATE "C" NOT NULL,
    key          text COLLATE "C" NOT NULL,
    fingerprint  text NOT NULL,
    status       bigint,
    body         bytea,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (org_id, key)
);

-- Runs of the agent loop and their steps. A run belongs to one agent (deleted with it); a step is one model call of
-- a run (deleted with the run).
CREATE TABLE runs (
    id                text COLLATE "C" PRIMARY KEY,
    org_id            text COLLATE "C" NOT NULL,
    agent_id          text COLLATE "C" NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    status            text NOT NULL,
    stop_reason       text,
    error             text,
    input             json NOT NULL DEFAULT 'null',
    cancel_requested  boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL,
    completed_at      timestamptz
);
CREATE INDEX runs_status_time ON runs (status, created_at, id);
CREATE INDEX runs_org_agent ON runs (org_id, agent_id);

CREATE TABLE steps (
    seq                bigint GENERATED ALWAYS AS IDENTITY,
    id                 text COLLATE "C" PRIMARY KEY,
    run_id             text COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    org_id             text COLLATE "C" NOT NULL,
    model              text NOT NULL,
    prompt_tokens      bigint NOT NULL,
    completion_tokens  bigint NOT NULL,
    duration_ms        bigint NOT NULL,
    created_at         timestamptz NOT NULL
);
CREATE INDEX steps_run ON steps (run_id, seq);
