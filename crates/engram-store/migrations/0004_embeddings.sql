-- Embeddings for recall memory, and the indexes the embedding backfill and the model checks use.
-- A message's vector is stored like a passage's: little-endian f32 values, with the model that made them (the
-- dimension is the blob's length / 4).
ALTER TABLE messages ADD COLUMN embedding_model TEXT;

-- Rows still waiting for an embedding (passages inserted while no model could be loaded; every message, which the
-- background indexer embeds after it is written). Messages without text have nothing to embed.
CREATE INDEX passages_unembedded ON passages (pk) WHERE embedding IS NULL;
CREATE INDEX messages_unembedded ON messages (pk) WHERE embedding IS NULL AND content <> '';

-- Which models an agent's vectors were made with: one row per agent and model, found without a scan.
CREATE INDEX passages_embedding_model ON passages (agent_id, embedding_model) WHERE embedding IS NOT NULL;
CREATE INDEX messages_embedding_model ON messages (agent_id, embedding_model) WHERE embedding IS NOT NULL;
