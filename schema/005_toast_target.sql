-- 005: keep whole rows in the heap page (toast_tuple_target at its
-- maximum). With the vector inline (004) a row is always over the default
-- 2 KB target, so PostgreSQL moved every other column over ~20 bytes
-- (memory, hash, metadata) to TOAST: three TOAST lookups for each row a
-- search returns, and three TOAST rows written for each memory. A row now
-- goes out of line only when it would not fit a page. Rows written before
-- this keep their storage until they are next written.
ALTER TABLE mem0_memories SET (toast_tuple_target = 8160);
