/*
 * store_sqlite: the SQLite store backend (MEM0_PROVIDER=memory, and what
 * MEM0_PROVIDER=auto falls back to). One file holds what PostgreSQL holds
 * in four tables of the same names and columns: mem0_memories (embeddings
 * as little-endian float32 BLOBs, ids as UUID text, timestamps as RFC 3339
 * UTC text with microseconds), mem0_history, mem0_metadata (counts kept by
 * triggers) and mem0_ingest_log. Same exactly-once rules as store_pg.c;
 * search is an exact per-user cosine scan computed in C.
 *
 * Several processes may share the file (N workers, memsearch, memctl): WAL
 * lets readers run beside the one writer, and every write is a BEGIN
 * IMMEDIATE transaction, which serialises writers across processes as the
 * advisory lock does on PostgreSQL.
 */
#ifndef MW_STORE_SQLITE_H
#define MW_STORE_SQLITE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct store;

/* Version of the file's schema (PRAGMA user_version) this build writes. */
#define STORE_SQLITE_SCHEMA_VERSION 1
/* How long a statement waits for another process's write lock. */
#define STORE_SQLITE_BUSY_MS 5000

/*
 * The store on the file at path (created with its schema if missing), for
 * dims-dimension embeddings; a file made for another dimension is refused.
 * fallback_reason: NULL, or why MEM0_PROVIDER=auto chose this store (kept
 * for store_fallback_reason). Blocking (it opens the file); call it before
 * the loop runs. NULL with one line in err on failure.
 */
struct store *store_sqlite_new(struct event_base *base, const char *path, int dims, const char *fallback_reason,
                               char *err, size_t errlen);

/*
 * Blocking helpers for memctl and tests: opens the store file at path
 * (WAL, busy timeout, synchronous=FULL), creating the file and its schema
 * when create is true, upgrading an older schema. dims > 0: the dimension
 * the file must hold (recorded when it is new); dims == 0: whatever the
 * file holds (an existing file only). NULL with one line in err.
 */
sqlite3 *store_sqlite_open_db(const char *path, int dims, bool create, char *err, size_t errlen);

/* The embedding dimension recorded in an open store file; 0 if none. */
int store_sqlite_file_dims(sqlite3 *db);

#endif
