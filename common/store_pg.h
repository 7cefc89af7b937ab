/*
 * store_pg: the PostgreSQL + pgvector store backend (see store.h), on a
 * small set of pgconn connections driven by the caller's event loop. A
 * user's operations always go to the same connection (user id modulo the
 * pool size), so they run in submission order.
 */
#ifndef MW_STORE_PG_H
#define MW_STORE_PG_H

#include <stdbool.h>

struct event_base;
struct store;

struct store *store_pg_new(struct event_base *base, const char *conninfo, int dims, int nconns);

/* Named prepared statements for the hot queries (default on; see pgconn.h). */
void store_pg_set_prepare(struct store *s, bool on);
/* A statement run first on every new session of every connection (pgconn_set_session). */
void store_pg_set_session(struct store *s, const char *sql);
/* hnsw.ef_search of HNSW searches (default STORE_PG_EF_SEARCH_DEFAULT). */
void store_pg_set_ef_search(struct store *s, int ef_search);

/* ---- internal to store_pg*.c: shared by the ingest and read-path halves ---- */
#include "store.h"

#include <libpq-fe.h>
#include <stdint.h>

struct pgconn;

/* One operation in flight: the caller's callback and what the completion needs. */
struct pg_op {
	struct store *s;
	void (*cb)(void);		/* the caller's store_*_cb, cast back on completion */
	void *arg;
	int n;				/* keys (filter) or changes (apply) */
	enum store_change_kind *kinds;	/* apply: kind of change i */
};
struct pg_op *store_pg_op_new(struct store *s, void (*cb)(void), void *arg);
void store_pg_op_free(struct pg_op *op);

/* pgconn callback turning the last statement's rows into store_memory for a store_mems_cb op. */
void store_pg_mems_done(void *arg, bool ok, PGresult *const *res, int n, const char *errstr, const char *sqlstate);

/*
 * Columns of every memory query, in this order: id, memory, hash,
 * session_id, metadata, created_at, updated_at (then score, if any).
 */
#define STORE_PG_MEM_COLS                                                                             \
	"id::text, memory, hash, session_id, COALESCE(metadata, '{}')::text, " STORE_PG_TS("created_at") \
	", " STORE_PG_TS("updated_at")

/* Read path (store_pg_read.c). */
int store_pg_search(struct store *s, const struct store_search *q, store_mems_cb cb, void *arg);
int store_pg_get(struct store *s, int64_t user, const char *memory_id, store_mems_cb cb, void *arg);
int store_pg_get_all(struct store *s, int64_t user, const char *session_id, int limit, int offset, store_mems_cb cb,
		     void *arg);
int store_pg_history(struct store *s, int64_t user, const char *memory_id, store_history_cb cb, void *arg);
int store_pg_delete(struct store *s, int64_t user, const char *memory_id, const char *history_meta,
		    store_count_cb cb, void *arg);
int store_pg_delete_all(struct store *s, int64_t user, bool purge, const char *history_meta, store_count_cb cb,
			void *arg);
int store_pg_stats(struct store *s, int64_t user, store_stats_cb cb, void *arg);

struct pgconn *store_pg_conn_for(struct store *s, long long user);

/* The read path's list of HNSW users (store_pg_read.c makes it), kept by the store. */
struct store_pg_hnsw_users;
struct store_pg_hnsw_users **store_pg_hnsw_users_slot(struct store *s);
int store_pg_ef_search(struct store *s);
/* Before the connections close: searches waiting for the list fail ("shutting down"). */
void store_pg_read_close(struct store *s);
/* After they closed. */
void store_pg_read_free(struct store *s);
/* Maps a failed job's SQLSTATE to a store status. */
int store_pg_status(const char *sqlstate);
/* A PostgreSQL text[] literal for keys ("{\"a\",\"b\"}"): caller frees. */
char *store_pg_text_array(const char *const *items, int n);
/* Timestamp column as RFC 3339 UTC in SQL. */
#define STORE_PG_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#endif
