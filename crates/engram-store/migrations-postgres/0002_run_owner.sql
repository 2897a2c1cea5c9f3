-- Which engram process owns a run (runs it now, or will when the agent is free): the `instance` key of that
-- process, which holds the session advisory lock (1, owner) while it lives. NULL for a queued run any process may
-- claim. A `running` or owned `queued` run whose owner holds no such lock was interrupted by a crash or a stop and
-- is recovered by the next process that looks.

ALTER TABLE runs ADD COLUMN owner integer;
-- The queue: the unfinished runs of one agent, oldest first.
CREATE INDEX runs_agent_status ON runs (agent_id, status, created_at, id);
