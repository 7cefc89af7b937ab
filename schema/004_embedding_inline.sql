-- 004: keep embeddings inline (STORAGE MAIN) instead of in TOAST. A
-- 1536-d vector (6 KB) fits in a heap page, and an exact per-user search
-- reads every one of the user's vectors: out of line, each costs a TOAST
-- index lookup and extra pages. PostgreSQL still moves a value out of line
-- when a row would not fit a page. Rows written before this keep their
-- storage until they are next written.
ALTER TABLE mem0_memories ALTER COLUMN embedding SET STORAGE MAIN;
