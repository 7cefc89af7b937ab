-- 002: bring the chat app's mem0 tables (or 001's) to what memworker needs,
-- keeping every row.
--
--  * embedding stored as JSONB (the chat app's migration for servers without
--    pgvector) becomes vector(N); a vector column of another dimension than
--    MEM0_EMBEDDING_DIMS is refused rather than mixed.
--  * hash (md5 of the memory text) with a per-user unique index: exact
--    duplicates never reach the table twice.
--  * history survives the deletion of its memory: the cascade FK from
--    mem0_history to mem0_memories is dropped (Citus co-location wants no
--    such FK either). FKs to the chat app's users table stay.
--  * the IVFFlat index the chat app built on an empty table is dropped: its
--    lists were trained on nothing. Per-user exact kNN goes through a B-tree
--    on user_id; an HNSW index is managed separately (MEM0_HNSW).
--  * the ingest log makes every message apply at most once per user.
--  * metadata counts kept by triggers (the chat app's, made idempotent).

DO $$
DECLARE
	want integer := current_setting('memworker.embedding_dims')::integer;
	col_type text;
	col_dims integer;
BEGIN
	SELECT format_type(a.atttypid, a.atttypmod), a.atttypmod
	  INTO col_type, col_dims
	  FROM pg_attribute a
	 WHERE a.attrelid = 'mem0_memories'::regclass AND a.attname = 'embedding' AND NOT a.attisdropped;

	IF col_type IS NULL THEN
		EXECUTE format('ALTER TABLE mem0_memories ADD COLUMN embedding vector(%s)', want);
	ELSIF col_type = 'jsonb' THEN
		IF EXISTS (SELECT 1 FROM mem0_memories
			    WHERE embedding IS NOT NULL
			      AND (jsonb_typeof(embedding) <> 'array' OR jsonb_array_length(embedding) <> want)) THEN
			RAISE EXCEPTION 'mem0_memories.embedding holds JSONB arrays whose length is not MEM0_EMBEDDING_DIMS=%', want
				USING HINT = 'set MEM0_EMBEDDING_DIMS to the dimension of the stored embeddings';
		END IF;
		EXECUTE format('ALTER TABLE mem0_memories ALTER COLUMN embedding TYPE vector(%s) USING (embedding::text)::vector(%s)',
			       want, want);
	ELSIF col_type LIKE 'vector%' THEN
		IF col_dims <> want THEN
			RAISE EXCEPTION 'mem0_memories.embedding is %, but MEM0_EMBEDDING_DIMS=%', col_type, want
				USING HINT = 'one table holds one dimension: use the dimension of the stored embeddings or a new database';
		END IF;
	ELSE
		RAISE EXCEPTION 'mem0_memories.embedding has unexpected type %', col_type;
	END IF;
END
$$;

-- JSONB metadata defaults that older rows may lack.
UPDATE mem0_memories SET metadata = '{}' WHERE metadata IS NULL;

ALTER TABLE mem0_memories ADD COLUMN IF NOT EXISTS hash TEXT;
UPDATE mem0_memories SET hash = md5(memory) WHERE hash IS NULL;
-- Rows the chat app stored twice keep their text; all but the oldest get a
-- hash of their own so the unique index can be built.
UPDATE mem0_memories m SET hash = m.hash || ':' || m.id::text
  FROM (SELECT id, row_number() OVER (PARTITION BY user_id, hash ORDER BY created_at, id) AS rn
	  FROM mem0_memories) d
 WHERE d.id = m.id AND d.rn > 1;
ALTER TABLE mem0_memories ALTER COLUMN hash SET NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS mem0_memories_user_hash_key ON mem0_memories (user_id, hash);

DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT conname FROM pg_constraint
		  WHERE conrelid = 'mem0_history'::regclass AND confrelid = 'mem0_memories'::regclass AND contype = 'f'
	LOOP
		EXECUTE format('ALTER TABLE mem0_history DROP CONSTRAINT %I', r.conname);
	END LOOP;
	FOR r IN SELECT ic.relname FROM pg_index i
		   JOIN pg_class ic ON ic.oid = i.indexrelid
		   JOIN pg_am am ON am.oid = ic.relam
		  WHERE i.indrelid = 'mem0_memories'::regclass AND am.amname = 'ivfflat'
	LOOP
		EXECUTE format('DROP INDEX %I', r.relname);
	END LOOP;
END
$$;

CREATE INDEX IF NOT EXISTS mem0_memories_user_session_idx ON mem0_memories (user_id, session_id);
CREATE INDEX IF NOT EXISTS mem0_memories_user_created_idx ON mem0_memories (user_id, created_at);
CREATE INDEX IF NOT EXISTS mem0_history_user_memory_idx ON mem0_history (user_id, memory_id, id);

CREATE TABLE IF NOT EXISTS mem0_ingest_log (
	user_id INTEGER NOT NULL,
	message_key TEXT NOT NULL,
	stream_id TEXT,
	applied_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
	PRIMARY KEY (user_id, message_key)
);

-- Counts: +1 on insert, -1 (never below 0) on delete, per collection and user.
CREATE OR REPLACE FUNCTION update_mem0_metadata_count() RETURNS TRIGGER AS $fn$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO mem0_metadata (user_id, total_memories, last_memory_at)
		VALUES (NEW.user_id, 1, CURRENT_TIMESTAMP)
		ON CONFLICT (collection_name, user_id)
		DO UPDATE SET total_memories = mem0_metadata.total_memories + 1,
			      last_memory_at = CURRENT_TIMESTAMP,
			      updated_at = CURRENT_TIMESTAMP;
	ELSIF TG_OP = 'DELETE' THEN
		UPDATE mem0_metadata
		   SET total_memories = GREATEST(0, total_memories - 1), updated_at = CURRENT_TIMESTAMP
		 WHERE user_id = OLD.user_id AND collection_name = 'chatsg_memories';
	END IF;
	RETURN NULL;
END
$fn$ LANGUAGE plpgsql;

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'mem0_memories'::regclass
			 AND tgname = 'update_mem0_metadata_on_memory_change') THEN
		CREATE TRIGGER update_mem0_metadata_on_memory_change
			AFTER INSERT OR DELETE ON mem0_memories
			FOR EACH ROW EXECUTE FUNCTION update_mem0_metadata_count();
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'mem0_memories'::regclass
			 AND tgname = 'update_mem0_memories_updated_at') THEN
		CREATE TRIGGER update_mem0_memories_updated_at
			BEFORE UPDATE ON mem0_memories
			FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'mem0_metadata'::regclass
			 AND tgname = 'update_mem0_metadata_updated_at') THEN
		CREATE TRIGGER update_mem0_metadata_updated_at
			BEFORE UPDATE ON mem0_metadata
			FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
	END IF;
END
$$;

-- Counts made true once, for databases whose rows predate the trigger.
INSERT INTO mem0_metadata (user_id, total_memories, last_memory_at)
SELECT user_id, count(*), max(created_at) FROM mem0_memories GROUP BY user_id
ON CONFLICT (collection_name, user_id)
DO UPDATE SET total_memories = EXCLUDED.total_memories, last_memory_at = EXCLUDED.last_memory_at;
