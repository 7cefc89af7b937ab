-- 001: the chat app's mem0 tables, created only where they are missing.
--
-- A database where the chat app's 002_create_mem0_tables.sql (or its
-- _safe variant with a JSONB embedding) already ran keeps its tables as they
-- are here; 002 upgrades them. The embedding dimension comes from the
-- transaction-local setting memworker.embedding_dims (MEM0_EMBEDDING_DIMS),
-- set by memctl migrate through a bound parameter.
CREATE EXTENSION IF NOT EXISTS vector;

DO $$
BEGIN
	IF to_regclass('mem0_memories') IS NULL THEN
		EXECUTE format($f$
			CREATE TABLE mem0_memories (
				id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
				user_id INTEGER NOT NULL,
				session_id VARCHAR(255) NOT NULL,
				memory TEXT NOT NULL,
				embedding vector(%s),
				metadata JSONB DEFAULT '{}',
				created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
				updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
			)$f$, current_setting('memworker.embedding_dims')::integer);
	END IF;
END
$$;

CREATE TABLE IF NOT EXISTS mem0_history (
	id SERIAL PRIMARY KEY,
	memory_id UUID NOT NULL,
	user_id INTEGER NOT NULL,
	action VARCHAR(50) NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
	previous_content TEXT,
	new_content TEXT,
	metadata JSONB,
	created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS mem0_metadata (
	id SERIAL PRIMARY KEY,
	collection_name VARCHAR(255) NOT NULL DEFAULT 'chatsg_memories',
	user_id INTEGER NOT NULL,
	total_memories INTEGER DEFAULT 0,
	last_memory_at TIMESTAMPTZ,
	metadata JSONB DEFAULT '{}',
	created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
	updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
	UNIQUE (collection_name, user_id)
);

-- The chat app's updated_at function, where the chat app has not made it.
DO $$
BEGIN
	IF to_regprocedure('update_updated_at_column()') IS NULL THEN
		CREATE FUNCTION update_updated_at_column() RETURNS TRIGGER AS $fn$
		BEGIN
			NEW.updated_at = CURRENT_TIMESTAMP;
			RETURN NEW;
		END
		$fn$ LANGUAGE plpgsql;
	END IF;
END
$$;
