-- engram's initial SQLite schema: organisations (audit sequence), agents, blocks and their attachments, passages
-- with tags and full-text index, messages with full-text index, audit events, idempotency keys.
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC). Ids are the prefixed text form (`agent_01J…`),
-- which sorts by creation time. Every table carries org_id and every query filters on it.

-- One row per organisation that has written anything; `audit_seq` is the last audit sequence number handed out.
CREATE TABLE orgs (
    id          TEXT PRIMARY KEY NOT NULL,
    audit_seq   INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

CREATE TABLE agents (
    id              TEXT PRIMARY KEY NOT NULL,
    org_id          TEXT NOT NULL,
    name            TEXT NOT NULL,
    system          TEXT NOT NULL,
    model           TEXT,
    embedding       TEXT NOT NULL,
    context_window  INTEGER NOT NULL,
    tools           TEXT NOT NULL DEFAULT '[]',  -- JSON array of tool names
    tags            TEXT NOT NULL DEFAULT '[]',  -- JSON array of tags
    metadata        TEXT NOT NULL DEFAULT '{}',  -- JSON object
    version         INTEGER NOT NULL,
    salt            BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX agents_org_id ON agents (org_id, id);
CREATE INDEX agents_org_name ON agents (org_id, name);

-- `owner_agent_id` is the agent a block was created with (NULL for standalone blocks); deleting that agent deletes
-- the block unless another agent still uses it. It is deliberately not a foreign key: the block may outlive it.
CREATE TABLE blocks (
    id              TEXT PRIMARY KEY NOT NULL,
    org_id          TEXT NOT NULL,
    label           TEXT NOT NULL,
    value           TEXT NOT NULL,
    char_limit      INTEGER NOT NULL,
    description     TEXT,
    read_only       INTEGER NOT NULL DEFAULT 0,
    version         INTEGER NOT NULL,
    standalone      INTEGER NOT NULL DEFAULT 0,
    owner_agent_id  TEXT,
    salt            BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX blocks_org_id ON blocks (org_id, id);

-- Which agent sees which block under which label. `position` orders an agent's blocks; the implicit rowid orders a
-- block's agents (attachment order).
CREATE TABLE agent_blocks (
    agent_id    TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    block_id    TEXT NOT NULL REFERENCES blocks (id) ON DELETE CASCADE,
    label       TEXT NOT NULL,
    position    INTEGER NOT NULL,
    PRIMARY KEY (agent_id, block_id),
    UNIQUE (agent_id, label)
);
CREATE INDEX agent_blocks_block ON agent_blocks (block_id);

-- `pk` is an explicit INTEGER PRIMARY KEY so that the full-text index's rowids survive VACUUM.
CREATE TABLE passages (
    pk               INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    org_id           TEXT NOT NULL,
    agent_id         TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    text             TEXT NOT NULL,
    tags             TEXT NOT NULL DEFAULT '[]',  -- JSON array, in the order given
    metadata         TEXT NOT NULL DEFAULT '{}',
    salt             BLOB NOT NULL,
    embedding        BLOB,                        -- little-endian f32 values
    embedding_model  TEXT,
    embedding_dim    INTEGER,
    created_at       INTEGER NOT NULL
);
CREATE INDEX passages_agent ON passages (org_id, agent_id, id);
CREATE INDEX passages_agent_time ON passages (agent_id, created_at);

-- One row per (passage, tag), for tag filters.
CREATE TABLE passage_tags (
    passage_pk  INTEGER NOT NULL REFERENCES passages (pk) ON DELETE CASCADE,
    agent_id    TEXT NOT NULL,
    tag         TEXT NOT NULL,
    PRIMARY KEY (passage_pk, tag)
);
CREATE INDEX passage_tags_agent_tag ON passage_tags (agent_id, tag);

CREATE VIRTUAL TABLE passages_fts USING fts5 (
    text,
    content = 'passages',
    content_rowid = 'pk',
    tokenize = 'porter unicode61'
);
CREATE TRIGGER passages_fts_insert AFTER INSERT ON passages BEGIN
    INSERT INTO passages_fts (rowid, text) VALUES (new.pk, new.text);
END;
CREATE TRIGGER passages_fts_delete AFTER DELETE ON passages BEGIN
    INSERT INTO passages_fts (passages_fts, rowid, text) VALUES ('delete', old.pk, old.text);
END;
CREATE TRIGGER passages_fts_update AFTER UPDATE OF text ON passages BEGIN
    INSERT INTO passages_fts (passages_fts, rowid, text) VALUES ('delete', old.pk, old.text);
    INSERT INTO passages_fts (rowid, text) VALUES (new.pk, new.text);
END;

-- `position` is gap-free per agent, starting at 1.
CREATE TABLE messages (
    pk            INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    org_id        TEXT NOT NULL,
    agent_id      TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    run_id        TEXT,
    step_id       TEXT,
    role          TEXT NOT NULL,
    content       TEXT NOT NULL,
    reasoning     TEXT,
    tool_calls    TEXT NOT NULL DEFAULT '[]',  -- JSON array of {id, name, arguments}
    tool_call_id  TEXT,
    tool_status   TEXT,
    in_context    INTEGER NOT NULL,
    salt          BLOB NOT NULL,
    embedding     BLOB,
    created_at    INTEGER NOT NULL,
    UNIQUE (agent_id, position)
);
CREATE INDEX messages_org_agent ON messages (org_id, agent_id, position);

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    content,
    content = 'messages',
    content_rowid = 'pk',
    tokenize = 'porter unicode61'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, content) VALUES (new.pk, new.content);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.pk, old.content);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.pk, old.content);
    INSERT INTO messages_fts (rowid, content) VALUES (new.pk, new.content);
END;

-- The audit log: append-only, gap-free `seq` per organisation. Content appears only as salted commitments.
CREATE TABLE audit_events (
    org_id          TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    at              INTEGER NOT NULL,
    actor_kind      TEXT NOT NULL,
    actor_id        TEXT NOT NULL,
    action          TEXT NOT NULL,
    target_kind     TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    agent_id        TEXT,
    run_id          TEXT,
    step_id         TEXT,
    request_id      TEXT,
    before_version  INTEGER,
    before_hash     TEXT,
    after_version   INTEGER,
    after_hash      TEXT,
    PRIMARY KEY (org_id, seq)
) WITHOUT ROWID;
CREATE INDEX audit_events_agent ON audit_events (org_id, agent_id, seq);

-- A reservation has status NULL; a completed request has its status and body.
CREATE TABLE idempotency_keys (
    org_id       TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       INTEGER,
    body         BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (org_id, key)
) WITHOUT ROWID;
