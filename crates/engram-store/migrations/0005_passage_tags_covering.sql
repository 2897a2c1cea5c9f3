-- The tag filter of a vector search reads the keys of an agent's passages holding some tags: a covering index
-- answers it from the index alone (the old one needed a table lookup per row, ~10 ms for 10k rows).
CREATE INDEX passage_tags_agent_tag_pk ON passage_tags (agent_id, tag, passage_pk);
DROP INDEX passage_tags_agent_tag;
