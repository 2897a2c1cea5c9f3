-- Runs of the agent loop and their steps. A run belongs to one agent (deleted with it); a step is one model call of
-- a run (deleted with the run). Timestamps are INTEGER microseconds since the Unix epoch (UTC), like 0001.

CREATE TABLE runs (
    id                TEXT PRIMARY KEY NOT NULL,
    org_id            TEXT NOT NULL,
    agent_id          TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    status            TEXT NOT NULL,               -- queued, running, completed, failed, cancelled
    stop_reason       TEXT,
    error             TEXT,
    input             TEXT NOT NULL DEFAULT 'null', -- JSON, opaque to the store
    cancel_requested  INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    completed_at      INTEGER
);
CREATE INDEX runs_status_time ON runs (status, created_at);
CREATE INDEX runs_org_agent ON runs (org_id, agent_id);

CREATE TABLE steps (
    id                 TEXT PRIMARY KEY NOT NULL,
    run_id             TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    org_id             TEXT NOT NULL,
    model              TEXT NOT NULL,
    prompt_tokens      INTEGER NOT NULL,
    completion_tokens  INTEGER NOT NULL,
    duration_ms        INTEGER NOT NULL,
    created_at         INTEGER NOT NULL
);
CREATE INDEX steps_run ON steps (run_id);
