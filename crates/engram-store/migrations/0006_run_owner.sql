-- Which engram process owns a run (runs it now, or will when the agent is free): the `instance` key of that
-- process. NULL for a queued run any process may claim. A `running` or owned `queued` run whose owner is no longer
-- alive was interrupted by a crash or a stop and is recovered by the next process that looks.

ALTER TABLE runs ADD COLUMN owner INTEGER;
-- The queue: the oldest unowned queued runs first, and the unfinished runs of one agent.
CREATE INDEX runs_agent_status ON runs (agent_id, status, created_at);
